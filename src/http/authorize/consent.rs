//! The consent page, and `POST /authorize/consent` where the person allows
//! (all or some of the listed scopes) or denies.
//!
//! Only what is new is asked: scopes a remembered consent already covers are
//! listed as already allowed. Allowing merges the chosen scopes into the
//! remembered consent (step-up after `insufficient_scope` extends the same
//! grant); the code carries the chosen plus the already-allowed scopes.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use url::Url;

use super::{bad_request, or_error_page, proceed, respond, ticket, with_cookie};
use crate::error::{Error, ErrorCode, Result};
use crate::http::body::OAuthForm;
use crate::http::pages::templates::{ConsentPage, ResourceView, ScopeView};
use crate::http::pages::{html, issuer_host};
use crate::http::session::{self, Current};
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;
use tessera_resource::scope::{ScopeSet, covers};
use tessera_resource::uri::is_loopback_host;

fn describe(app: &AppState, scope: &str) -> String {
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

pub async fn page(
    app: &AppState,
    current: &Current,
    req: &AuthorizationRequest,
    granted: &ScopeSet,
) -> Result<Response> {
    let client = app
        .store
        .find_client(&req.client_id)
        .await
        .map_err(Error::internal)?
        .ok_or_else(|| Error::invalid_client("the client no longer exists"))?;
    let asked = ScopeSet::parse(&req.scope).unwrap_or_default();
    let view = |s: &str, new: bool| ScopeView {
        name: s.to_owned(),
        description: describe(app, s),
        checked: true,
        new,
    };
    let fresh_consent = granted.is_empty();
    let (already, new): (Vec<&str>, Vec<&str>) = if req.force_consent {
        (Vec::new(), asked.iter().collect())
    } else {
        asked.iter().partition(|s| granted.covers(s))
    };
    let redirects = &client.metadata.redirect_uris;
    let localhost_only = !redirects.is_empty()
        && redirects
            .iter()
            .all(|u| Url::parse(u).is_ok_and(|u| u.scheme() == "http" && is_loopback_host(&u)));
    let page = ConsentPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        client_name: client
            .metadata
            .client_name
            .clone()
            .unwrap_or_else(|| "An application".to_owned()),
        // For a metadata document the URL's host is what vouches for the client
        // (the name alone can be spoofed); otherwise the registered client_uri.
        client_host: if client.created_by == "metadata_document" {
            host_of(&client.client_id)
        } else {
            client.metadata.client_uri.as_deref().and_then(host_of)
        },
        redirect_host: host_of(&req.redirect_uri).unwrap_or_default(),
        localhost_only,
        user_name: current.session.username.clone().unwrap_or_default(),
        resources: req
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
        scopes: new.iter().map(|s| view(s, !fresh_consent)).collect(),
        previously_granted: already.iter().map(|s| view(s, false)).collect(),
        action: format!("{}/authorize/consent", app.config.issuer.path()),
        csrf_token: current.session.csrf.clone(),
        request: ticket::seal(app, req, &current.session.csrf),
    };
    let response = html(
        StatusCode::OK,
        &page,
        redirect_source(&req.redirect_uri).as_deref(),
    );
    Ok(with_cookie(response, current.set_cookie.clone()))
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
    let current = match session::find(&app, &headers).await {
        Ok(Some(c)) if c.session.user_id.is_some() => c,
        Ok(_) => {
            return bad_request(
                &app,
                "Your session expired. Go back to the application and start again.",
            );
        }
        Err(e) => return or_error_page(&app, Err(e)),
    };
    let Some(req) = ticket::open(&app, &q.request, &current.session.csrf) else {
        return bad_request(
            &app,
            "This sign-in request expired. Go back to the application and start again.",
        );
    };
    or_error_page(&app, proceed(&app, current, &req, StatusCode::FOUND).await)
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

pub async fn consent(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let (headers, body) = match super::read_form(&app, request).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Some((form, ticked)) = parse_form(&body) else {
        return bad_request(&app, "The consent form was malformed.");
    };
    let (current, req) = match super::posted_request(&app, &headers, &form, true, "consent").await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let r = decide(&app, &current, &req, form.get("decision"), &ticked).await;
    or_error_page(&app, r)
}

async fn decide(
    app: &AppState,
    current: &Current,
    req: &AuthorizationRequest,
    decision: Option<&str>,
    ticked: &[String],
) -> Result<Response> {
    let status = StatusCode::SEE_OTHER;
    let (Some(user_id), Some(auth_time)) = (&current.session.user_id, current.session.auth_time)
    else {
        return Err(Error::internal(anyhow::anyhow!(
            "consent without a signed-in session"
        )));
    };
    let asked = ScopeSet::parse(&req.scope).unwrap_or_default();
    let granted = ScopeSet::parse(
        &app.store
            .consent(user_id, &req.client_id)
            .await?
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let kept: Vec<&str> = if req.force_consent {
        Vec::new()
    } else {
        asked.iter().filter(|s| granted.covers(s)).collect()
    };
    let chosen: Vec<&str> = asked
        .iter()
        .filter(|s| ticked.iter().any(|t| t == s) || kept.contains(s))
        .collect();
    if decision != Some("allow") || chosen.is_empty() {
        let fields = serde_json::json!({"user_id": user_id, "client_id": req.client_id, "requested_scopes": req.scope});
        app.audit
            .record_durably("consent_denied", app.clock.now(), fields)
            .await
            .map_err(Error::internal)?;
        let e = Error::new(ErrorCode::AccessDenied, "the person did not allow access");
        return Ok(respond::error(
            app,
            &req.redirect_uri,
            req.state.as_deref(),
            &e,
            status,
        ));
    }
    let mut merged = granted.clone();
    chosen.iter().for_each(|s| merged.insert(s));
    app.store
        .save_consent(
            user_id,
            &req.client_id,
            &merged.to_string(),
            app.clock.now(),
        )
        .await?;
    let fields = serde_json::json!({
        "user_id": user_id, "client_id": req.client_id, "granted_scopes": chosen.join(" "), "requested_scopes": req.scope,
    });
    app.audit
        .record_durably("consent_granted", app.clock.now(), fields)
        .await
        .map_err(Error::internal)?;
    let scope = chosen.join(" ");
    respond::code(app, req, user_id, auth_time, &scope, status, None).await
}
