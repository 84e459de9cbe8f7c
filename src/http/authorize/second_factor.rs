//! The second step of a local sign-in: `POST /authorize/second-factor` (a
//! TOTP code, RFC 6238, or a recovery code) and `POST /authorize/enrol` (an
//! authenticator set up during sign-in, when the operator requires a second
//! factor and the person has none).
//!
//! Between the steps the browser holds a pending session: it names the
//! person but is not signed in, expires in minutes, and the per-account
//! failure count is reset only once the second step passes, so a known
//! password does not buy fresh guesses at the code. A wrong code counts as a
//! failed sign-in (per account and IP) and is audited by account id.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::after::{self, After, Stage, pending_user};
use super::forms::{
    SESSION_EXPIRED, bad_request, or_error_page, over_limit, read_form, with_cookie,
};
use super::sign_in::{account_key, blocked_message};
use crate::error::Result;
use crate::http::body::OAuthForm;
use crate::http::client_ip;
use crate::http::factors::{self, Checked, EnrolForm};
use crate::http::pages::people::SecondFactorPage;
use crate::http::pages::{html, issuer_host};
use crate::http::session::{self, BrowserSession};
use crate::limits::Kind;
use crate::state::AppState;

/// The person whose password just passed.
#[derive(Clone, Copy)]
pub struct Person<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    /// The limiter's key for the account ([`account_key`]).
    pub account: &'a str,
    pub ip: &'a str,
}

/// After the password: the code step, enrolment (when required), or done.
pub async fn after_password(
    app: &AppState,
    browser: &BrowserSession,
    p: Person<'_>,
    after: &After,
) -> Result<Response> {
    let now = app.clock.now();
    let has_totp = factors::has_totp(app, p.user_id).await?;
    if !has_totp && !app.config.sign_in.require_second_factor {
        app.limits.sign_in_succeeded(p.account, p.ip, now).await;
        let fresh = after::finish(app, browser, p.user_id, after, "password", p.ip).await?;
        return Ok(after::redirect(app, fresh, after));
    }
    if !has_totp && !app.store.passkeys_of(p.user_id).await?.is_empty() {
        // A passkey is this person's second factor: it signs them in alone.
        let why = "This account signs in with its passkey: choose \"Sign in with a passkey\".";
        let status = StatusCode::OK;
        let again = super::sign_in::page(
            app,
            browser,
            None,
            after,
            Some(why.to_owned()),
            String::new(),
            status,
        );
        return Ok(again);
    }
    app.store.delete_session(&browser.id_hash, now).await?;
    let pending = session::start_pending(app, p.user_id).await?;
    let page = if has_totp {
        code_page(app, &pending, p.username, after, None, StatusCode::OK)
    } else {
        let Some(enrolment) = factors::begin(app, p.user_id, p.username).await? else {
            return Ok(bad_request(app, SESSION_EXPIRED));
        };
        factors::enrol_page(app, enrolment, enrol_form(app, &pending, after, None))
    };
    Ok(with_cookie(page, pending.set_cookie.clone()))
}

fn code_page(
    app: &AppState,
    browser: &BrowserSession,
    username: &str,
    after: &After,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = SecondFactorPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        action: format!("{}/authorize/second-factor", app.config.issuer.path()),
        csrf_token: browser.session.csrf.clone(),
        request: after.seal(app, &browser.session.csrf),
        username: username.to_owned(),
        error,
    };
    html(status, &page, None)
}

fn enrol_form(
    app: &AppState,
    browser: &BrowserSession,
    after: &After,
    error: Option<String>,
) -> EnrolForm {
    EnrolForm {
        action: format!("{}/authorize/enrol", app.config.issuer.path()),
        csrf_token: browser.session.csrf.clone(),
        request: Some(after.seal(app, &browser.session.csrf)),
        cancel: None,
        error,
    }
}

/// A posted step of a pending session: its session, where it leads, the
/// typed code and the client's address.
struct Step {
    browser: BrowserSession,
    after: After,
    code: String,
    ip: String,
}

async fn posted_step(app: &AppState, request: Request) -> std::result::Result<Step, Response> {
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    let limit = app.config.rate_limits.sign_in_per_ip;
    if let Some(r) = over_limit(app, Kind::SignIn, limit, ip.clone(), "sign_in").await {
        return Err(r);
    }
    let (headers, body) = read_form(app, request).await?;
    let Ok(form) = OAuthForm::parse(&body) else {
        return Err(bad_request(app, "The form was malformed."));
    };
    let (browser, after) = after::posted(app, &headers, &form, Stage::Pending).await?;
    let code = form.get("code").unwrap_or("").to_owned();
    Ok(Step {
        browser,
        after,
        code,
        ip,
    })
}

