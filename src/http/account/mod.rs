//! `GET /account`: the person's own page, and what its forms share.
//!
//! Without a signed-in session the page is the sign-in form (leading back
//! here: [`After::Account`]). Signed in, it lists the applications the person
//! allowed (what each may do, since when, when it last obtained tokens), the
//! second factor, the password form, recent sign-ins and "sign out
//! everywhere". Every form posts the session's CSRF token, checked in
//! constant time; every action is audited with the person and nothing
//! secret. The pages carry the same headers as sign-in and consent.

mod actions;
pub mod totp;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use actions::{change_password, sign_out_everywhere, withdraw};

use super::authorize::after::After;
use super::authorize::consent::describe;
use super::authorize::forms::{or_error_page, read_form, with_cookie};
use super::authorize::sign_in;
use super::body::OAuthForm;
use super::client_ip;
use super::pages::people::{AccountPage, AppView, PasskeyView, SignInView};
use super::pages::templates::PasskeyForm;
use super::pages::{self, html, html_scripted, issuer_host};
use super::session::{self, BrowserSession};
use crate::error::Result;
use crate::state::AppState;
use crate::store::consents::Consent;

#[derive(serde::Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

/// What a finished action says on the page it returns to (a fixed set: the
/// query string is not shown as such).
fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "withdrawn" => "Access withdrawn. The application can no longer use your account.",
        "password" => "Your password was changed. Your other sessions ended.",
        "totp-off" => "The authenticator was turned off.",
        "passkey-added" => "Passkey added. You can now sign in with it alone.",
        "passkey-renamed" => "Passkey renamed.",
        "passkey-removed" => "Passkey removed.",
        _ => return None,
    };
    Some(text.to_owned())
}

pub async fn page(
    State(app): State<Arc<AppState>>,
    Query(q): Query<NoticeQuery>,
    headers: HeaderMap,
) -> Response {
    let browser = match session::find_or_start(&app, &headers).await {
        Ok(b) => b,
        Err(e) => return or_error_page(&app, Err(e)),
    };
    if browser.person().is_none() {
        let empty = String::new();
        let after = After::Account;
        return sign_in::page(&app, &browser, None, &after, None, empty, StatusCode::OK);
    }
    let r = render(&app, &browser, notice(q.done.as_deref()), None).await;
    or_error_page(
        &app,
        r.map(|page| with_cookie(page, browser.set_cookie.clone())),
    )
}

