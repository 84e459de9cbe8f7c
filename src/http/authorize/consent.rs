//! The consent page, and `POST /authorize/consent` where the person allows
//! (all or some of the listed scopes) or denies. What is asked and what an
//! answer grants are [`crate::oauth::consent`]'s rules.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_resource::scope::covers;
use tessera_resource::uri::is_loopback_host;
use url::Url;

use super::forms::{bad_request, or_error_page, posted_request, read_form, with_cookie};
use super::{remembered_consent, respond, ticket};
use crate::clients::Origin;
use crate::error::{Error, ErrorCode, Result};
use crate::http::body::OAuthForm;
use crate::http::pages::templates::{ConsentPage, ResourceView, ScopeView};
use crate::http::pages::{html, issuer_host};
use crate::http::session::BrowserSession;
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::consent::{Answer, Asked, answer};
use crate::state::AppState;
use crate::store::clients::StoredClient;

/// What `scope` lets an application do, as the catalog describes it.
pub fn describe(app: &AppState, scope: &str) -> String {
    if scope == crate::oauth::offline_access::OFFLINE_ACCESS {
        return crate::oauth::offline_access::DESCRIPTION.to_owned();
    }
    app.config
        .scopes
        .entry(scope)
        .or_else(|| app.config.scopes.iter().find(|e| covers(&e.name, scope)))
        .map(|e| e.description.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| scope.to_owned())
}

fn host_of(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    match (url.scheme(), url.host_str()) {
        ("http" | "https", Some(h)) => Some(match url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        }),
        (scheme, Some(h)) => Some(format!("{scheme}://{h}")),
        (scheme, None) => Some(format!("{scheme}:")),
    }
}

/// The CSP `form-action` source for the redirect target of the consent form.
fn redirect_source(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// Who the consent page says the client is. Only a host something vouches
/// for is shown as its origin: a metadata document's URL, an
/// administrator's registration, or else where the redirect goes (a name and
/// `client_uri` sent to open registration are the client's word alone:
/// "Claude from claude.ai" must not be shown for a client whose redirect
/// goes to attacker.example).
struct Identity {
    vouched: String,
    claimed: Option<String>,
    unverified: bool,
    self_registered: bool,
}

impl Identity {
    fn of(client: &StoredClient, redirect_uri: &str) -> Self {
        let redirect_host = host_of(redirect_uri).unwrap_or_default();
        let claimed = client.metadata.client_uri.as_deref().and_then(host_of);
        let (vouched, self_registered) = match client.created_by.as_str() {
            "metadata_document" => (host_of(&client.client_id).unwrap_or_default(), false),
            admin if admin == Origin::Admin.as_str() => {
                (claimed.clone().unwrap_or(redirect_host), false)
            }
            _ => (redirect_host, true),
        };
        let claimed = claimed.filter(|c| *c != vouched);
        Self {
            unverified: self_registered || claimed.is_some(),
            vouched,
            claimed,
            self_registered,
        }
    }
}

/// The consent page for what `asked` holds.
pub fn page(
    app: &AppState,
    browser: &BrowserSession,
    client: &StoredClient,
    request: &AuthorizationRequest,
    asked: &Asked,
    withheld: Vec<String>,
) -> Result<Response> {
    let view = |s: &str, new: bool| ScopeView {
        name: s.to_owned(),
        description: describe(app, s),
        checked: true,
        new,
    };
    let redirects = &client.metadata.redirect_uris;
    let localhost_only = !redirects.is_empty()
        && redirects
            .iter()
            .all(|u| Url::parse(u).is_ok_and(|u| u.scheme() == "http" && is_loopback_host(&u)));
    let identity = Identity::of(client, &request.redirect_uri);
    let page = ConsentPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        client_name: client
            .metadata
            .client_name
            .clone()
            .unwrap_or_else(|| "An application".to_owned()),
        client_host: identity.vouched,
        claimed_host: identity.claimed,
        unverified: identity.unverified,
        self_registered: identity.self_registered,
        redirect_host: host_of(&request.redirect_uri).unwrap_or_default(),
        localhost_only,
        user_name: browser.session.username.clone().unwrap_or_default(),
        resources: request
            .resources
            .iter()
            .map(|uri| ResourceView {
                name: app
                    .config
                    .resources
                    .find(uri)
                    .map_or_else(|| uri.clone(), |r| r.name.clone()),
                uri: uri.clone(),
            })
            .collect(),
        scopes: asked.new.iter().map(|s| view(s, !asked.first)).collect(),
        previously_granted: asked.already.iter().map(|s| view(s, false)).collect(),
        withheld,
        action: format!("{}/authorize/consent", app.config.issuer.path()),
        csrf_token: browser.session.csrf.clone(),
        request: ticket::seal(app, request, &browser.session.csrf),
    };
    let form_action = redirect_source(&request.redirect_uri);
    let response = html(StatusCode::OK, &page, form_action.as_deref());
    Ok(with_cookie(response, browser.set_cookie.clone()))
}

