//! The account page's actions: withdraw an application's access, change the
//! password, sign out everywhere.
//!
//! Withdrawing removes the consent and deletes the refresh families it
//! allowed in one transaction (`Store::revoke_consent`): the application's
//! next refresh fails with `invalid_grant`. A password change needs the
//! current password (a wrong one counts as a failed sign-in, per account and
//! IP, like the sign-in form) and the same rules as the CLI; it ends every
//! session and refresh family of the person, then signs this browser in
//! again. Each is audited, durably, before it is acknowledged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::{Posted, back_to_account, posted, render};
use crate::error::{Error, Result};
use crate::http::authorize::forms::{or_error_page, with_cookie};
use crate::http::authorize::sign_in::{account_key, blocked_message};
use crate::http::session;
use crate::state::AppState;

/// `POST /account/withdraw`: `client_id`.
pub async fn withdraw(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        let client_id = p.form.get("client_id").unwrap_or_default();
        if app.store.revoke_consent(&user_id, client_id).await? {
            let fields =
                serde_json::json!({"user_id": user_id, "client_id": client_id, "ip_address": p.ip});
            let now = app.clock.now();
            app.audit
                .record_durably("consent_withdrawn", now, fields)
                .await?;
        }
        Ok(back_to_account(&app, Some("withdrawn")))
    };
    or_error_page(&app, r.await)
}

/// `POST /account/sign-out-everywhere`: every session of the person ends,
/// this one included.
pub async fn sign_out_everywhere(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        let ended = app.store.end_sessions_of(&user_id).await?;
        let fields = serde_json::json!({"user_id": user_id, "sessions": ended, "ip_address": p.ip});
        let now = app.clock.now();
        app.audit
            .record_durably("signed_out_everywhere", now, fields)
            .await?;
        Ok(back_to_account(&app, None))
    };
    or_error_page(&app, r.await)
}

/// `POST /account/password`: `current_password`, `new_password`,
/// `confirm_password`.
pub async fn change_password(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = change(&app, &p).await;
    or_error_page(&app, r)
}

async fn change(app: &AppState, p: &Posted) -> Result<Response> {
    let current = p
        .form
        .get("current_password")
        .unwrap_or_default()
        .to_owned();
    let new = p.form.get("new_password").unwrap_or_default().to_owned();
    if Some(new.as_str()) != p.form.get("confirm_password") {
        let why = "The new password and its repetition differ.".to_owned();
        return render(app, &p.browser, None, Some(why)).await;
    }
    if let Err(why) = crate::passwords::check_strength(&new) {
        return render(app, &p.browser, None, Some(sentence(&why.to_string()))).await;
    }
    if let Err(why) = check_password(app, p, current).await? {
        return render(app, &p.browser, None, Some(why)).await;
    }
    let username = p.browser.session.username.clone().unwrap_or_default();
    let user_id = p.browser.session.user_id.clone().unwrap_or_default();
    let hash = app.passwords.hash(new).await.map_err(Error::internal)?;
    let now = app.clock.now();
    app.store.set_password(&username, &hash, now).await?;
    let fields = serde_json::json!({"user_id": user_id, "ip_address": p.ip, "by": "account page"});
    app.audit
        .record_durably("password_changed", now, fields)
        .await?;
    // Every session ended with the change; this browser stays signed in.
    let fresh = session::start(app, Some(&user_id)).await?;
    Ok(with_cookie(
        back_to_account(app, Some("password")),
        fresh.set_cookie,
    ))
}

/// Check the current password, throttled and counted like a sign-in.
pub(super) async fn check_password(
    app: &AppState,
    p: &Posted,
    current: String,
) -> Result<std::result::Result<(), String>> {
    let username = p.browser.session.username.clone().unwrap_or_default();
    let account = account_key(&app.hasher, &username);
    let now = app.clock.now();
    if let Some(wait) = app.limits.sign_in_blocked_for(&account, &p.ip, now).await {
        return Ok(Err(blocked_message(wait)));
    }
    let hash = app
        .store
        .user_credentials(&username)
        .await?
        .map(|c| c.password_hash);
    if app.passwords.verify(current, hash).await {
        return Ok(Ok(()));
    }
    app.limits.sign_in_failed(&account, &p.ip, now).await;
    let fields = serde_json::json!({
        "user_id": p.browser.session.user_id, "ip_address": p.ip, "on": "account page",
    });
    app.audit.record("sign_in_failed", now, fields).await;
    Ok(Err("Your current password is not right.".to_owned()))
}

/// A reason worded in lower case, as a sentence.
fn sentence(why: &str) -> String {
    let mut chars = why.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}
