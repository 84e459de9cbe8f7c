//! The authorization code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636).
//!
//! The code is read first and [`crate::oauth::code::check`] and the
//! resource narrowing run on it; the access token is signed. Then one
//! transaction consumes the code (single use, bound to this client; a guarded
//! update, so a racing redemption loses) and creates the refresh-token
//! family linked to the code, so that a replay can revoke what this
//! redemption issued. A failed check still consumes the code.

use tessera_resource::scope::ScopeSet;

use super::{TokenResponse, require_grant};
use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::oauth::client::GrantType;
use crate::oauth::code::{self, Binding};
use crate::oauth::resource::Resource;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use crate::store::codes::{CodeGrant, Issued, NewFamily, Redemption};

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let code = form.require("code")?;
    let verifier = form.require("code_verifier")?;
    let code_hash = app.hasher.token_key(code);
    let now = app.clock.now();
    let Some(pending) = app.store.pending_code(&code_hash, &client.id, now).await? else {
        // Unknown, expired or already used: spending it tells which, and
        // revokes what a first use issued.
        return Err(spend(app, client, &code_hash, now, None).await);
    };
    let (resources, scope) = match checked(app, &pending, verifier, form) {
        Ok(granted) => granted,
        Err(e) => return Err(spend(app, client, &code_hash, now, Some(e)).await),
    };
    // The code was narrowed by the scope policy when issued; a change since
    // (a group lost, the person disabled) still never issues more.
    let scope = match super::within_policy(app, &pending.user_id, scope).await {
        Ok(scope) => scope,
        Err(e) => return Err(spend(app, client, &code_hash, now, Some(e)).await),
    };
    // Sign before the transaction: the writer is held for SQL only.
    let grant = Grant {
        subject: &pending.user_id,
        client_id: &client.id,
        resources: &resources,
        scope: &scope,
        auth_time: Some(pending.auth_time),
    };
    let mut access = app.access_tokens().mint(&grant, now)?;
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        Some(ordered_token(app.clock.now_millis()).map_err(Error::internal)?)
    } else {
        None
    };
    let issued = Issued {
        family: refresh_token
            .as_ref()
            .map(|token| new_family(app, token, now)),
        // Moved, not copied: the token response does not carry the jti.
        access_jti: std::mem::take(&mut access.jti),
        access_exp: access.exp,
    };
    // Committed (and on disk) before answering: an acknowledged refresh token
    // exists; if another redemption won the race, nothing is issued.
    let outcome = app
        .store
        .redeem_code(&code_hash, &client.id, now, Some(issued))
        .await?;
    if !matches!(outcome, Redemption::Fresh(_)) {
        return Err(refused(app, client, outcome, now).await);
    }
    Ok(TokenResponse::new(access, refresh_token))
}

/// What the code grants this request: its verifier and redirect URI proven,
/// its resources narrowed by any `resource` asked.
fn checked<'a>(
    app: &'a AppState,
    pending: &CodeGrant,
    verifier: &str,
    form: &OAuthForm,
) -> Result<(Vec<&'a Resource>, ScopeSet)> {
    let bound = Binding {
        code_challenge: &pending.code_challenge,
        redirect_uri: &pending.redirect_uri,
        redirect_uri_sent: pending.redirect_uri_sent,
    };
    code::check(&bound, verifier, form.get("redirect_uri"))?;
    let asked: Vec<&str> = form.all("resource").collect();
    let resources = app.config.resources.narrow(&pending.resources, &asked)?;
    let scope =
        ScopeSet::parse(&pending.scope).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    Ok((resources, scope))
}

/// The refresh family a redemption starts. Its id is time-ordered (UUIDv7),
/// so a new family lands at the end of the primary-key index instead of on a
/// random page of it.
fn new_family(app: &AppState, token: &str, now: i64) -> NewFamily {
    NewFamily {
        id: uuid::Uuid::now_v7().simple().to_string(),
        token_hash: app.hasher.token_key(token),
        token_expires_at: now + app.config.tokens.refresh_token_ttl.as_secs() as i64,
    }
}

/// Spend a code that will not be redeemed (a failed check still uses it up)
/// and say why: `checks` is the check that failed, if the code was fresh.
async fn spend(
    app: &AppState,
    client: &ClientAuth,
    code_hash: &[u8],
    now: i64,
    checks: Option<Error>,
) -> Error {
    let outcome = match app
        .store
        .redeem_code(code_hash, &client.id, now, None)
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => return e.into(),
    };
    match (outcome, checks) {
        (Redemption::Fresh(_), Some(e)) => e,
        (other, _) => refused(app, client, other, now).await,
    }
}

/// The answer to a code that was not fresh; a replay is audited durably.
async fn refused(app: &AppState, client: &ClientAuth, outcome: Redemption, now: i64) -> Error {
    match outcome {
        Redemption::Replayed => {
            let fields = serde_json::json!({"client_id": client.id, "action": "refresh tokens of the first use revoked"});
            if let Err(e) = app
                .audit
                .record_durably("authorization_code_replayed", now, fields)
                .await
            {
                return e.into();
            }
            Error::invalid_grant("the authorization code was already used")
        }
        _ => Error::invalid_grant("the authorization code is invalid or expired"),
    }
}
