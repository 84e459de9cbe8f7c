//! The refresh token grant (RFC 6749 §6, OAuth 2.1 §4.3).
//!
//! Every use rotates the token (see `store::refresh`). `scope` and `resource`
//! may narrow the access token issued now, never widen it; the family keeps
//! its original grant (RFC 6749 §6: the new refresh token has the same scope).

use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::http::token::TokenResponse;
use crate::oauth::client::GrantType;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use crate::store::refresh::{Rotate, Rotation};
use tessera_resource::scope::ScopeSet;

use super::narrow_resources;

fn narrow_scope(form: &OAuthForm, granted: &ScopeSet) -> Result<ScopeSet> {
    let Some(asked) = form.get("scope") else {
        return Ok(granted.clone());
    };
    let asked = ScopeSet::parse(asked).map_err(|e| Error::invalid_scope(e.to_string()))?;
    if asked.is_empty() {
        return Ok(granted.clone());
    }
    if let Some(extra) = asked.iter().find(|s| !granted.covers(s)) {
        return Err(Error::invalid_scope(format!(
            "scope '{extra}' was not granted; a refresh may only narrow"
        )));
    }
    Ok(asked)
}

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(Error::unauthorized_client(
            "this client may not use the refresh_token grant",
        ));
    }
    let presented = form.require("refresh_token")?;
    let next = ordered_token(app.clock.now_millis()).map_err(Error::internal)?;
    let now = app.clock.now();
    let tokens = &app.config.tokens;
    let rotate = Rotate {
        presented: &app.hasher.token_key(presented),
        client_id: &client.id,
        next: &app.hasher.token_key(&next),
        next_expires_at: now + tokens.refresh_token_ttl.as_secs() as i64,
        now,
        grace: tokens.refresh_reuse_grace.as_secs() as i64,
    };
    let family = match app.store.rotate_refresh(&rotate).await? {
        Rotation::Rotated(f) => f,
        Rotation::Reused => {
            let fields = serde_json::json!({"client_id": client.id, "action": "refresh-token family revoked"});
            app.audit
                .record_durably("refresh_reuse_detected", now, fields)
                .await
                .map_err(Error::internal)?;
            return Err(Error::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        Rotation::Invalid => {
            return Err(Error::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        }
    };
    let granted =
        ScopeSet::parse(&family.scope).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let scope = narrow_scope(form, &granted)?;
    let resources = narrow_resources(app, form, &family.resources)?;
    let access = app.access_tokens().mint(
        &Grant {
            subject: &family.user_id,
            client_id: &client.id,
            resources: &resources,
            scope: &scope,
            auth_time: Some(family.auth_time),
        },
        app.clock.now(),
    )?;
    Ok(TokenResponse {
        access_token: access.jwt,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: access.scope,
        refresh_token: Some(next),
    })
}
