//! Tessera: a self-hosted OAuth 2.1 authorization server for MCP servers.
//!
//! Codemap, top to bottom (imports point down; ARCHITECTURE.md has the map
//! and the invariants, and `tests/api/architecture.rs` keeps them):
//! - [`cli`]: the `tessera` command line; [`server`] binds and serves.
//! - [`http`]: one module per endpoint; read the input, call the layers
//!   below, answer.
//! - [`state`]: what a request needs, built once, shared as `Arc<AppState>`.
//! - [`access_token`], [`audit`], [`clients`], [`users`], [`limits`],
//!   [`metadata_documents`], [`upstream`]: minting and checking tokens, the
//!   audit trail, creating clients and people (and what they may grant),
//!   rate limits, client ID metadata documents, upstream OpenID providers.
//! - [`config`], [`keys`], [`passwords`], [`secrets`], [`telemetry`]:
//!   configuration, signing keys, argon2, client secrets, logs and metrics.
//! - [`store`]: the persistence boundary (SQLite behind it).
//! - [`oauth`]: the grant core, pure protocol decisions; [`error`]: the
//!   protocol error type.
//!
//! What issuer and resource servers share (scopes, claims, the issuer
//! identifier, URIs, the limiter, the clock) lives in `tessera_resource`.

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
pub mod upstream;
pub mod users;

pub use state::AppState;

/// The whole HTTP application for `state`.
pub fn app(state: std::sync::Arc<AppState>) -> axum::Router {
    http::router(state)
}
