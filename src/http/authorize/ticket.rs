//! The validated authorization request, carried through the sign-in and
//! consent pages as a sealed ticket instead of a database row.
//!
//! The ticket is the request as JSON plus an expiry, with an HMAC over it and
//! the session's CSRF token: it cannot be altered, and it only opens in the
//! browser session it was issued to. Its content is not secret (it came from
//! the client's URL).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;

/// How long a person has to get through sign-in and consent.
const TICKET_TTL: i64 = 15 * 60;

#[derive(Serialize, Deserialize)]
struct Ticket {
    exp: i64,
    #[serde(flatten)]
    request: AuthorizationRequest,
}

fn mac_input(csrf: &str, payload: &str) -> String {
    format!("tessera-authorize-ticket\0{csrf}\0{payload}")
}

pub fn seal(app: &AppState, request: &AuthorizationRequest, csrf: &str) -> String {
    let ticket = Ticket {
        exp: app.clock.now() + TICKET_TTL,
        request: request.clone(),
    };
    let payload = B64.encode(serde_json::to_vec(&ticket).unwrap_or_default());
    let tag = B64.encode(app.hasher.hash(&mac_input(csrf, &payload)));
    format!("{payload}.{tag}")
}

/// Open a ticket for this session; `None` if altered, foreign or expired.
pub fn open(app: &AppState, sealed: &str, csrf: &str) -> Option<AuthorizationRequest> {
    let (payload, tag) = sealed.split_once('.')?;
    let tag = B64.decode(tag).ok()?;
    if !app.hasher.verify(&mac_input(csrf, payload), &tag) {
        return None;
    }
    let ticket: Ticket = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (ticket.exp > app.clock.now()).then_some(ticket.request)
}