/// The step's person, and their limiter key when they are not blocked.
async fn unblocked(app: &AppState, step: &Step) -> std::result::Result<(String, String), i64> {
    let user_id = pending_user(&step.browser).unwrap_or_default().to_owned();
    let username = step.browser.session.username.clone().unwrap_or_default();
    let account = account_key(&app.hasher, &username);
    let now = app.clock.now();
    match app
        .limits
        .sign_in_blocked_for(&account, &step.ip, now)
        .await
    {
        Some(wait) => Err(wait),
        None => Ok((user_id, account)),
    }
}

/// A wrong code: counted and audited like a failed sign-in.
async fn failed(app: &AppState, step: &Step, user_id: &str, account: &str, method: &str) {
    let now = app.clock.now();
    app.limits.sign_in_failed(account, &step.ip, now).await;
    app.metrics.sign_in_failed("second_factor");
    let fields = serde_json::json!({
        "user_id": user_id, "ip_address": step.ip, "client_id": step.after.client_id(),
        "method": method,
    });
    app.audit.record("second_factor_failed", now, fields).await;
}

/// `POST /authorize/second-factor`.
pub async fn second_factor(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let step = match posted_step(&app, request).await {
        Ok(step) => step,
        Err(page) => return page,
    };
    or_error_page(&app, check_code(&app, &step).await)
}

async fn check_code(app: &AppState, step: &Step) -> Result<Response> {
    let username = step.browser.session.username.clone().unwrap_or_default();
    let again = |error: String, status| {
        code_page(
            app,
            &step.browser,
            &username,
            &step.after,
            Some(error),
            status,
        )
    };
    let (user_id, account) = match unblocked(app, step).await {
        Ok(ok) => ok,
        Err(wait) => return Ok(again(blocked_message(wait), StatusCode::TOO_MANY_REQUESTS)),
    };
    let checked = factors::check(app, &user_id, &step.code).await?;
    if checked == Checked::Wrong {
        failed(app, step, &user_id, &account, "totp or recovery code").await;
        let msg =
            "That code is not right. Enter the newest code from your app, or a recovery code.";
        return Ok(again(msg.to_owned(), StatusCode::OK));
    }
    let now = app.clock.now();
    if checked == Checked::RecoveryCode {
        let left = app.store.recovery_codes_left(&user_id).await?;
        let fields =
            serde_json::json!({"user_id": user_id, "ip_address": step.ip, "codes_left": left});
        app.audit
            .record_durably("recovery_code_used", now, fields)
            .await?;
    }
    app.limits.sign_in_succeeded(&account, &step.ip, now).await;
    let fresh = after::finish(
        app,
        &step.browser,
        &user_id,
        &step.after,
        checked.method(),
        &step.ip,
    );
    Ok(after::redirect(app, fresh.await?, &step.after))
}

/// `POST /authorize/enrol`.
pub async fn enrol(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let step = match posted_step(&app, request).await {
        Ok(step) => step,
        Err(page) => return page,
    };
    or_error_page(&app, confirm_enrolment(&app, &step).await)
}

async fn confirm_enrolment(app: &AppState, step: &Step) -> Result<Response> {
    let username = step.browser.session.username.clone().unwrap_or_default();
    let blocked = unblocked(app, step).await;
    let confirmed = match &blocked {
        Ok((user_id, _)) => factors::confirm(app, user_id, &step.code).await?,
        Err(_) => None,
    };
    let user_id = pending_user(&step.browser).unwrap_or_default().to_owned();
    let Some(codes) = confirmed else {
        let error = match blocked {
            Err(wait) => blocked_message(wait),
            Ok((_, account)) => {
                failed(app, step, &user_id, &account, "totp enrolment").await;
                "That code is not right. Check the key and your device's clock, then enter the newest code.".to_owned()
            }
        };
        let Some(enrolment) = factors::in_progress(app, &user_id, &username).await? else {
            return Ok(bad_request(app, SESSION_EXPIRED));
        };
        let form = enrol_form(app, &step.browser, &step.after, Some(error));
        return Ok(factors::enrol_page(app, enrolment, form));
    };
    let now = app.clock.now();
    let fields =
        serde_json::json!({"user_id": user_id, "ip_address": step.ip, "during": "sign-in"});
    app.audit
        .record_durably("totp_enrolled", now, fields)
        .await?;
    let account = account_key(&app.hasher, &username);
    app.limits.sign_in_succeeded(&account, &step.ip, now).await;
    let fresh = after::finish(
        app,
        &step.browser,
        &user_id,
        &step.after,
        "password+totp",
        &step.ip,
    );
    let fresh = fresh.await?;
    let target = step.after.target(app, &fresh.session.csrf);
    Ok(with_cookie(
        factors::codes_page(app, codes, target),
        fresh.set_cookie,
    ))
}