/// Parse the consent form; `scope` repeats, one per ticked box.
fn parse_form(body: &[u8]) -> Option<(OAuthForm, Vec<String>)> {
    let scopes = url::form_urlencoded::parse(body)
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let rest: Vec<u8> = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(body).filter(|(k, _)| k != "scope"))
        .finish()
        .into_bytes();
    Some((OAuthForm::parse(&rest).ok()?, scopes))
}

/// `POST /authorize/consent`.
pub async fn consent(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let (headers, body) = match read_form(&app, request).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Some((form, ticked)) = parse_form(&body) else {
        return bad_request(&app, "The consent form was malformed.");
    };
    let (browser, req) = match posted_request(&app, &headers, &form, true, "consent").await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let allow = form.get("decision") == Some("allow");
    let r = submit(&app, &browser, &req, allow, &ticked).await;
    or_error_page(&app, r)
}

/// The person's answer: remember it and answer the client with a code, or
/// with `access_denied`. Both are recorded before the browser is redirected.
async fn submit(
    app: &AppState,
    browser: &BrowserSession,
    req: &AuthorizationRequest,
    allow: bool,
    ticked: &[String],
) -> Result<Response> {
    let status = StatusCode::SEE_OTHER;
    let Some(person) = browser.person() else {
        return Err(Error::internal(anyhow::anyhow!(
            "consent without a signed-in session"
        )));
    };
    let user_id = person.user_id;
    let narrowed;
    let req = match super::within_policy(app, user_id, req).await? {
        Ok(Some(within)) => {
            narrowed = within;
            &narrowed
        }
        Ok(None) => req,
        Err(refused) => return Ok(refused),
    };
    let remembered = remembered_consent(app, user_id, &req.client_id).await?;
    let now = app.clock.now();
    let requested = req.scope.to_string();
    let allowed_here = remembered.for_resources(&req.resources);
    let granted = match answer(req, &allowed_here, allow, ticked) {
        Answer::Allowed { granted } => granted,
        Answer::Denied => {
            let fields = serde_json::json!({"user_id": user_id, "client_id": req.client_id, "requested_scopes": requested});
            app.audit
                .record_durably("consent_denied", now, fields)
                .await?;
            let e = Error::new(ErrorCode::AccessDenied, "the person did not allow access");
            return Ok(respond::error(
                app,
                &req.redirect_uri,
                req.state.as_deref(),
                &e,
                status,
            ));
        }
    };
    let remember = remembered.merged(&req.resources, &granted);
    app.store
        .save_consent(user_id, &req.client_id, remember, now)
        .await?;
    let fields = serde_json::json!({
        "user_id": user_id, "client_id": req.client_id, "granted_scopes": granted.to_string(),
        "requested_scopes": requested, "resources": req.resources,
    });
    app.audit
        .record_durably("consent_granted", now, fields)
        .await?;
    respond::code(app, req, person, &granted, status, None).await
}
