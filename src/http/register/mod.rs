//! `POST /register`: dynamic client registration (RFC 7591), also at the flows
//! document's `/resource-server/oauth/register`; and RFC 7592 management of a
//! registration at `/register/{client_id}` ([`manage`]).
//!
//! JSON in, 201 JSON out with the full registered metadata echoed (§3.2.1),
//! `client_secret` and `client_secret_expires_at: 0` for confidential clients,
//! and `registration_client_uri` + `registration_access_token` (RFC 7592 §3).
//! The 201 is sent only after the client row is committed, so a client that
//! was told it exists survives a crash. An initial access token (§3, sent as a
//! Bearer token) unlocks `client_credentials` clients; open registration can be
//! switched off, leaving only token-holders. Registrations are rate-limited per
//! IP, generously (a hosted connector registers each of its users
//! from one egress IP).

pub mod manage;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::body::{MAX_JSON_BYTES, has_content_type, read_body};
use crate::clients::{Origin, create};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::client::{ClientMetadata, RegistrationRequest, RegistrationRules};
use crate::state::AppState;

/// A registration as answered by `POST /register` and RFC 7592 reads.
#[derive(Serialize)]
pub struct Registered<'a> {
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<&'a str>,
    #[serde(flatten)]
    pub metadata: &'a ClientMetadata,
}

impl Registered<'_> {
    pub fn into_response(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

pub fn client_uri(app: &AppState, client_id: &str) -> String {
    app.config
        .issuer
        .endpoint(&format!("/register/{client_id}"))
}

/// The value of a `Bearer` Authorization header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<Result<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let invalid = || {
        Error::new(
            ErrorCode::InvalidToken,
            "the Authorization header is not a Bearer token",
        )
    };
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(invalid),
    )
}

/// `Ok(true)` when a valid initial access token was presented.
fn privileged(app: &AppState, headers: &HeaderMap) -> Result<bool> {
    let Some(token) = bearer(headers) else {
        if !app.config.registration.open {
            return Err(Error::new(
                ErrorCode::InvalidToken,
                "registration requires an initial access token",
            ));
        }
        return Ok(false);
    };
    let token = token?;
    match &app.initial_access_token {
        Some(expected) if app.hasher.verify(token, expected) => Ok(true),
        _ => Err(Error::new(
            ErrorCode::InvalidToken,
            "the initial access token is not valid",
        )),
    }
}

/// Count the registration against its IP.
async fn rate_limit(app: &AppState, ip: &str) -> Result<()> {
    app.limits
        .registration(ip, app.clock.now())
        .await
        .map(|_| ())
        .map_err(|quota| {
            app.metrics.rate_limited("registration");
            Error::over_quota(quota)
        })
}

pub async fn register(State(app): State<Arc<AppState>>, request: Request) -> Result<Response> {
    let ip = crate::http::client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    rate_limit(&app, &ip).await?;
    if !has_content_type(request.headers(), "application/json") {
        return Err(Error::invalid_request(
            "the registration request must be application/json",
        ));
    }
    let privileged = privileged(&app, request.headers())?;
    let body = read_body(request, MAX_JSON_BYTES, ErrorCode::InvalidRequest).await?;
    let req: RegistrationRequest = serde_json::from_slice(&body).map_err(|e| {
        Error::invalid_client_metadata(format!("the client metadata is not valid JSON: {e}"))
    })?;
    let rules = RegistrationRules {
        redirects: &app.config.registration.redirects,
        resources: &app.config.resources,
        privileged,
    };
    let metadata = rules.validate(req)?;
    let created = create(
        &app.store,
        &app.hasher,
        &metadata,
        Origin::Registration,
        false,
        app.clock.now(),
    )
    .await
    .map_err(crate::store::Error::classify)?;
    let fields = serde_json::json!({
        "client_id": created.client_id, "client_name": metadata.client_name, "privileged": privileged, "ip_address": ip,
    });
    app.audit
        .record_durably("client_registered", app.clock.now(), fields)
        .await?;
    app.metrics.registered();
    let secret = created.client_secret.as_ref().map(|s| s.expose());
    Ok(Registered {
        client_id: &created.client_id,
        client_secret: secret,
        client_id_issued_at: created.issued_at,
        client_secret_expires_at: secret.map(|_| 0),
        registration_client_uri: Some(client_uri(&app, &created.client_id)),
        registration_access_token: created
            .registration_access_token
            .as_ref()
            .map(|t| t.expose()),
        metadata: &metadata,
    }
    .into_response(StatusCode::CREATED))
}
