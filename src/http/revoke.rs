//! `POST /revoke` (also `/oauth/revoke`): token revocation (RFC 7009).
//!
//! Same client authentication as the token endpoint, public clients included.
//! A refresh token takes its whole family with it; an access token's `jti`
//! joins the deny list until the token would have expired. The answer is 200
//! whatever the token was (unknown, expired, already revoked, another client's:
//! §2.2 — telling them apart would only help an attacker probe tokens).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::body::OAuthForm;
use super::client_auth::{authenticate, presented};
use crate::error::Result;
use crate::state::AppState;
use crate::store::clients::ClientAuth;

pub async fn revoke(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response> {
    let client = authenticate(&app, &presented(&headers, &form)?).await?;
    let token = form.require("token")?;
    // The hint only orders the attempts (§2.1); both kinds are always tried.
    if form.get("token_type_hint") == Some("access_token") {
        if !revoke_access(&app, &client, token).await? {
            revoke_refresh(&app, &client, token).await?;
        }
    } else if !revoke_refresh(&app, &client, token).await? {
        revoke_access(&app, &client, token).await?;
    }
    let mut response = axum::Json(serde_json::json!({})).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `true` if `token` was a refresh token (of this client or not).
async fn revoke_refresh(app: &AppState, client: &ClientAuth, token: &str) -> Result<bool> {
    let Some((family, owner)) = app
        .store
        .refresh_token_owner(&app.hasher.token_key(token))
        .await?
    else {
        return Ok(false);
    };
    if owner == client.id {
        app.store
            .revoke_family_by_id(&family, "revoked by the client", app.clock.now())
            .await?;
        let fields = serde_json::json!({"client_id": client.id, "token_type": "refresh_token", "family_id": family});
        app.audit
            .record_durably("token_revoked", app.clock.now(), fields)
            .await?;
    }
    Ok(true)
}

/// `true` if `token` was one of our access tokens (of this client or not).
async fn revoke_access(app: &AppState, client: &ClientAuth, token: &str) -> Result<bool> {
    let report = app
        .access_tokens()
        .check(token, None, app.clock.now())
        .await?;
    let Some(claims) = report.claims else {
        return Ok(false);
    };
    if claims.client_id == client.id && claims.exp > app.clock.now() {
        app.store.revoke_jti(&claims.jti, claims.exp).await?;
        let fields = serde_json::json!({"client_id": client.id, "token_type": "access_token", "jti": claims.jti});
        app.audit
            .record_durably("token_revoked", app.clock.now(), fields)
            .await?;
    }
    Ok(true)
}
