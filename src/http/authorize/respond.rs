//! Answers to the client: redirects to its `redirect_uri` carrying either a
//! code or an error, always with `state` (when sent) and `iss` (RFC 9207).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_resource::scope::ScopeSet;
use url::Url;

use crate::error::{Error, Result};
use crate::http::session::Person;
use crate::oauth::authorize::AuthorizationRequest;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::codes::NewCode;

/// 302 after a GET; 303 after a POST that carried credentials or consent
/// (RFC 9700 §4.12: never 307, which would replay the form to the client).
pub fn redirect(
    app: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    status: StatusCode,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return crate::http::pages::error(
            app,
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The redirect URI is not valid.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", app.config.issuer.as_str());
    }
    let mut response = status.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = set_cookie {
        h.insert(header::SET_COOKIE, c);
    }
    response
}

/// Redirect an OAuth error to the client (RFC 6749 §4.1.2.1).
pub fn error(
    app: &AppState,
    redirect_uri: &str,
    state: Option<&str>,
    e: &Error,
    status: StatusCode,
) -> Response {
    let params = [
        ("error", e.code.as_str()),
        ("error_description", e.description.as_ref()),
    ];
    redirect(app, redirect_uri, &params, state, status, None)
}

/// Issue a code for `req` on behalf of `person` with the granted `scope`,
/// and redirect to the client with it.
pub async fn code(
    app: &AppState,
    req: &AuthorizationRequest,
    person: Person<'_>,
    scope: &ScopeSet,
    status: StatusCode,
    set_cookie: Option<HeaderValue>,
) -> Result<Response> {
    let code = ordered_token(app.clock.now_millis()).map_err(Error::internal)?;
    let hash = app.hasher.token_key(&code);
    let now = app.clock.now();
    app.store
        .insert_code(&NewCode {
            hash: &hash,
            client_id: &req.client_id,
            user_id: person.user_id,
            redirect_uri: &req.redirect_uri,
            redirect_uri_sent: req.redirect_uri_sent,
            code_challenge: &req.code_challenge,
            scope: &scope.to_string(),
            resources: &req.resources,
            auth_time: person.auth_time,
            expires_at: now + app.config.tokens.authorization_code_ttl.as_secs() as i64,
        })
        .await?;
    app.store.touch_client(&req.client_id, now).await?;
    Ok(redirect(
        app,
        &req.redirect_uri,
        &[("code", &code)],
        req.state.as_deref(),
        status,
        set_cookie,
    ))
}
