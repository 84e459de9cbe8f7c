//! The authorization code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636).
//!
//! The code is read first and PKCE, the redirect URI and any narrowing
//! `resource` are checked on it; the access token is signed. Then one
//! transaction consumes the code (single use, bound to this client; a guarded
//! `UPDATE`, so a racing redemption loses) and creates the refresh-token
//! family linked to the code, so that a replay can revoke what this
//! redemption issued. A failed check still consumes the code.

use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::http::token::TokenResponse;
use crate::oauth::client::GrantType;
use crate::oauth::pkce;
use crate::secrets::ordered_token;
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use crate::store::codes::{CodeGrant, Issue, NewFamily, Redemption};
use tessera_resource::scope::ScopeSet;

use super::narrow_resources;

fn check(grant: &CodeGrant, form: &OAuthForm) -> Result<()> {
    let verifier = form.get("code_verifier").unwrap_or("");
    if !pkce::verify(verifier, &grant.code_challenge) {
        return Err(Error::invalid_grant(
            "the code_verifier does not match the code_challenge",
        ));
    }
    match form.get("redirect_uri") {
        Some(uri) if uri != grant.redirect_uri => Err(Error::invalid_grant(
            "redirect_uri differs from the one in the authorization request",
        )),
        None if grant.redirect_uri_sent => Err(Error::invalid_request(
            "redirect_uri is required: the authorization request included it",
        )),
        _ => Ok(()),
    }
}

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Error::unauthorized_client(
            "this client may not use the authorization_code grant",
        ));
    }
    let code = form.require("code")?;
    form.require("code_verifier")?;
    let code_hash = app.hasher.token_key(code);
    let now = app.clock.now();
    let Some(grant) = app.store.pending_code(&code_hash, &client.id, now).await? else {
        // Unknown, expired or already used: the writer tells which, and
        // revokes what a first use issued.
        let outcome = app
            .store
            .redeem_code(&code_hash, &client.id, now, None)
            .await?;
        return Err(refused(app, client, outcome, now).await);
    };
    let checked = check(&grant, form).and_then(|()| narrow_resources(app, form, &grant.resources));
    let resources = match checked {
        Ok(r) => r,
        Err(e) => {
            let outcome = app
                .store
                .redeem_code(&code_hash, &client.id, now, None)
                .await?;
            return Err(match outcome {
                Redemption::Fresh(_) => e,
                other => refused(app, client, other, now).await,
            });
        }
    };
    let scope =
        ScopeSet::parse(&grant.scope).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    // Sign before the transaction: the writer is held for SQL only.
    let access = app.access_tokens().mint(
        &Grant {
            subject: &grant.user_id,
            client_id: &client.id,
            resources: &resources,
            scope: &scope,
            auth_time: Some(grant.auth_time),
        },
        app.clock.now(),
    )?;
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        Some(ordered_token(app.clock.now_millis()).map_err(Error::internal)?)
    } else {
        None
    };
    let issue = Issue {
        family: refresh_token.as_ref().map(|token| {
            let expires_at = now + app.config.tokens.refresh_token_ttl.as_secs() as i64;
            // Time-ordered (UUIDv7): a new family's id lands at the end of the
            // primary-key index and of `refresh_tokens (family_id)` instead of
            // on a random page; with a million families that random page is a
            // cache miss and one more page in the commit (measured in
            // BENCHMARKS.md, "Data growth").
            NewFamily {
                id: uuid::Uuid::now_v7().simple().to_string(),
                token_hash: app.hasher.token_key(token),
                token_expires_at: expires_at,
            }
        }),
        access_jti: access.jti,
        access_exp: access.exp,
    };
    // Committed (and on disk) before answering: an acknowledged refresh token
    // exists; if another redemption won the race, nothing is issued.
    let outcome = app
        .store
        .redeem_code(&code_hash, &client.id, now, Some(issue))
        .await?;
    if !matches!(outcome, Redemption::Fresh(_)) {
        return Err(refused(app, client, outcome, now).await);
    }
    Ok(TokenResponse {
        access_token: access.jwt,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: access.scope,
        refresh_token,
    })
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
                return Error::internal(e);
            }
            Error::invalid_grant("the authorization code was already used")
        }
        _ => Error::invalid_grant("the authorization code is invalid or expired"),
    }
}
