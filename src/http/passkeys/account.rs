//! Registering, naming and removing passkeys from the account page:
//! `POST /account/passkeys/start` and `/finish` (JSON, from the page's
//! script), `/rename` and `/remove` (forms). Each change is audited with the
//! person and the credential id, never key material.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::{json, keep, read_json, refused, unavailable};
use crate::error::{Error, Result};
use crate::http::account::{back_to_account, posted};
use crate::http::authorize::forms::or_error_page;
use crate::http::session::{self, BrowserSession};
use crate::state::AppState;
use crate::store::passkeys::StoredPasskey;

const KIND: &str = "register";

#[derive(Deserialize)]
pub struct Start {
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct Finish {
    csrf_token: String,
    ceremony: String,
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// The signed-in session whose token `csrf` is.
async fn signed_in(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    csrf: &str,
) -> std::result::Result<BrowserSession, Response> {
    let browser = match session::find(app, headers).await {
        Ok(Some(b)) if b.person().is_some() => b,
        Ok(_) => return Err(refused(StatusCode::UNAUTHORIZED, "Sign in again.")),
        Err(_) => {
            return Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Briefly unavailable. Try again.",
            ));
        }
    };
    if !session::csrf_matches(app, &browser.session, Some(csrf)) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "The request was not sent from your account page.",
        ));
    }
    Ok(browser)
}

/// A person's name for a passkey: trimmed, at most 64 characters, no
/// control characters.
fn clean_name(name: &str) -> String {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    if name.is_empty() {
        "Passkey".to_owned()
    } else {
        name
    }
}

/// `POST /account/passkeys/start`.
pub async fn start(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let Some(rp) = app.passkeys.as_ref() else {
        return unavailable();
    };
    let (headers, body): (_, Start) = match read_json(request).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let browser = match signed_in(&app, &headers, &body.csrf_token).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r = async {
        let user_id = browser.session.user_id.clone().unwrap_or_default();
        let username = browser.session.username.clone().unwrap_or_default();
        let existing: Vec<String> = app
            .store
            .passkeys_of(&user_id)
            .await?
            .into_iter()
            .map(|p| p.passkey)
            .collect();
        let (options, state) = rp
            .start_registration(&user_id, &username, &existing)
            .map_err(Error::internal)?;
        let ceremony = keep(&app, &browser, KIND, Some(user_id), state).await?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"ceremony": ceremony, "options": options}),
        ))
    };
    answer(r.await)
}

fn answer(r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a passkey step failed");
        refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. Try again.",
        )
    })
}

/// `POST /account/passkeys/finish`.
pub async fn finish(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let Some(rp) = app.passkeys.as_ref() else {
        return unavailable();
    };
    let (headers, body): (_, Finish) = match read_json(request).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let browser = match signed_in(&app, &headers, &body.csrf_token).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r = async {
        let now = app.clock.now();
        let user_id = browser.session.user_id.clone().unwrap_or_default();
        let taken = app
            .store
            .take_ceremony(&body.ceremony, &browser.id_hash, KIND, now)
            .await?;
        let Some((Some(owner), state)) = taken.filter(|(u, _)| u.as_deref() == Some(&user_id))
        else {
            return Ok(refused(
                StatusCode::BAD_REQUEST,
                "This passkey request expired. Try again.",
            ));
        };
        let (credential_id, passkey) = match rp.finish_registration(&body.credential, &state) {
            Ok(done) => done,
            Err(e) => {
                tracing::info!(error = %e, "a passkey registration was refused");
                return Ok(refused(
                    StatusCode::BAD_REQUEST,
                    "The passkey was not accepted.",
                ));
            }
        };
        let stored = StoredPasskey {
            credential_id: credential_id.clone(),
            user_id: owner,
            name: clean_name(&body.name),
            passkey,
            created_at: now,
            last_used_at: None,
        };
        if !app.store.add_passkey(stored).await? {
            return Ok(refused(
                StatusCode::CONFLICT,
                "This passkey is registered already.",
            ));
        }
        let fields = serde_json::json!({"user_id": user_id, "credential_id": credential_id});
        app.audit
            .record_durably("passkey_registered", now, fields)
            .await?;
        Ok(json(StatusCode::OK, &serde_json::json!({"ok": true})))
    };
    answer(r.await)
}

/// `POST /account/passkeys/rename`: `credential_id`, `name`.
pub async fn rename(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        let id = p.form.get("credential_id").unwrap_or_default();
        let name = clean_name(p.form.get("name").unwrap_or_default());
        app.store.rename_passkey(&user_id, id, &name).await?;
        Ok(back_to_account(&app, Some("passkey-renamed")))
    };
    or_error_page(&app, r.await)
}

/// `POST /account/passkeys/remove`: `credential_id`.
pub async fn remove(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        let id = p.form.get("credential_id").unwrap_or_default();
        if app.store.remove_passkey(&user_id, id).await? {
            let fields =
                serde_json::json!({"user_id": user_id, "credential_id": id, "ip_address": p.ip});
            app.audit
                .record_durably("passkey_removed", app.clock.now(), fields)
                .await?;
        }
        Ok(back_to_account(&app, Some("passkey-removed")))
    };
    or_error_page(&app, r.await)
}
