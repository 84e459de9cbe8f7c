//! `POST /introspect`: token introspection (RFC 7662).
//!
//! Callers authenticate as clients that an administrator allowed to
//! introspect (`tessera client add --introspect`): resource servers. An access
//! token is active when every check of [`crate::access_token::check`] passes: our
//! signature, our issuer, not expired, not revoked, its client and user still
//! there. A refresh token is active while it can still be exchanged. Anything
//! else is `{"active": false}` and nothing more (§2.2).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::OAuthForm;
use super::client_auth::{authenticate, presented};
use crate::error::{Error, Result};
use crate::state::AppState;
use tessera_resource::claims::Audience;

pub async fn introspect(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response> {
    let caller = authenticate(&app, &presented(&headers, &form)?).await?;
    if !caller.can_introspect {
        return Err(Error::unauthorized_client(
            "this client is not allowed to introspect tokens",
        ));
    }
    let token = form.require("token")?;
    let body = match form.get("token_type_hint") {
        Some("refresh_token") => match refresh(&app, token).await? {
            Some(v) => v,
            None => access(&app, token).await?,
        },
        _ => match access(&app, token).await? {
            v if v["active"] == true => v,
            _ => refresh(&app, token).await?.unwrap_or_else(inactive),
        },
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn access(app: &AppState, token: &str) -> Result<Value> {
    let report = app
        .access_tokens()
        .check(token, None, app.clock.now())
        .await?;
    let (true, Some(c)) = (report.accepted(), report.claims) else {
        return Ok(inactive());
    };
    Ok(json!({
        "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id, "sub": c.sub,
        "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
    }))
}

async fn refresh(app: &AppState, token: &str) -> Result<Option<Value>> {
    let Some(info) = app
        .store
        .live_refresh_token(&app.hasher.token_key(token), app.clock.now())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(json!({
        "active": true, "token_type": "refresh_token", "scope": info.scope, "client_id": info.client_id,
        "sub": info.user_id, "aud": Audience::from_list(info.resources), "iss": app.config.issuer.as_str(),
        "exp": info.expires_at, "iat": info.created_at,
    })))
}
