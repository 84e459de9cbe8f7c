//! Tessera: a self-hosted OAuth 2.1 authorization server for MCP servers.
//!
//! Codemap (dependencies point down):
//! - [`cli`]: the `tessera` command line; [`server`] binds and serves.
//! - [`http`]: one module per endpoint; extract, call the layers below, answer.
//! - [`oauth`]: pure protocol rules (scopes, resources, redirect URIs, client
//!   metadata, claims). Imports nothing from the crate but [`error`].
//! - [`store`]: SQLite persistence, grouped by aggregate.
//! - [`keys`], [`secrets`], [`tokens`], [`clients`]: signing keys and JWKS,
//!   client secrets, minting access tokens, creating clients.
//! - [`config`], [`state`], [`clock`], [`error`]: the plumbing every layer shares.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        reason = "a failing test panics by design"
    )
)]

pub mod access_token;
pub mod audit;
pub mod cli;
pub mod clients;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod http;
pub mod keys;
pub mod limits;
pub mod metadata_documents;
pub mod oauth;
pub mod passwords;
pub mod secrets;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod users;

pub use state::AppState;

/// The whole HTTP application for `state`.
pub fn app(state: std::sync::Arc<AppState>) -> axum::Router {
    http::router(state)
}
