//! `GET|POST /authorize` (also `/oauth/authorize`): the authorization
//! endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1), and the sign-in and consent
//! steps behind it.
//!
//! 1. The client and redirect URI are checked first; if either cannot be
//!    trusted the person sees an error page and is never redirected.
//! 2. Other errors redirect to the client with `error`, `state` and `iss`.
//! 3. A person who is not signed in gets the sign-in page; one whose remembered
//!    consent covers the request goes straight back with a code; otherwise the
//!    consent page asks for what is new.

mod consent;
mod respond;
mod sign_in;
mod ticket;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

pub use consent::{consent, continue_after_sign_in};
pub use sign_in::sign_in;

use super::body::{MAX_FORM_BYTES, OAuthForm, read_limited};
use super::client_ip;
use super::pages as page;
use super::session::{self, Current};
use crate::error::Result;
use crate::oauth::authorize::{AuthorizationRequest, Params, trusted_redirect, validate};
use crate::oauth::client::{GrantType, RegistrationRules};
use crate::oauth::metadata_document::is_document_url;
use crate::state::AppState;
use crate::store::clients::StoredClient;
use bytes::Bytes;
use tessera_resource::scope::ScopeSet;

/// A posted form of the person's pages (authorize, sign-in, consent): its
/// head and its body, read like the OAuth endpoints' bodies. A body that is
/// too large, broken off or late gets the error page that says which.
async fn read_form(
    app: &AppState,
    request: Request,
) -> std::result::Result<(HeaderMap, Bytes), Response> {
    let headers = request.headers().clone();
    match read_limited(request, MAX_FORM_BYTES).await {
        Ok(body) => Ok((headers, body)),
        Err(why) => Err(bad_request(app, capitalized(&why))),
    }
}

/// A reason worded for an OAuth description, as a sentence on a page.
fn capitalized(why: &str) -> String {
    let mut chars = why.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

fn bad_request(app: &AppState, message: impl Into<String>) -> Response {
    page::error(
        app,
        StatusCode::BAD_REQUEST,
        "This sign-in link cannot be used",
        message,
    )
}

/// Turn a `Result<Response>` whose error is a server fault into a page.
fn or_error_page(app: &AppState, r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "authorization step failed");
        page::error(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again in a moment.",
        )
    })
}

/// A 429 page when this IP went over `limit` requests in the window.
fn over_limit(
    app: &AppState,
    limiter: &tessera_resource::limits::Windows,
    limit: u32,
    request: &Request,
    name: &'static str,
) -> Option<Response> {
    let trusted = &app.config.rate_limits.trusted_proxies;
    let ip = client_ip::key(client_ip::client_ip(
        request.extensions(),
        request.headers(),
        trusted,
    ));
    let quota = limiter.check(&ip, limit, app.clock.now()).err()?;
    app.metrics.rate_limited(name);
    let mut response = page::error(
        app,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        format!(
            "Too many requests from your network. Try again in {} seconds.",
            quota.reset.max(1)
        ),
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(quota.reset.max(1)),
    );
    crate::http::error::quota_headers(response.headers_mut(), &quota);
    Some(response)
}

