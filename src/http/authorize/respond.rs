//! Answers to the client: redirects to its `redirect_uri` carrying either a
//! code or an error, always with `state` (when sent) and `iss` (RFC 9207).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_resource::scope::ScopeSet;
use url::Url;

use crate::clients::Origin;
use crate::error::{Error, Result};
use crate::http::pages::templates::{ErrorPage, ReturnLink};
use crate::http::pages::{html, issuer_host};
use crate::http::session::Person;
use crate::oauth::authorize::AuthorizationRequest;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::clients::StoredClient;
use crate::store::codes::NewCode;

/// The redirect URI with the answer's parameters, `state` and `iss`.
fn answer_url(
    app: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Option<Url> {
    let mut url = Url::parse(redirect_uri).ok()?;
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
    Some(url)
}

fn invalid_redirect(app: &AppState) -> Response {
    crate::http::pages::error(
        app,
        StatusCode::BAD_REQUEST,
        "Invalid redirect",
        "The redirect URI is not valid.",
    )
}

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
    let Some(url) = answer_url(app, redirect_uri, params, state) else {
        return invalid_redirect(app);
    };
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

/// An error found before the person saw anything, for `client`: redirected
/// only if an administrator registered the client. Anyone can register a
/// redirect URI by open registration or a metadata document, and an
/// automatic error redirect to it would make this server an open redirector
/// (RFC 9700 §4.11.2); such a client's person gets a page naming the error
/// and the host, with a link that carries the same answer.
pub fn early_error(
    app: &AppState,
    client: &StoredClient,
    redirect_uri: &str,
    state: Option<&str>,
    e: &Error,
) -> Response {
    if client.created_by == Origin::Admin.as_str() {
        return error(app, redirect_uri, state, e, StatusCode::FOUND);
    }
    let params = [
        ("error", e.code.as_str()),
        ("error_description", e.description.as_ref()),
    ];
    let Some(url) = answer_url(app, redirect_uri, &params, state) else {
        return invalid_redirect(app);
    };
    let host = url.host_str().unwrap_or(url.scheme()).to_owned();
    let page = ErrorPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        title: "The application's request cannot be used".to_owned(),
        message: format!("{} ({}).", e.description, e.code.as_str()),
        detail: None,
        return_to: Some(ReturnLink {
            href: url.into(),
            host,
        }),
    };
    html(StatusCode::BAD_REQUEST, &page, None)
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
