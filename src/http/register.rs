//! `POST /register`: dynamic client registration (RFC 7591), also at the flows
//! document's `/resource-server/oauth/register`.
//!
//! JSON in, 201 JSON out with the full registered metadata echoed (§3.2.1),
//! `client_secret` and `client_secret_expires_at: 0` for confidential clients.
//! The 201 is sent only after the client row is committed, so a client that
//! was told it exists survives a crash. An initial access token (§3, sent as
//! a Bearer token) unlocks `client_credentials` clients; open registration can
//! be switched off, leaving only token-holders.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::body::{MAX_JSON_BYTES, has_content_type, read_body};
use crate::clients::{Origin, create};
use crate::error::{Error, ErrorCode, Result};
use crate::oauth::client::{ClientMetadata, RegistrationRequest, RegistrationRules};
use crate::state::{App, AppState};

#[derive(Serialize)]
struct Registered<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    #[serde(flatten)]
    metadata: &'a ClientMetadata,
}

/// `Ok(true)` when a valid initial access token was presented.
fn privileged(app: &App, headers: &HeaderMap) -> Result<bool> {
    let invalid = || {
        Error::new(
            ErrorCode::InvalidToken,
            "the initial access token is not valid",
        )
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if !app.config.registration.open {
            return Err(Error::new(
                ErrorCode::InvalidToken,
                "registration requires an initial access token",
            ));
        }
        return Ok(false);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(invalid)?;
    match &app.initial_access_token {
        Some(expected) if app.hasher.verify(token, expected) => Ok(true),
        _ => Err(invalid()),
    }
}

pub async fn register(State(app): State<AppState>, request: Request) -> Result<Response> {
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
    .map_err(Error::internal)?;
    tracing::info!(client.id = %created.client_id, privileged, "client registered");
    let secret = created.client_secret.as_ref().map(|s| s.expose());
    let body = Registered {
        client_id: &created.client_id,
        client_secret: secret,
        client_id_issued_at: created.issued_at,
        client_secret_expires_at: secret.map(|_| 0),
        metadata: &metadata,
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
