//! `GET|POST /authorize` (also `/oauth/authorize`): the authorization
//! endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1), and the sign-in and consent
//! steps behind it.
//!
//! 1. The client and redirect URI are checked first; if either cannot be
//!    trusted the person sees an error page and is never redirected.
//! 2. Other errors redirect to the client with `error`, `state` and `iss`
//!    if an administrator registered it; otherwise the person sees them on
//!    a page with a link back ([`respond::early_error`]).
//! 3. Then [`crate::oauth::consent::next_step`] decides: the sign-in page for
//!    a person not signed in, the consent page for what is new, or straight
//!    back to the client with a code. For a signed-in person the request's
//!    scope is first narrowed to what they may grant ([`within_policy`],
//!    `crate::oauth::policy`): the consent page never shows, and the code
//!    never carries, more.
//!
//! The validated request travels through sign-in and consent as a sealed
//! ticket ([`ticket`]); each posted form is checked by [`forms`]. Sign-in
//! (also the account page's, [`after`]) may take a second step
//! ([`second_factor`]: a TOTP or recovery code, or enrolling one).

pub mod after;
pub mod consent;
pub mod forms;
mod respond;
mod second_factor;
pub mod sign_in;
mod ticket;
mod upstream;
mod upstream_person;

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub use consent::consent;
pub use second_factor::{enrol, second_factor};
pub use sign_in::sign_in;
pub use upstream::{callback as upstream_callback, start as upstream_start};

use super::body::OAuthForm;
use super::session::{self, BrowserSession};
use crate::error::{Error, Result};
use crate::limits::Kind;
use crate::oauth::authorize::{AuthorizationRequest, Params, trusted_redirect, validate};
use crate::oauth::client::RegistrationRules;
use crate::oauth::consent::{Next, Remembered, next_step};
use crate::oauth::metadata_document::is_document_url;
use crate::state::AppState;
use crate::store::clients::StoredClient;
use forms::{bad_request, or_error_page, over_limit, read_form};

pub async fn authorize_get(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Some(r) = over_authorize_limit(&app, &request).await {
        return r;
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    match OAuthForm::parse(query.as_bytes()) {
        Ok(form) => authorize(&app, request.headers(), &form).await,
        Err(e) => bad_request(&app, e.description),
    }
}

pub async fn authorize_post(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Some(r) = over_authorize_limit(&app, &request).await {
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

/// A 429 page when this IP made too many authorization requests. The IP is
/// read at once: the future must not hold the request (its body is not `Sync`).
fn over_authorize_limit<'a>(
    app: &'a AppState,
    request: &Request,
) -> impl Future<Output = Option<Response>> + use<'a> {
    let limit = app.config.rate_limits.authorize_per_ip;
    let ip = super::client_ip::key_of(request, &app.config.rate_limits.trusted_proxies);
    over_limit(app, Kind::Authorize, limit, ip, "authorize")
}

/// The authorization request, step by step.
async fn authorize(app: &AppState, headers: &HeaderMap, form: &OAuthForm) -> Response {
    let (client, redirect_uri) = match trusted_client(app, form).await {
        Ok(trusted) => trusted,
        Err(page) => return *page,
    };
    let request = match validated(app, &client, redirect_uri, form) {
        Ok(request) => request,
        Err(redirect) => return *redirect,
    };
    let r = async {
        let browser = session::find_or_start(app, headers).await?;
        next(app, browser, &client, &request, StatusCode::FOUND).await
    };
    or_error_page(app, r.await)
}

/// Stage one: the client and the redirect URI to answer at, or the error page.
async fn trusted_client(
    app: &AppState,
    form: &OAuthForm,
) -> Result<(StoredClient, String), Box<Response>> {
    let Some(client_id) = form.get("client_id") else {
        return Err(Box::new(bad_request(
            app,
            "The request does not name an application (client_id is missing).",
        )));
    };
    let client = find_client(app, client_id).await?;
    match trusted_redirect(&client.metadata.redirect_uris, form.get("redirect_uri")) {
        Ok(uri) => Ok((client, uri)),
        Err(why) => Err(Box::new(bad_request(app, why.0))),
    }
}

/// Stage two: everything else; an error here is redirected to the client.
fn validated(
    app: &AppState,
    client: &StoredClient,
    redirect_uri: String,
    form: &OAuthForm,
) -> Result<AuthorizationRequest, Box<Response>> {
    let state = form.get("state");
    let refuse = |e: &Error| Box::new(respond::early_error(app, client, &redirect_uri, state, e));
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
    let config = &app.config;
    validate(
        &client.client_id,
        &client.metadata,
        redirect_uri.clone(),
        &params,
        &config.resources,
        &config.scopes,
    )
    .map_err(|e| refuse(&e))
}

/// The client named by `client_id`: registered, or described by a metadata
/// document at that URL. Failures are error pages, never redirects.
async fn find_client(app: &AppState, client_id: &str) -> Result<StoredClient, Box<Response>> {
    let registration = &app.config.registration;
    let loopback = registration.metadata_document_loopback;
    if registration.metadata_documents && is_document_url(client_id, loopback) {
        let rules = RegistrationRules {
            redirects: &registration.redirects,
            resources: &app.config.resources,
            privileged: false,
        };
        let documents = &app.metadata_documents;
        let resolved = documents.resolve(&app.store, &rules, loopback, client_id, app.clock.now());
        return resolved.await.map_err(|why| {
            let why = format!("The application's metadata document cannot be used: {why}.");
            Box::new(bad_request(app, why))
        });
    }
    match app.store.find_client(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Box::new(bad_request(app, forms::CLIENT_GONE))),
        Err(e) => Err(Box::new(or_error_page(app, Err(e.into())))),
    }
}

