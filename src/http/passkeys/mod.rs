//! Passkeys on the person's pages: registering one from the account page
//! ([`account`]) and signing in with one alone ([`sign_in`]).
//!
//! A ceremony has two halves, each a same-origin `fetch` of JSON from
//! `static/passkeys.js` carrying the session's CSRF token: the first keeps
//! webauthn-rs's state in the database (`webauthn_ceremonies`, five minutes,
//! bound to the browser session) and returns the options for
//! `navigator.credentials`; the second spends that state by deleting it, so
//! a challenge is answered once, on whichever replica. Without a relying
//! party (an issuer whose host is an IP address) the pages offer no passkey
//! and these endpoints answer 404.

pub mod account;
pub mod sign_in;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::http::body::{MAX_JSON_BYTES, read_limited};
use crate::http::session::BrowserSession;
use crate::secrets::random_token;
use crate::state::AppState;
use crate::store::passkeys::Ceremony;

/// How long a ceremony waits for the authenticator.
const CEREMONY_TTL: i64 = 5 * 60;

/// A JSON answer, never cached.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A refusal the page shows as it is.
pub fn refused(status: StatusCode, why: &str) -> Response {
    json(status, &serde_json::json!({"error": why}))
}

/// The answer when passkeys are off (an issuer whose host is an IP address).
pub fn unavailable() -> Response {
    refused(StatusCode::NOT_FOUND, "Passkeys are not available here.")
}

/// The head and the JSON body of a request.
pub async fn read_json<T: DeserializeOwned>(
    request: Request,
) -> std::result::Result<(HeaderMap, T), Response> {
    let headers = request.headers().clone();
    let body = read_limited(request, MAX_JSON_BYTES)
        .await
        .map_err(|why| refused(StatusCode::BAD_REQUEST, &why))?;
    let parsed = serde_json::from_slice(&body)
        .map_err(|_| refused(StatusCode::BAD_REQUEST, "The request was malformed."))?;
    Ok((headers, parsed))
}

/// Keep a ceremony's `state` for `browser`; its id.
pub async fn keep(
    app: &AppState,
    browser: &BrowserSession,
    kind: &'static str,
    user_id: Option<String>,
    state: String,
) -> Result<String> {
    let id = random_token(24).map_err(Error::internal)?;
    let now = app.clock.now();
    let ceremony = Ceremony {
        id: id.clone(),
        session_hash: browser.id_hash.clone(),
        kind,
        user_id,
        state,
        expires_at: now + CEREMONY_TTL,
    };
    app.store.begin_ceremony(ceremony, now).await?;
    Ok(id)
}
