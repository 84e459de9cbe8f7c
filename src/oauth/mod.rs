//! The grant core: pure protocol rules and decisions. Nothing here touches
//! HTTP, the database, the runtime or the clock (a test reads the sources to
//! keep it so); callers pass `now` and generated values in, and act on what
//! comes back. It imports nothing of the crate but [`crate::error`], and the
//! rules it shares with resource servers from `tessera_resource` (the scope
//! grammar, canonical URIs).
//!
//! - [`authorize`]: the authorization request, validated in two stages.
//! - [`consent`]: what a person is asked, the next step of an authorization,
//!   what an answer grants.
//! - [`code`]: what redeeming a code must prove (PKCE, redirect binding).
//! - [`grant_scope`]: which scopes a token carries, per grant.
//! - [`resource`]: protected resources, audience selection and narrowing.
//! - [`rate_tier`]: the token endpoint's limit for a client.
//! - [`policy`]: which scopes a person may grant (groups and roles → scopes).
//! - [`pkce`], [`redirect_uri`], [`client`] (registration metadata) and
//!   [`client_fields`] (its caps and character rules),
//!   [`metadata_document`] (client ID metadata documents), [`catalog`] (the
//!   scope catalog).

pub mod authorize;
pub mod catalog;
pub mod client;
pub mod client_fields;
pub mod code;
pub mod consent;
pub mod grant_scope;
pub mod metadata_document;
pub mod pkce;
pub mod policy;
#[cfg(test)]
mod properties;
pub mod rate_tier;
pub mod redirect_uri;
pub mod resource;
