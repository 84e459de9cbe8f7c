//! RFC 7592 client registration management: `GET`, `PUT` and `DELETE` on
//! `/register/{client_id}` with the registration access token as a Bearer
//! token. A missing or wrong token, or a client that no longer exists, is
//! 401 `invalid_token` (§2: the server must not reveal which).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Registered, bearer, client_uri};
use crate::error::{Error, ErrorCode, Result};
use crate::http::body::{MAX_JSON_BYTES, has_content_type, read_body};
use crate::oauth::client::{GrantType, RegistrationRequest, RegistrationRules, no_wider};
use crate::secrets::new_client_secret;
use crate::state::AppState;
use crate::store::clients::StoredClient;

/// The client, if `headers` carry its registration access token; with the
/// token's stored hash (an update rotates it only while it is still this).
async fn authorized(
    app: &AppState,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<(StoredClient, Vec<u8>)> {
    let denied = || {
        Error::new(
            ErrorCode::InvalidToken,
            "the registration access token is not valid for this client",
        )
    };
    let token = bearer(headers).ok_or_else(denied)??;
    let Some(Some(hash)) = app.store.registration_token_hash(client_id).await? else {
        return Err(denied());
    };
    if !app.hasher.verify(token, &hash) {
        return Err(denied());
    }
    let client = app.store.find_client(client_id).await?.ok_or_else(denied)?;
    Ok((client, hash))
}

/// The registration as RFC 7592 §3 returns it; with the new registration
/// access token after an update.
fn registration(
    app: &AppState,
    client: &StoredClient,
    token: Option<&str>,
    status: StatusCode,
) -> Response {
    Registered {
        client_id: &client.client_id,
        client_secret: None,
        client_id_issued_at: client.client_id_issued_at,
        client_secret_expires_at: None,
        registration_client_uri: Some(client_uri(app, &client.client_id)),
        registration_access_token: token,
        metadata: &client.metadata,
    }
    .into_response(status)
}

pub async fn read(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (client, _) = authorized(&app, &id, &headers).await?;
    Ok(registration(&app, &client, None, StatusCode::OK))
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response> {
    let headers = request.headers().clone();
    let body = read_body(request, MAX_JSON_BYTES, ErrorCode::InvalidRequest).await?;
    let (client, token_hash) = authorized(&app, &id, &headers).await?;
    if !has_content_type(&headers, "application/json") {
        return Err(Error::invalid_request(
            "the update must be application/json",
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_client_metadata(format!("not valid JSON: {e}")))?;
    if doc.get("client_id").and_then(|v| v.as_str()) != Some(id.as_str()) {
        return Err(Error::invalid_request(
            "the update must carry this client's client_id (RFC 7592 §2.2)",
        ));
    }
    let req: RegistrationRequest =
        serde_json::from_value(doc).map_err(|e| Error::invalid_client_metadata(e.to_string()))?;
    let rules = RegistrationRules {
        redirects: &app.config.registration.redirects,
        resources: &app.config.resources,
        // A machine client registered with an initial access token keeps that privilege.
        privileged: client.metadata.allows(GrantType::ClientCredentials),
    };
    let metadata = rules.validate(req)?;
    if metadata.token_endpoint_auth_method.has_secret()
        != client.metadata.token_endpoint_auth_method.has_secret()
    {
        return Err(Error::invalid_client_metadata(
            "a registration cannot switch between a public and a confidential client: register a new one",
        ));
    }
    no_wider(&client.metadata, &metadata)?;
    // RFC 7592 §2.2 lets the server rotate the token on update: a token
    // that leaked stops working at the owner's next update.
    let next = new_client_secret().map_err(Error::internal)?;
    let next_hash = app.hasher.hash(next.expose());
    let store = &app.store;
    if !store
        .update_registration(&id, &metadata, &token_hash, &next_hash)
        .await?
    {
        return Err(Error::new(
            ErrorCode::InvalidToken,
            "the registration access token is not valid for this client",
        ));
    }
    tracing::info!(client.id = %id, "client registration updated");
    let updated = StoredClient { metadata, ..client };
    Ok(registration(
        &app,
        &updated,
        Some(next.expose()),
        StatusCode::OK,
    ))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    authorized(&app, &id, &headers).await?;
    app.store.remove_client(&id).await?;
    app.metrics.registrations_removed("client", 1);
    let fields = serde_json::json!({"client_id": id, "by": "the client (RFC 7592)"});
    app.audit
        .record_durably("client_removed", app.clock.now(), fields)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
