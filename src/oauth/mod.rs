//! Pure protocol rules: scopes, resources, redirect URIs, client metadata and
//! token claims. Nothing here touches HTTP, the database or the clock; callers
//! pass `now` and generated values in. Only [`crate::error`] is imported.

pub mod authorize;
pub mod catalog;
pub mod client;
pub mod code;
pub mod consent;
pub mod grant_scope;
pub mod metadata_document;
pub mod pkce;
pub mod rate_tier;
pub mod redirect_uri;
pub mod resource;
