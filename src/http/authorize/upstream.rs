//! Signing in with an upstream OpenID provider: `GET
//! /authorize/upstream/{id}?request=…` leaves for the provider, `GET
//! /authorize/upstream/callback` comes back (OpenID Connect Core §3.1,
//! RFC 7636, RFC 9207).
//!
//! Leaving records the sign-in under the keyed hash of a random `state`,
//! with the browser session that started it and the pending MCP
//! authorization request (`store::people::UpstreamLogin`), for 15 minutes.
//! The nonce and PKCE verifier are derived from the state with the server's
//! key, so nothing secret is stored. The callback spends that record (a
//! replay finds nothing), checks the session, `iss`, exchanges the code,
//! validates the ID token (`crate::upstream::id_token`), applies the
//! provider's domain and group rules, finds or provisions the person linked
//! by (provider, `sub`), and continues exactly the pending request (its
//! consent page included). Every refusal is a page saying why, and an
//! audit event with the person and provider, never a code or token.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::forms::{bad_request, or_error_page, over_limit, with_cookie};
use super::ticket;
use crate::config::people::IdentityProvider;
use crate::http::client_ip;
use crate::http::pages;
use crate::http::pages::templates::ProviderView;
use crate::http::session::{self, BrowserSession};
use crate::limits::Kind;
use crate::oauth::authorize::AuthorizationRequest;
use crate::secrets::random_token;
use crate::state::AppState;
use crate::store::people::UpstreamLogin;
use crate::upstream as provider;

/// How long a person may take at the provider.
const LOGIN_TTL: i64 = 15 * 60;

/// "Continue with NAME" links for the sign-in page, carrying its ticket.
pub fn buttons(app: &AppState, sealed: &str) -> Vec<ProviderView> {
    let base = app.config.issuer.path();
    app.config
        .identity_providers
        .iter()
        .map(|p| ProviderView {
            name: p.name.clone(),
            // The ticket is base64url plus '.', all unreserved.
            href: format!("{base}/authorize/upstream/{}?request={sealed}", p.id),
        })
        .collect()
}

pub(super) fn callback_uri(app: &AppState) -> String {
    let issuer = app.config.issuer.as_str().trim_end_matches('/');
    format!("{issuer}/authorize/upstream/callback")
}

/// The nonce and PKCE verifier of a `state`: keyed derivations, 256 bits each.
pub(super) fn derived(app: &AppState, state: &str) -> (String, String) {
    let nonce = B64.encode(app.hasher.hash(&format!("tessera-upstream-nonce\0{state}")));
    let verifier = B64.encode(app.hasher.hash(&format!("tessera-upstream-pkce\0{state}")));
    (nonce, verifier)
}

pub(super) fn refusal_page(
    app: &AppState,
    status: StatusCode,
    title: &str,
    why: impl Into<String>,
) -> Response {
    pages::error(app, status, title, why)
}

pub(super) fn unreachable_page(app: &AppState, p: &IdentityProvider) -> Response {
    app.metrics.sign_in_failed("upstream_unreachable");
    refusal_page(
        app,
        StatusCode::BAD_GATEWAY,
        "The sign-in service is not answering",
        format!(
            "{} cannot be reached right now. Try again in a few minutes, or go back to the application and sign in another way.",
            p.name
        ),
    )
}

/// A 429 page past `rate_limits.sign_in_per_ip`: each round trip writes a
/// row and may call the provider, so a stranger's are bounded like sign-ins.
/// The IP is read before awaiting: the future must not hold the request.
fn over_ip_limit<'a>(
    app: &'a AppState,
    request: &Request,
) -> impl Future<Output = Option<Response>> + use<'a> {
    let ip = client_ip::key_of(request, &app.config.rate_limits.trusted_proxies);
    let limit = app.config.rate_limits.sign_in_per_ip;
    over_limit(app, Kind::SignIn, limit, ip, "upstream_sign_in")
}

#[derive(serde::Deserialize)]
pub struct StartQuery {
    request: Option<String>,
}

/// `GET /authorize/upstream/{id}`: leave for the provider.
pub async fn start(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    q: Result<Query<StartQuery>, QueryRejection>,
    request: Request,
) -> Response {
    if let Some(r) = over_ip_limit(&app, &request).await {
        return r;
    }
    let Ok(Query(q)) = q else {
        return bad_request(&app, "The sign-in link is malformed.");
    };
    let headers = request.headers();
    let Some(p) = app.config.identity_providers.iter().find(|p| p.id == id) else {
        return bad_request(&app, "There is no such way to sign in here.");
    };
    let browser = match session::find(&app, headers).await {
        Ok(Some(b)) => b,
        Ok(None) => return bad_request(&app, super::forms::SESSION_EXPIRED),
        Err(e) => return or_error_page(&app, Err(e)),
    };
    let request = q
        .request
        .as_deref()
        .and_then(|t| ticket::open(&app, t, &browser.session.csrf));
    let Some(request) = request else {
        return bad_request(
            &app,
            "This request expired. Go back to the application and start again.",
        );
    };
    let discovered = match app.upstream.discover(p).await {
        Ok(d) => d,
        Err(failure) => {
            let fields = serde_json::json!({"provider": p.id, "client_id": request.client_id, "reason": failure.to_string()});
            app.audit
                .record("upstream_sign_in_failed", app.clock.now(), fields)
                .await;
            return unreachable_page(&app, p);
        }
    };
    or_error_page(&app, leave(&app, p, &discovered, &browser, &request).await)
}