/// The signed-in person's page, with a notice or an error.
pub(super) async fn render(
    app: &AppState,
    browser: &BrowserSession,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response> {
    let user_id = browser.session.user_id.clone().unwrap_or_default();
    let consents = app.store.consents_of(&user_id).await?;
    let last_used: HashMap<String, i64> = app
        .store
        .last_used_by_client(&user_id)
        .await?
        .into_iter()
        .collect();
    let mut applications = Vec::new();
    for (client_id, rows) in by_client(consents) {
        applications.push(application(app, client_id, &rows, &last_used).await?);
    }
    let totp = crate::http::factors::has_totp(app, &user_id).await?;
    let recovery_left = app.store.recovery_codes_left(&user_id).await?;
    let sign_ins = app.store.sign_ins_of(&user_id).await?;
    let base = app.config.issuer.path();
    let passkey = app.passkeys.as_ref().map(|_| PasskeyForm {
        start: format!("{base}/account/passkeys/start"),
        finish: format!("{base}/account/passkeys/finish"),
        script: format!("{base}/static/passkeys.js"),
    });
    let passkeys = match passkey {
        Some(_) => app.store.passkeys_of(&user_id).await?,
        None => Vec::new(),
    };
    let page = AccountPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        base: app.config.issuer.path().to_owned(),
        csrf_token: browser.session.csrf.clone(),
        username: browser.session.username.clone().unwrap_or_default(),
        notice,
        error,
        applications,
        totp,
        recovery_left,
        require_second_factor: app.config.sign_in.require_second_factor,
        sign_ins: sign_ins
            .into_iter()
            .map(|s| SignInView {
                at: when(s.at),
                method: s.method,
                ip: s.ip_address,
            })
            .collect(),
        passkeys: passkeys
            .into_iter()
            .map(|p| PasskeyView {
                credential_id: p.credential_id,
                name: p.name,
                created: when(p.created_at),
                last_used: p.last_used_at.map_or_else(|| "never".to_owned(), when),
            })
            .collect(),
        passkey,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(match page.passkey {
        Some(_) => html_scripted(status, &page),
        None => html(status, &page, None),
    })
}

/// Consents grouped by client, in the order listed (newest first).
fn by_client(consents: Vec<Consent>) -> Vec<(String, Vec<Consent>)> {
    let mut groups: Vec<(String, Vec<Consent>)> = Vec::new();
    for c in consents {
        match groups.iter_mut().find(|(id, _)| *id == c.client_id) {
            Some((_, rows)) => rows.push(c),
            None => groups.push((c.client_id.clone(), vec![c])),
        }
    }
    groups
}

async fn application(
    app: &AppState,
    client_id: String,
    rows: &[Consent],
    last_used: &HashMap<String, i64>,
) -> Result<AppView> {
    let client = app.store.find_client(&client_id).await?;
    let name = client
        .and_then(|c| c.metadata.client_name)
        .unwrap_or_else(|| "An application".to_owned());
    let mut grants = Vec::new();
    for row in rows {
        let at = app
            .config
            .resources
            .find(&row.resource)
            .map(|r| r.name.clone());
        for scope in row.scope.split(' ').filter(|s| !s.is_empty()) {
            grants.push(match &at {
                Some(resource) => format!("{} (at {resource})", describe(app, scope)),
                None => describe(app, scope),
            });
        }
    }
    let since = rows.iter().map(|r| r.updated_at).min().unwrap_or_default();
    Ok(AppView {
        last_used: last_used
            .get(&client_id)
            .map_or_else(|| "not yet".to_owned(), |t| when(*t)),
        client_id,
        name,
        grants,
        since: when(since),
    })
}

/// `2026-12-07 05:20 UTC`.
fn when(at: i64) -> String {
    let text = tessera_resource::clock::rfc3339(at);
    match text.get(..16) {
        Some(minute) => format!("{} UTC", minute.replace('T', " ")),
        None => text,
    }
}

/// A post of the account page: its signed-in session, the form and the
/// client's address; or the page to answer with.
pub(super) struct Posted {
    pub browser: BrowserSession,
    pub form: OAuthForm,
    pub ip: String,
}

pub(super) async fn posted(
    app: &AppState,
    request: Request,
) -> std::result::Result<Posted, Response> {
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    let (headers, body) = read_form(app, request).await?;
    let Ok(form) = OAuthForm::parse(&body) else {
        return Err(refused(app, "The form was malformed."));
    };
    let browser = match session::find(app, &headers).await {
        Ok(Some(b)) if b.person().is_some() => b,
        Ok(_) => return Err(back_to_account(app, None)),
        Err(e) => return Err(or_error_page(app, Err(e))),
    };
    if !session::csrf_matches(app, &browser.session, form.get("csrf_token")) {
        return Err(refused(
            app,
            "The form was not sent from your account page. Open the account page and try again.",
        ));
    }
    Ok(Posted { browser, form, ip })
}

fn refused(app: &AppState, why: &str) -> Response {
    pages::error(
        app,
        StatusCode::BAD_REQUEST,
        "This form cannot be used",
        why,
    )
}

/// 303 to the account page, saying what was `done`.
pub(super) fn back_to_account(app: &AppState, done: Option<&str>) -> Response {
    let mut target = format!("{}/account", app.config.issuer.path());
    if let Some(done) = done {
        target.push_str("?done=");
        target.push_str(done);
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&target) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
