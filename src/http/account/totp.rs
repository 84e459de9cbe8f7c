//! The account page's second factor: set up an authenticator (the secret
//! shown once, confirmed by a code from it), turn it off (with the current
//! password, checked like a sign-in), and make new recovery codes (the old
//! ones stop working). Each is audited with the person, never a secret.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::actions::check_password;
use super::{Posted, back_to_account, posted, render};
use crate::error::Result;
use crate::http::authorize::forms::or_error_page;
use crate::http::factors::{self, EnrolForm};
use crate::state::AppState;

fn enrol_form(app: &AppState, p: &Posted, error: Option<String>) -> EnrolForm {
    let base = app.config.issuer.path();
    EnrolForm {
        action: format!("{base}/account/totp/confirm"),
        csrf_token: p.browser.session.csrf.clone(),
        request: None,
        cancel: Some(format!("{base}/account")),
        error,
    }
}

/// `POST /account/totp/start`.
pub async fn start(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        let username = p.browser.session.username.clone().unwrap_or_default();
        match factors::begin(&app, &user_id, &username).await? {
            Some(enrolment) => Ok(factors::enrol_page(
                &app,
                enrolment,
                enrol_form(&app, &p, None),
            )),
            None => Ok(back_to_account(&app, None)),
        }
    };
    or_error_page(&app, r.await)
}

/// `POST /account/totp/confirm`: `code`.
pub async fn confirm(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    or_error_page(&app, confirm_code(&app, &p).await)
}

async fn confirm_code(app: &AppState, p: &Posted) -> Result<Response> {
    let user_id = p.browser.session.user_id.clone().unwrap_or_default();
    let username = p.browser.session.username.clone().unwrap_or_default();
    let code = p.form.get("code").unwrap_or_default();
    let Some(codes) = factors::confirm(app, &user_id, code).await? else {
        let Some(enrolment) = factors::in_progress(app, &user_id, &username).await? else {
            return Ok(back_to_account(app, None));
        };
        let why = "That code is not right. Check the key and your device's clock, then enter the newest code.";
        let form = enrol_form(app, p, Some(why.to_owned()));
        return Ok(factors::enrol_page(app, enrolment, form));
    };
    let fields =
        serde_json::json!({"user_id": user_id, "ip_address": p.ip, "during": "account page"});
    app.audit
        .record_durably("totp_enrolled", app.clock.now(), fields)
        .await?;
    let back = format!("{}/account", app.config.issuer.path());
    Ok(factors::codes_page(app, codes, back))
}

/// `POST /account/totp/remove`: `password`.
pub async fn remove(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let password = p.form.get("password").unwrap_or_default().to_owned();
        if let Err(why) = check_password(&app, &p, password).await? {
            return render(&app, &p.browser, None, Some(why)).await;
        }
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        if app.store.remove_totp(&user_id).await? {
            let fields = serde_json::json!({"user_id": user_id, "ip_address": p.ip});
            app.audit
                .record_durably("totp_removed", app.clock.now(), fields)
                .await?;
        }
        Ok(back_to_account(&app, Some("totp-off")))
    };
    or_error_page(&app, r.await)
}

/// `POST /account/recovery-codes`: new codes replace the old ones.
pub async fn recovery_codes(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let p = match posted(&app, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let r = async {
        let user_id = p.browser.session.user_id.clone().unwrap_or_default();
        if !factors::has_totp(&app, &user_id).await? {
            return Ok(back_to_account(&app, None));
        }
        let (codes, hashes) = factors::new_recovery_codes(&app)?;
        let now = app.clock.now();
        app.store
            .replace_recovery_codes(&user_id, hashes, now)
            .await?;
        let fields = serde_json::json!({"user_id": user_id, "ip_address": p.ip});
        app.audit
            .record_durably("recovery_codes_regenerated", now, fields)
            .await?;
        let back = format!("{}/account", app.config.issuer.path());
        Ok(factors::codes_page(&app, codes, back))
    };
    or_error_page(&app, r.await)
}