/// Record the sign-in and send the browser to the provider (303).
async fn leave(
    app: &AppState,
    p: &IdentityProvider,
    discovered: &provider::Discovered,
    browser: &BrowserSession,
    request: &AuthorizationRequest,
) -> crate::error::Result<Response> {
    let state = random_token(32).map_err(crate::error::Error::internal)?;
    let (nonce, verifier) = derived(app, &state);
    let now = app.clock.now();
    let login = UpstreamLogin {
        provider: p.id.clone(),
        session_hash: browser.id_hash.clone(),
        request: serde_json::to_string(request).map_err(crate::error::Error::internal)?,
        expires_at: now + LOGIN_TTL,
    };
    app.store
        .begin_upstream_login(&app.hasher.hash(&state), &login, now)
        .await?;
    let redirect_uri = callback_uri(app);
    let url = provider::authorization_url(
        p,
        discovered,
        &provider::AuthorizationRequest {
            state: &state,
            nonce: &nonce,
            verifier: &verifier,
            redirect_uri: &redirect_uri,
        },
    );
    Ok(see_other(url.as_str(), None))
}

fn see_other(target: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(target) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_cookie(response, cookie)
}

#[derive(serde::Deserialize)]
pub struct Callback {
    pub(super) code: Option<String>,
    state: Option<String>,
    pub(super) iss: Option<String>,
    pub(super) error: Option<String>,
}

const NOT_VALID: &str = "This sign-in response cannot be used: it was already used, it expired, \
     or it was not started in this browser. Go back to the application and start again.";

/// `GET /authorize/upstream/callback`: the provider's answer.
pub async fn callback(
    State(app): State<Arc<AppState>>,
    q: Result<Query<Callback>, QueryRejection>,
    request: Request,
) -> Response {
    if let Some(r) = over_ip_limit(&app, &request).await {
        return r;
    }
    let Ok(Query(q)) = q else {
        return bad_request(&app, NOT_VALID);
    };
    let headers = request.headers();
    let ip = client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    let now = app.clock.now();
    let Some(state) = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 256)
    else {
        return bad_request(&app, NOT_VALID);
    };
    // Spent first: whatever follows, this state never works twice.
    let login = match app.store.take_upstream_login(&app.hasher.hash(state)).await {
        Ok(Some(login)) if login.expires_at > now => login,
        Ok(_) => return refused_callback(&app, None, "unknown, used or expired state").await,
        Err(e) => return or_error_page(&app, Err(e.into())),
    };
    let p = app
        .config
        .identity_providers
        .iter()
        .find(|p| p.id == login.provider);
    let Some(p) = p else {
        return refused_callback(&app, None, "provider no longer configured").await;
    };
    let browser = match session::find(&app, headers).await {
        Ok(Some(b)) if b.id_hash == login.session_hash => b,
        Ok(_) => {
            let why = "callback in another browser session";
            return refused_callback(&app, Some(p), why).await;
        }
        Err(e) => return or_error_page(&app, Err(e)),
    };
    let Ok(request) = serde_json::from_str::<AuthorizationRequest>(&login.request) else {
        return bad_request(&app, NOT_VALID);
    };
    let browser = super::upstream_person::Browser {
        session: &browser,
        ip: &ip,
    };
    let r = super::upstream_person::finish(&app, p, browser, &request, state, &q).await;
    or_error_page(&app, r)
}

/// An OAuth error code as shown: short and plain.
pub(super) fn short(error: &str) -> String {
    error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

async fn refused_callback(app: &AppState, p: Option<&IdentityProvider>, reason: &str) -> Response {
    app.metrics.sign_in_failed("upstream_callback_refused");
    let fields = serde_json::json!({"provider": p.map(|p| p.id.as_str()), "reason": reason});
    app.audit
        .record("upstream_sign_in_failed", app.clock.now(), fields)
        .await;
    bad_request(app, NOT_VALID)
}

/// Hand the browser to `/authorize/continue` for `request` under `fresh`.
pub(super) fn continue_with(
    app: &AppState,
    fresh: &BrowserSession,
    request: &AuthorizationRequest,
) -> Response {
    let sealed = ticket::seal(app, request, &fresh.session.csrf);
    let target = format!(
        "{}/authorize/continue?request={sealed}",
        app.config.issuer.path()
    );
    see_other(&target, fresh.set_cookie.clone())
}
