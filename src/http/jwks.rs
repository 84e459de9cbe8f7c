//! `GET /jwks.json` and `/.well-known/jwks.json`: the public signing keys
//! (RFC 7517 §5). Short caching lets resource servers pick up a new key soon.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::metadata::json_document;
use crate::state::AppState;

/// Matches [`crate::config::JWKS_MAX_AGE`]: new keys are published longer than this before they sign.
const JWKS_CACHE: &str = "public, max-age=300";

pub async fn jwks(State(app): State<Arc<AppState>>) -> Response {
    json_document(app.keys.ring().jwks.clone(), JWKS_CACHE)
}