/// Show sign-in, show consent, or answer with a code, as
/// [`crate::oauth::consent::next_step`] decides.
async fn next(
    app: &AppState,
    browser: BrowserSession,
    client: &StoredClient,
    request: &AuthorizationRequest,
    status: StatusCode,
) -> Result<Response> {
    let person = browser.person();
    let asked = request;
    let narrowed;
    let request = match person {
        Some(p) => match within_policy(app, p.user_id, request).await? {
            Ok(Some(within)) => {
                narrowed = within;
                &narrowed
            }
            Ok(None) => request,
            Err(refused) => return Ok(refused),
        },
        None => request,
    };
    let remembered = match person {
        Some(p) => remembered_consent(app, p.user_id, &request.client_id).await?,
        None => Remembered::default(),
    };
    let remembered = remembered.for_resources(&request.resources);
    match next_step(person, request, &remembered) {
        Next::SignIn => {
            let name = client.metadata.client_name.clone();
            let after = after::After::Authorize(Box::new(request.clone()));
            let empty = String::new();
            Ok(sign_in::page(
                app,
                &browser,
                name,
                &after,
                None,
                empty,
                StatusCode::OK,
            ))
        }
        Next::Consent(_, new) => {
            // What the person was asked for and may not grant: named, not offered.
            let withheld: Vec<String> = (asked.scope.iter())
                .filter(|s| !request.scope.contains(s))
                .map(str::to_owned)
                .collect();
            consent::page(app, &browser, client, request, &new, withheld)
        }
        Next::Code(person, scope) => {
            let cookie = browser.set_cookie.clone();
            respond::code(app, request, person, &scope, status, cookie).await
        }
    }
}

/// The request narrowed to what `user_id` may grant under the scope policy
/// (`Ok(None)`: no policy, or nothing narrowed). Nothing left to grant is
/// `access_denied` at the client; a disabled person, an error page.
pub(super) async fn within_policy(
    app: &AppState,
    user_id: &str,
    request: &AuthorizationRequest,
) -> Result<Result<Option<AuthorizationRequest>, Response>> {
    let Some(policy) = &app.config.scope_policy else {
        return Ok(Ok(None));
    };
    let Some(allowed) = crate::users::grantable(&app.store, Some(policy), user_id).await? else {
        return Ok(Err(bad_request(
            app,
            "This account is disabled. Ask your administrator.",
        )));
    };
    let scope = allowed.narrow(&request.scope);
    if scope.is_empty() {
        let e = Error::new(
            crate::error::ErrorCode::AccessDenied,
            "the person may not grant any of the requested scopes",
        );
        let state = request.state.as_deref();
        let status = StatusCode::SEE_OTHER;
        return Ok(Err(respond::error(
            app,
            &request.redirect_uri,
            state,
            &e,
            status,
        )));
    }
    if scope == request.scope {
        return Ok(Ok(None));
    }
    Ok(Ok(Some(AuthorizationRequest {
        scope,
        ..request.clone()
    })))
}

/// What `user_id` allowed `client_id` before, per resource.
async fn remembered_consent(app: &AppState, user_id: &str, client_id: &str) -> Result<Remembered> {
    let rows = app.store.consent(user_id, client_id).await?;
    Ok(Remembered::new(rows))
}

#[derive(serde::Deserialize)]
pub struct ContinueQuery {
    request: String,
}

/// `GET /authorize/continue`: where sign-in sends the browser (303).
pub async fn continue_after_sign_in(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ContinueQuery>,
) -> Response {
    let browser = match session::find(&app, &headers).await {
        Ok(Some(b)) if b.person().is_some() => b,
        Ok(_) => return bad_request(&app, forms::SESSION_EXPIRED),
        Err(e) => return or_error_page(&app, Err(e)),
    };
    let Some(request) = ticket::open(&app, &q.request, &browser.session.csrf) else {
        return bad_request(
            &app,
            "This sign-in request expired. Go back to the application and start again.",
        );
    };
    let client = match app.store.find_client(&request.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return bad_request(&app, forms::CLIENT_GONE),
        Err(e) => return or_error_page(&app, Err(e.into())),
    };
    let r = next(&app, browser, &client, &request, StatusCode::FOUND).await;
    or_error_page(&app, r)
}
