//! The browser session cookie at the authorization server.
//!
//! The cookie holds 256 random bits; the database holds only their keyed hash.
//! It is `HttpOnly; SameSite=Lax`, `Secure` (and `__Host-` prefixed) when the
//! issuer is https, and scoped to the issuer's path. A session exists before
//! sign-in too, so the sign-in form has a CSRF token bound to the browser;
//! signing in replaces it with a new session (no session fixation).

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

use crate::error::{Error, Result};
use crate::secrets::random_token;
use crate::state::AppState;
use crate::store::sessions::{NewSession, Session};

/// The browser's session, found or started for this request.
pub struct BrowserSession {
    pub id_hash: Vec<u8>,
    pub session: Session,
    /// `Set-Cookie` to send when the session was just started.
    pub set_cookie: Option<HeaderValue>,
}

/// The person a session is signed in as.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub user_id: &'a str,
    /// When they signed in (the tokens' `auth_time`).
    pub auth_time: i64,
}

impl BrowserSession {
    /// Who is signed in, if anyone.
    pub fn person(&self) -> Option<Person<'_>> {
        match (&self.session.user_id, self.session.auth_time) {
            (Some(user_id), Some(auth_time)) => Some(Person { user_id, auth_time }),
            _ => None,
        }
    }
}

fn cookie_name(app: &AppState) -> &'static str {
    if app.config.issuer.as_str().starts_with("https://") && app.config.issuer.path().is_empty() {
        "__Host-tessera_session"
    } else {
        "tessera_session"
    }
}

fn presented(app: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(app);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(|c| c.ok())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The live session named by the request's cookie, if any.
pub async fn find(app: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>> {
    let Some(value) = presented(app, headers) else {
        return Ok(None);
    };
    let id_hash = app.hasher.hash(&value);
    let session = app.store.session(&id_hash, app.clock.now()).await?;
    Ok(session.map(|session| BrowserSession {
        id_hash,
        session,
        set_cookie: None,
    }))
}

/// The current session, or a new anonymous one.
pub async fn find_or_start(app: &AppState, headers: &HeaderMap) -> Result<BrowserSession> {
    match find(app, headers).await? {
        Some(current) => Ok(current),
        None => start(app, None).await,
    }
}

/// Start a session, signed in as `user` (with `auth_time` now) or anonymous.
pub async fn start(app: &AppState, user: Option<&str>) -> Result<BrowserSession> {
    let ttl = app.config.sign_in.session_ttl.as_secs() as i64;
    start_with(app, user, user.is_some(), ttl).await
}

/// How long a session waits for the second factor after the password.
const PENDING_TTL: i64 = 10 * 60;

/// Start a session for `user` whose password step passed and whose second
/// factor is still due: it names the person but has no `auth_time`, so
/// nothing treats it as signed in ([`BrowserSession::person`] is `None`).
pub async fn start_pending(app: &AppState, user: &str) -> Result<BrowserSession> {
    let ttl = app.config.sign_in.session_ttl.as_secs() as i64;
    start_with(app, Some(user), false, ttl.min(PENDING_TTL)).await
}

async fn start_with(
    app: &AppState,
    user: Option<&str>,
    authenticated: bool,
    ttl: i64,
) -> Result<BrowserSession> {
    let now = app.clock.now();
    let value = random_token(32).map_err(Error::internal)?;
    let csrf = random_token(32).map_err(Error::internal)?;
    let id_hash = app.hasher.hash(&value);
    let auth_time = authenticated.then_some(now);
    app.store
        .create_session(&NewSession {
            id_hash: &id_hash,
            user_id: user,
            csrf: &csrf,
            auth_time,
            expires_at: now + ttl,
        })
        .await?;
    let path = match app.config.issuer.path() {
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    let cookie = Cookie::build((cookie_name(app), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config.issuer.as_str().starts_with("https://"))
        .path(path)
        .max_age(cookie::time::Duration::seconds(ttl))
        .build();
    let set_cookie = HeaderValue::from_str(&cookie.to_string()).map_err(Error::internal)?;
    let session = Session {
        user_id: user.map(str::to_owned),
        username: None,
        csrf,
        auth_time,
    };
    Ok(BrowserSession {
        id_hash,
        session,
        set_cookie: Some(set_cookie),
    })
}

/// Constant-time check of a form's CSRF token against the session's.
pub fn csrf_matches(app: &AppState, session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| app.hasher.verify(p, &app.hasher.hash(&session.csrf)))
}
