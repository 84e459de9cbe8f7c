//! Where a sign-in leads, and how it ends.
//!
//! A person signs in either to continue an authorization request (carried
//! as its sealed ticket) or to reach their account page. The sign-in form,
//! the second-factor form and the enrolment form carry it in their `request`
//! field; every step checks the session's CSRF token first. Signing in ends
//! with [`finish`]: a new session (no fixation), the audit event, the
//! person's sign-in record and the per-account failure count reset.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::forms::{SESSION_EXPIRED, bad_request, or_error_page, with_cookie};
use super::ticket;
use crate::error::Result;
use crate::http::body::OAuthForm;
use crate::http::session::{self, BrowserSession};
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;
use crate::store::factors::SignIn;

/// The `request` field's value for a sign-in to the account page.
const ACCOUNT: &str = "account";

/// What the person signs in for.
#[derive(Clone)]
pub enum After {
    Authorize(Box<AuthorizationRequest>),
    Account,
}

/// Which session a posted step needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Any live session (the password form).
    Any,
    /// A session whose password step passed and whose second factor is due.
    Pending,
}

impl After {
    /// The form field's value, bound to the session's CSRF token.
    pub fn seal(&self, app: &AppState, csrf: &str) -> String {
        match self {
            Self::Authorize(request) => ticket::seal(app, request, csrf),
            Self::Account => ACCOUNT.to_owned(),
        }
    }

    pub fn open(app: &AppState, sealed: &str, csrf: &str) -> Option<Self> {
        if sealed == ACCOUNT {
            return Some(Self::Account);
        }
        ticket::open(app, sealed, csrf).map(|r| Self::Authorize(Box::new(r)))
    }

    /// The client the person signs in for, if any (for audit events).
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Authorize(request) => Some(&request.client_id),
            Self::Account => None,
        }
    }

    /// Where the browser goes once signed in (a path under the issuer).
    pub fn target(&self, app: &AppState, csrf: &str) -> String {
        let base = app.config.issuer.path();
        match self {
            // The sealed ticket is base64url plus '.', all unreserved.
            Self::Authorize(_) => {
                format!("{base}/authorize/continue?request={}", self.seal(app, csrf))
            }
            Self::Account => format!("{base}/account"),
        }
    }
}

/// What every step of sign-in checks: a live session in `stage`, the form's
/// CSRF token against it, and where the sign-in leads.
pub async fn posted(
    app: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    stage: Stage,
) -> std::result::Result<(BrowserSession, After), Response> {
    let browser = match session::find(app, headers).await {
        Ok(Some(b)) if stage == Stage::Any || pending_user(&b).is_some() => b,
        Ok(_) => return Err(bad_request(app, SESSION_EXPIRED)),
        Err(e) => return Err(or_error_page(app, Err(e))),
    };
    if !session::csrf_matches(app, &browser.session, form.get("csrf_token")) {
        return Err(bad_request(
            app,
            "The form was not sent from this sign-in page. Start again.",
        ));
    }
    let Some(after) = form
        .get("request")
        .and_then(|t| After::open(app, t, &browser.session.csrf))
    else {
        return Err(bad_request(
            app,
            "This sign-in expired. Go back to the application and start again.",
        ));
    };
    Ok((browser, after))
}

/// The person whose password step passed, in a session that waits for
/// their second factor.
pub fn pending_user(browser: &BrowserSession) -> Option<&str> {
    match (&browser.session.user_id, browser.session.auth_time) {
        (Some(user), None) => Some(user),
        _ => None,
    }
}

/// End the sign-in: replace `old` with a signed-in session, record it, and
/// return the new session.
pub async fn finish(
    app: &AppState,
    old: &BrowserSession,
    user_id: &str,
    after: &After,
    method: &str,
    ip: &str,
) -> Result<BrowserSession> {
    let now = app.clock.now();
    app.store.delete_session(&old.id_hash, now).await?;
    let fresh = session::start(app, Some(user_id)).await?;
    let fields = serde_json::json!({
        "user_id": user_id, "client_id": after.client_id(), "method": method, "ip_address": ip,
    });
    app.audit.record("sign_in_succeeded", now, fields).await;
    let record = SignIn {
        at: now,
        method: method.to_owned(),
        ip_address: ip.to_owned(),
    };
    app.store.record_sign_in(user_id, record).await?;
    Ok(fresh)
}

/// 303 to `after`'s target, with the new session's cookie.
pub fn redirect(app: &AppState, fresh: BrowserSession, after: &After) -> Response {
    let target = after.target(app, &fresh.session.csrf);
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&target) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_cookie(response, fresh.set_cookie)
}
