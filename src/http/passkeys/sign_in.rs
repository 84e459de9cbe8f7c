//! Signing in with a passkey alone: `POST /authorize/passkey/start` and
//! `/finish` (JSON, from the sign-in page's script, for an authorization
//! request or the account page alike: [`After`]).
//!
//! The authenticator chooses the credential (a discoverable passkey, with
//! user verification), so no username is typed and none is disclosed: the
//! person is found by the credential id. A passkey is a second factor in
//! itself, so it satisfies `security.require_second_factor`. Both halves
//! count against the IP's sign-in limit; a refused answer counts as a failed
//! sign-in (keyed by the credential it names) and is audited.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

use super::{json, keep, read_json, refused, unavailable};
use crate::error::Result;
use crate::http::authorize::after::{self, After};
use crate::http::authorize::forms::with_cookie;
use crate::http::authorize::sign_in::{account_key, blocked_message};
use crate::http::client_ip;
use crate::http::session::{self, BrowserSession};
use crate::limits::Kind;
use crate::state::AppState;

const KIND: &str = "sign_in";

#[derive(Deserialize)]
pub struct Start {
    csrf_token: String,
    request: String,
}

#[derive(Deserialize)]
pub struct Finish {
    csrf_token: String,
    request: String,
    ceremony: String,
    credential: PublicKeyCredential,
}

/// The session the sign-in page was shown in, and where it leads.
async fn sign_in_session(
    app: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    request: &str,
) -> std::result::Result<(BrowserSession, After), Response> {
    let expired = || {
        refused(
            StatusCode::BAD_REQUEST,
            "This sign-in expired. Start again.",
        )
    };
    let browser = match session::find(app, headers).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(expired()),
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
            "The request was not sent from this sign-in page.",
        ));
    }
    let after = After::open(app, request, &browser.session.csrf).ok_or_else(expired)?;
    Ok((browser, after))
}

/// The per-IP sign-in limit, as the password form has it.
async fn over_ip_limit(app: &AppState, ip: &str) -> Option<Response> {
    let now = app.clock.now();
    let limit = app.config.rate_limits.sign_in_per_ip;
    let quota = app.limits.count(Kind::SignIn, ip, limit, now).await.err()?;
    app.metrics.rate_limited("sign_in");
    let why = format!(
        "Too many requests from your network. Try again in {} seconds.",
        quota.retry_after()
    );
    Some(refused(StatusCode::TOO_MANY_REQUESTS, &why))
}

fn answer(r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a passkey sign-in failed");
        refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. Try again.",
        )
    })
}

/// `POST /authorize/passkey/start`.
pub async fn start(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let Some(rp) = app.passkeys.as_ref() else {
        return unavailable();
    };
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    if let Some(r) = over_ip_limit(&app, &ip).await {
        return r;
    }
    let (headers, body): (_, Start) = match read_json(request).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let (browser, _) = match sign_in_session(&app, &headers, &body.csrf_token, &body.request).await
    {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let r = async {
        let (options, state) = rp.start_sign_in().map_err(crate::error::Error::internal)?;
        let ceremony = keep(&app, &browser, KIND, None, state).await?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"ceremony": ceremony, "options": options}),
        ))
    };
    answer(r.await)
}

/// `POST /authorize/passkey/finish`: on success `{"redirect": …}` and the
/// new session's cookie.
pub async fn finish(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if app.passkeys.is_none() {
        return unavailable();
    }
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    if let Some(r) = over_ip_limit(&app, &ip).await {
        return r;
    }
    let (headers, body): (_, Finish) = match read_json(request).await {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    let (browser, after) =
        match sign_in_session(&app, &headers, &body.csrf_token, &body.request).await {
            Ok(ok) => ok,
            Err(r) => return r,
        };
    answer(verify(&app, &browser, &after, &body, &ip).await)
}

async fn verify(
    app: &AppState,
    browser: &BrowserSession,
    after: &After,
    body: &Finish,
    ip: &str,
) -> Result<Response> {
    let Some(rp) = app.passkeys.as_ref() else {
        return Ok(refused(
            StatusCode::NOT_FOUND,
            "Passkeys are not available here.",
        ));
    };
    let now = app.clock.now();
    let taken = app
        .store
        .take_ceremony(&body.ceremony, &browser.id_hash, KIND, now)
        .await?;
    let Some((_, state)) = taken else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "This sign-in expired. Try again.",
        ));
    };
    let credential_id = rp.credential_of(&body.credential).unwrap_or_default();
    let account = account_key(&app.hasher, &format!("passkey:{credential_id}"));
    if let Some(wait) = app.limits.sign_in_blocked_for(&account, ip, now).await {
        return Ok(refused(
            StatusCode::TOO_MANY_REQUESTS,
            &blocked_message(wait),
        ));
    }
    let stored = app.store.passkey(&credential_id).await?;
    let verified = stored.as_ref().map(|s| {
        rp.finish_sign_in(&body.credential, &state, &s.passkey)
            .map(|v| (s.user_id.clone(), v))
    });
    let (user_id, verified) = match verified {
        Some(Ok(ok)) => ok,
        other => {
            if let Some(Err(e)) = other {
                tracing::info!(error = %e, "a passkey sign-in was refused");
            }
            app.limits.sign_in_failed(&account, ip, now).await;
            app.metrics.sign_in_failed("passkey");
            let fields = serde_json::json!({
                "user_id": stored.map(|s| s.user_id), "ip_address": ip,
                "client_id": after.client_id(), "method": "passkey",
            });
            app.audit.record("sign_in_failed", now, fields).await;
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "This passkey was not accepted. Use your password, or another passkey.",
            ));
        }
    };
    app.store
        .passkey_used(&verified.credential_id, verified.passkey, now)
        .await?;
    let access = app.store.person_access(&user_id).await?;
    if access.is_none_or(|a| a.disabled) {
        let fields = serde_json::json!({
            "user_id": user_id, "ip_address": ip, "client_id": after.client_id(),
            "reason": "disabled", "method": "passkey",
        });
        app.audit.record("sign_in_refused", now, fields).await;
        return Ok(refused(
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask your administrator.",
        ));
    }
    app.limits.sign_in_succeeded(&account, ip, now).await;
    let fresh = after::finish(app, browser, &user_id, after, "passkey", ip).await?;
    let target = after.target(app, &fresh.session.csrf);
    let response = json(StatusCode::OK, &serde_json::json!({"redirect": target}));
    Ok(with_cookie(response, fresh.set_cookie))
}
