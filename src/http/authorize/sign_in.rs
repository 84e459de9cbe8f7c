//! `POST /authorize/sign-in`: the person's username and password.
//!
//! The form carries the session's CSRF token and where the sign-in leads
//! (the sealed request, or the account page: [`After`]). Failures are
//! throttled per account and per IP before any password work; verification
//! runs on the bounded blocking pool (see `passwords`). A person with a
//! second factor, or without one where the operator requires it, goes on to
//! [`second_factor`]; otherwise success replaces the session and redirects
//! with 303. A failure is audited by account id, never by the typed name.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::after::{self, After, Stage};
use super::forms::{bad_request, or_error_page, over_limit, read_form, with_cookie};
use super::second_factor;
use crate::http::body::OAuthForm;
use crate::http::client_ip;
use crate::http::pages::templates::{PasskeyForm, SignInPage};
use crate::http::pages::{html, html_scripted, issuer_host};
use crate::http::session::BrowserSession;
use crate::limits::Kind;
use crate::state::AppState;

/// The sign-in page, leading to `after`, for the application `client_name`.
pub fn page(
    app: &AppState,
    browser: &BrowserSession,
    client_name: Option<String>,
    after: &After,
    error: Option<String>,
    username: String,
    status: StatusCode,
) -> Response {
    let client_name = match after {
        After::Authorize(_) => client_name,
        After::Account => Some("your account".to_owned()),
    };
    let base = app.config.issuer.path();
    let passkey = app.passkeys.as_ref().map(|_| PasskeyForm {
        start: format!("{base}/authorize/passkey/start"),
        finish: format!("{base}/authorize/passkey/finish"),
        script: format!("{base}/static/passkeys.js"),
    });
    let request = after.seal(app, &browser.session.csrf);
    // Upstream providers resume an authorization request; the account
    // page's own sign-in is local (password or passkey).
    let providers = match after {
        After::Authorize(_) => super::upstream::buttons(app, &request),
        After::Account => Vec::new(),
    };
    let page = SignInPage {
        passkey,
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        client_name,
        error,
        username,
        action: format!("{}/authorize/sign-in", app.config.issuer.path()),
        csrf_token: browser.session.csrf.clone(),
        providers,
        password_form: app.config.sign_in.password_form,
        request,
    };
    let response = match page.passkey {
        Some(_) => html_scripted(status, &page),
        None => html(status, &page, None),
    };
    with_cookie(response, browser.set_cookie.clone())
}

/// The sign-in page again, with what went wrong (one read of the client, for
/// its name).
async fn again(
    app: &AppState,
    browser: &BrowserSession,
    after: &After,
    error: String,
    username: String,
    status: StatusCode,
) -> Response {
    let name = match after.client_id() {
        Some(id) => {
            let client = app.store.find_client(id).await.ok().flatten();
            client.and_then(|c| c.metadata.client_name)
        }
        None => None,
    };
    page(app, browser, name, after, Some(error), username, status)
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
    let (browser, after) = match after::posted(&app, &headers, &form, Stage::Any).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    if !app.config.sign_in.password_form {
        return bad_request(&app, "Signing in with a password is turned off here.");
    }
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    let now = app.clock.now();
    // The limiter's windows may live in the shared database or Redis: they
    // are keyed by a keyed hash of the typed name, which is sometimes a
    // mistyped password.
    let account = account_key(&app.hasher, &username);
    if let Some(wait) = app.limits.sign_in_blocked_for(&account, &ip, now).await {
        let msg = blocked_message(wait);
        let status = StatusCode::TOO_MANY_REQUESTS;
        app.metrics.sign_in_failed("locked_out");
        return again(&app, &browser, &after, msg, username, status).await;
    }
    let stored = match app.store.user_credentials(&username).await {
        Ok(s) => s,
        Err(e) => return or_error_page(&app, Err(e.into())),
    };
    let disabled = stored.as_ref().is_some_and(|c| c.disabled);
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
        let fields = failure_fields(user_id.as_deref(), &ip, after.client_id());
        app.audit.record("sign_in_failed", now, fields).await;
        let msg = "Incorrect username or password.".to_owned();
        return again(&app, &browser, &after, msg, username, StatusCode::OK).await;
    }
    let user_id = user_id.unwrap_or_default();
    if disabled {
        app.metrics.sign_in_failed("disabled");
        // Told only after the right password: the name alone says nothing.
        let fields = serde_json::json!({"user_id": user_id, "ip_address": ip, "client_id": after.client_id(), "reason": "disabled"});
        app.audit.record("sign_in_refused", now, fields).await;
        let msg = "This account is disabled. Ask your administrator.".to_owned();
        return again(&app, &browser, &after, msg, username, StatusCode::FORBIDDEN).await;
    }
    let person = second_factor::Person {
        user_id: &user_id,
        username: &username,
        account: &account,
        ip: &ip,
    };
    or_error_page(
        &app,
        second_factor::after_password(&app, &browser, person, &after).await,
    )
}

/// "Try again in N minutes" for a block of `wait` seconds.
pub fn blocked_message(wait: i64) -> String {
    format!(
        "Too many failed attempts. Try again in {} minutes.",
        (wait + 59) / 60
    )
}

/// The typed name as the sign-in limiter keys it: 128 bits of its keyed
/// hash, in hex.
pub fn account_key(hasher: &crate::secrets::SecretHasher, username: &str) -> String {
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
pub fn failure_fields(
    user_id: Option<&str>,
    ip: &str,
    client_id: Option<&str>,
) -> serde_json::Value {
    match user_id {
        Some(id) => serde_json::json!({"user_id": id, "ip_address": ip, "client_id": client_id}),
        None => {
            serde_json::json!({"account": "unknown", "ip_address": ip, "client_id": client_id})
        }
    }
}
