//! The refresh token grant (RFC 6749 §6, OAuth 2.1 §4.3).
//!
//! Every use rotates the token (see `store::refresh`). `scope` and
//! `resource` may narrow the access token issued now, never widen it
//! ([`crate::oauth::grant_scope::for_refresh`],
//! [`crate::oauth::resource::ResourceRegistry::narrow`]); the family keeps its
//! original grant (RFC 6749 §6: the new refresh token has the same scope).
//! A family lives at most `tokens.refresh_token_max_lifetime` from the
//! authorization that created it, however often it rotates (RFC 9700
//! §4.14.2: refresh tokens should expire); after that rotation is
//! `invalid_grant` and the person authorizes again. With a scope policy the
//! token carries at most what the person may grant now
//! (`crate::oauth::policy`); a family left with nothing is revoked.

use tessera_resource::scope::ScopeSet;

use super::{TokenResponse, require_grant};
use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::oauth::client::GrantType;
use crate::oauth::grant_scope;
use crate::oauth::resource::Resource;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use crate::store::refresh::{Family, Rotate, Rotation};

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    require_grant(client, GrantType::RefreshToken)?;
    let presented = app.hasher.token_key(form.require("refresh_token")?);
    // A request that narrows is checked before the rotation spends its
    // token: a refused `scope` or `resource` must leave the token usable
    // (the family's grant never changes, so the check holds after it).
    let narrows = form.get("scope").is_some() || form.all("resource").next().is_some();
    if narrows && let Some(family) = app.store.refresh_family(&presented, &client.id).await? {
        narrowed(app, &family, form)?;
    }
    let next = ordered_token(app.clock.now_millis()).map_err(Error::internal)?;
    let family = rotate(app, client, &presented, &next).await?;
    let (scope, resources) = narrowed(app, &family, form)?;
    let scope = match super::within_policy(app, &family.user_id, scope).await {
        Ok(scope) => scope,
        Err(e) => {
            // Spent already: the successor is never handed out, and a family
            // that can carry nothing more ends here.
            let now = app.clock.now();
            app.store
                .revoke_family_by_id(&family.id, "scope policy", now)
                .await?;
            return Err(e);
        }
    };
    let grant = Grant {
        subject: &family.user_id,
        client_id: &client.id,
        resources: &resources,
        scope: &scope,
        auth_time: Some(family.auth_time),
    };
    let access = app.access_tokens().mint(&grant, app.clock.now())?;
    Ok(TokenResponse::new(access, Some(next)))
}

/// The scope and resources of the access token issued now: the family's
/// grant, narrowed by the request's `scope` and `resource`.
fn narrowed<'a>(
    app: &'a AppState,
    family: &Family,
    form: &OAuthForm,
) -> Result<(ScopeSet, Vec<&'a Resource>)> {
    let granted =
        ScopeSet::parse(&family.scope).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let scope = grant_scope::for_refresh(&granted, form.get("scope"))?;
    // `offline_access` is the family's, never an access token's.
    let scope = crate::oauth::offline_access::for_access_token(&scope);
    let asked: Vec<&str> = form.all("resource").collect();
    let resources = app.config.resources.narrow(&family.resources, &asked)?;
    Ok((scope, resources))
}

/// Exchange `presented` for `next` in its family; reuse revokes the family
/// and is audited durably.
async fn rotate(
    app: &AppState,
    client: &ClientAuth,
    presented: &[u8],
    next: &str,
) -> Result<Family> {
    let now = app.clock.now();
    let tokens = &app.config.tokens;
    let rotate = Rotate {
        presented,
        client_id: &client.id,
        next: &app.hasher.token_key(next),
        next_expires_at: now + tokens.refresh_token_ttl.as_secs() as i64,
        now,
        grace: tokens.refresh_reuse_grace.as_secs() as i64,
    };
    match app.store.rotate_refresh(&rotate).await? {
        Rotation::Rotated(family) if outlived(&family, tokens.refresh_token_max_lifetime, now) => {
            // Spent and revoked: the successor just added is never handed out.
            let why = "refresh family lifetime ended";
            app.store.revoke_family_by_id(&family.id, why, now).await?;
            Err(Error::invalid_grant(
                "the refresh token's grant has reached its maximum lifetime; authorize again",
            ))
        }
        Rotation::Rotated(family) => Ok(family),
        Rotation::Reused => {
            app.metrics.refresh_reuse_detected();
            let fields = serde_json::json!({"client_id": client.id, "action": "refresh-token family revoked"});
            app.audit
                .record_durably("refresh_reuse_detected", now, fields)
                .await?;
            Err(Error::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ))
        }
        Rotation::Invalid => Err(Error::invalid_grant(
            "the refresh token is invalid, expired or revoked",
        )),
    }
}

/// Whether the family has outlived its absolute lifetime at `now`.
fn outlived(family: &Family, max: std::time::Duration, now: i64) -> bool {
    now >= family.created_at.saturating_add(max.as_secs() as i64)
}