pub async fn authorize_get(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Some(r) = over_limit(
        &app,
        &app.limits.authorize,
        app.config.rate_limits.authorize_per_ip,
        &request,
        "authorize",
    ) {
        return r;
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    match OAuthForm::parse(query.as_bytes()) {
        Ok(form) => authorize(&app, request.headers(), &form).await,
        Err(e) => bad_request(&app, e.description),
    }
}

pub async fn authorize_post(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Some(r) = over_limit(
        &app,
        &app.limits.authorize,
        app.config.rate_limits.authorize_per_ip,
        &request,
        "authorize",
    ) {
        return r;
    }
    let (headers, body) = match read_form(&app, request).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    match OAuthForm::parse(&body) {
        Ok(form) => authorize(&app, &headers, &form).await,
        Err(e) => bad_request(&app, e.description),
    }
}

async fn authorize(app: &AppState, headers: &HeaderMap, form: &OAuthForm) -> Response {
    let Some(client_id) = form.get("client_id") else {
        return bad_request(
            app,
            "The request does not name an application (client_id is missing).",
        );
    };
    let client = match find_client(app, client_id).await {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let redirect_uri =
        match trusted_redirect(&client.metadata.redirect_uris, form.get("redirect_uri")) {
            Ok(uri) => uri,
            Err(why) => return bad_request(app, why.0),
        };
    let state = form.get("state");
    let status = StatusCode::FOUND;
    if !client.metadata.allows(GrantType::AuthorizationCode) {
        let e = crate::error::Error::unauthorized_client(
            "this client is not registered for the authorization code grant",
        );
        return respond::error(app, &redirect_uri, state, &e, status);
    }
    let params = Params {
        response_type: form.get("response_type"),
        redirect_uri: form.get("redirect_uri"),
        scope: form.get("scope"),
        state,
        code_challenge: form.get("code_challenge"),
        code_challenge_method: form.get("code_challenge_method"),
        resources: form.all("resource").collect(),
        prompt: form.get("prompt"),
    };
    let request = match validate(
        client_id,
        redirect_uri.clone(),
        &params,
        &app.config.resources,
        &app.config.scopes,
    ) {
        Ok(r) => r,
        Err(e) => return respond::error(app, &redirect_uri, state, &e, status),
    };
    let r = async {
        let current = session::find_or_start(app, headers).await?;
        proceed(app, current, &request, status).await
    };
    or_error_page(app, r.await)
}

/// The client named by `client_id`: registered, or described by a metadata
/// document at that URL. Failures are error pages, never redirects.
async fn find_client(app: &AppState, client_id: &str) -> Result<StoredClient, Box<Response>> {
    let registration = &app.config.registration;
    if registration.metadata_documents
        && is_document_url(client_id, registration.metadata_document_loopback)
    {
        let rules = RegistrationRules {
            redirects: &registration.redirects,
            resources: &app.config.resources,
            privileged: false,
        };
        let loopback = registration.metadata_document_loopback;
        let now = app.clock.now();
        let documents = &app.metadata_documents;
        let resolved = documents.resolve(&app.store, &rules, loopback, client_id, now);
        return resolved.await.map_err(|why| {
            Box::new(bad_request(
                app,
                format!("The application's metadata document cannot be used: {why}."),
            ))
        });
    }
    match app.store.find_client(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Box::new(bad_request(
            app,
            "The application is not registered with this server. Ask it to register again.",
        ))),
        Err(e) => Err(Box::new(or_error_page(
            app,
            Err(crate::error::Error::internal(e)),
        ))),
    }
}

/// Given a session, show sign-in, show consent, or answer with a code.
async fn proceed(
    app: &AppState,
    current: Current,
    req: &AuthorizationRequest,
    status: StatusCode,
) -> Result<Response> {
    let (Some(user_id), Some(auth_time)) = (&current.session.user_id, current.session.auth_time)
    else {
        return Ok(sign_in::page(app, &current, req, None, String::new(), StatusCode::OK).await);
    };
    let granted = app
        .store
        .consent(user_id, &req.client_id)
        .await?
        .unwrap_or_default();
    let granted = ScopeSet::parse(&granted).unwrap_or_default();
    let asked = ScopeSet::parse(&req.scope).unwrap_or_default();
    if !req.force_consent && granted.covers_all(&asked) {
        return respond::code(
            app,
            req,
            user_id,
            auth_time,
            &req.scope,
            status,
            current.set_cookie,
        )
        .await;
    }
    consent::page(app, &current, req, &granted).await
}

/// What every form post of the flow checks: a live session (signed in when
/// `signed_in`), the form's CSRF token against it, and the sealed request
/// opened for that session. Any failure is an error page for the person.
async fn posted_request(
    app: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    signed_in: bool,
    page: &str,
) -> Result<(Current, AuthorizationRequest), Response> {
    let current = match session::find(app, headers).await {
        Ok(Some(c)) if !signed_in || c.session.user_id.is_some() => c,
        Ok(_) => {
            return Err(bad_request(
                app,
                "Your session expired. Go back to the application and start again.",
            ));
        }
        Err(e) => return Err(or_error_page(app, Err(e))),
    };
    if !session::csrf_matches(app, &current.session, form.get("csrf_token")) {
        return Err(bad_request(
            app,
            format!(
                "The form was not sent from this {page} page. Start again from the application."
            ),
        ));
    }
    let Some(req) = form
        .get("request")
        .and_then(|t| ticket::open(app, t, &current.session.csrf))
    else {
        return Err(bad_request(
            app,
            "This request expired. Go back to the application and start again.",
        ));
    };
    Ok((current, req))
}

fn with_cookie(mut response: Response, set_cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = set_cookie {
        response
            .headers_mut()
            .insert(axum::http::header::SET_COOKIE, c);
    }
    response
}
