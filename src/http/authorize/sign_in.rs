//! `POST /authorize/sign-in`: the person's username and password.
//!
//! The form carries the session's CSRF token and the sealed request. Failures
//! are throttled per account and per IP before any password work; verification
//! runs on the bounded blocking pool (see `passwords`). Success replaces the
//! session and redirects with 303 to continue the request. A failure is
//! audited by account id, never by the typed name.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::forms::{
    bad_request, or_error_page, over_limit, posted_request, read_form, with_cookie,
};
use super::ticket;
use crate::http::body::OAuthForm;
use crate::http::client_ip;
use crate::http::pages::templates::SignInPage;
use crate::http::pages::{html, issuer_host};
use crate::http::session::{self, BrowserSession};
use crate::limits::Kind;
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;

/// The sign-in page for `req`, from the application `client_name`.
pub fn page(
    app: &AppState,
    browser: &BrowserSession,
    client_name: Option<String>,
    req: &AuthorizationRequest,
    error: Option<String>,
    username: String,
    status: StatusCode,
) -> Response {
    let page = SignInPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        client_name,
        error,
        username,
        action: format!("{}/authorize/sign-in", app.config.issuer.path()),
        csrf_token: browser.session.csrf.clone(),
        request: ticket::seal(app, req, &browser.session.csrf),
    };
    with_cookie(html(status, &page, None), browser.set_cookie.clone())
}

/// The sign-in page again, with what went wrong (one read of the client, for
/// its name).
async fn again(
    app: &AppState,
    browser: &BrowserSession,
    req: &AuthorizationRequest,
    error: String,
    username: String,
    status: StatusCode,
) -> Response {
    let client = app.store.find_client(&req.client_id).await.ok().flatten();
    let name = client.and_then(|c| c.metadata.client_name);
    page(app, browser, name, req, Some(error), username, status)
}

pub async fn sign_in(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    let limit = app.config.rate_limits.sign_in_per_ip;
    if let Some(r) = over_limit(&app, Kind::SignIn, limit, ip.clone(), "sign_in").await {
        return r;
    }
    let (headers, body) = match read_form(&app, request).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Ok(form) = OAuthForm::parse(&body) else {
        return bad_request(&app, "The sign-in form was malformed.");
    };
    let (browser, req) = match posted_request(&app, &headers, &form, false, "sign-in").await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    let now = app.clock.now();
    // The limiter's windows may live in the shared database or Redis: they
    // are keyed by a keyed hash of the typed name, which is sometimes a
    // mistyped password.
    let account = account_key(&app.hasher, &username);
    if let Some(wait) = app.limits.sign_in_blocked_for(&account, &ip, now).await {
        let msg = format!(
            "Too many failed attempts. Try again in {} minutes.",
            (wait + 59) / 60
        );
        let status = StatusCode::TOO_MANY_REQUESTS;
        app.metrics.sign_in_failed("locked_out");
        return again(&app, &browser, &req, msg, username, status).await;
    }
    let stored = match app.store.user_credentials(&username).await {
        Ok(s) => s,
        Err(e) => return or_error_page(&app, Err(e.into())),
    };
    let (user_id, hash) = stored
        .map(|c| (Some(c.id), Some(c.password_hash)))
        .unwrap_or((None, None));
    if !app.passwords.verify(password, hash).await || username.is_empty() {
        app.limits.sign_in_failed(&account, &ip, now).await;
        let reason = match user_id {
            Some(_) => "wrong_password",
            None => "unknown_user",
        };
        app.metrics.sign_in_failed(reason);
        let fields = failure_fields(user_id.as_deref(), &ip, &req.client_id);
        app.audit.record("sign_in_failed", now, fields).await;
        let msg = "Incorrect username or password.".to_owned();
        return again(&app, &browser, &req, msg, username, StatusCode::OK).await;
    }
    app.limits.sign_in_succeeded(&account, &ip, now).await;
    let user_id = user_id.unwrap_or_default();
    or_error_page(&app, signed_in(&app, &browser, &user_id, &req).await)
}

/// The typed name as the sign-in limiter keys it: 128 bits of its keyed
/// hash, in hex.
fn account_key(hasher: &crate::secrets::SecretHasher, username: &str) -> String {
    use std::fmt::Write;
    hasher
        .hash(username)
        .iter()
        .take(16)
        .fold(String::with_capacity(32), |mut key, b| {
            let _ = write!(key, "{b:02x}");
            key
        })
}

/// What a failed sign-in records: the account's id when the name is one,
/// else only that it is not. Never the typed name: people type their
/// password into it, and a name that is no account tells nothing more.
fn failure_fields(user_id: Option<&str>, ip: &str, client_id: &str) -> serde_json::Value {
    match user_id {
        Some(id) => serde_json::json!({"user_id": id, "ip_address": ip, "client_id": client_id}),
        None => {
            serde_json::json!({"account": "unknown", "ip_address": ip, "client_id": client_id})
        }
    }
}

/// Replace the anonymous session with a signed-in one and continue.
async fn signed_in(
    app: &AppState,
    old: &BrowserSession,
    user_id: &str,
    req: &AuthorizationRequest,
) -> crate::error::Result<Response> {
    app.store
        .delete_session(&old.id_hash, app.clock.now())
        .await?;
    let fresh = session::start(app, Some(user_id)).await?;
    let fields = serde_json::json!({"user_id": user_id, "client_id": req.client_id});
    app.audit
        .record("sign_in_succeeded", app.clock.now(), fields)
        .await;
    let sealed = ticket::seal(app, req, &fresh.session.csrf);
    // The sealed ticket is base64url plus '.', all unreserved: no escaping needed.
    let target = format!(
        "{}/authorize/continue?request={sealed}",
        app.config.issuer.path()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&target) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_cookie(response, fresh.set_cookie))
}
