//! The authorization code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636).
//!
//! In one transaction: consume the code (single use, bound to this client),
//! check PKCE, the redirect URI and any narrowing `resource`, and create the
//! refresh-token family linked to the code, so that a replay of the code can
//! revoke what this redemption issued. A failed check still consumes the code.

use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::http::token::TokenResponse;
use crate::oauth::client::GrantType;
use crate::oauth::pkce;
use crate::oauth::scope::ScopeSet;
use crate::secrets::random_token;
use crate::state::App;
use crate::store::clients::ClientAuth;
use crate::store::codes::{self, CodeGrant, Redemption};
use crate::store::refresh::{NewFamily, NewToken, create_family};
use crate::tokens::{Grant, mint};

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

pub async fn grant(app: &App, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Error::unauthorized_client(
            "this client may not use the authorization_code grant",
        ));
    }
    let code = form.require("code")?;
    form.require("code_verifier")?;
    let code_hash = app.hasher.hash(code);
    let now = app.clock.now();
    let mut tx = app.store.writer().begin().await?;
    let grant = match codes::consume(&mut tx, &code_hash, &client.id, now).await? {
        Redemption::Fresh(g) => g,
        Redemption::Replayed => {
            tx.commit().await?;
            let fields = serde_json::json!({"client_id": client.id, "action": "refresh tokens of the first use revoked"});
            app.audit
                .record_durably("authorization_code_replayed", now, fields)
                .await
                .map_err(Error::internal)?;
            return Err(Error::invalid_grant(
                "the authorization code was already used",
            ));
        }
        Redemption::Invalid => {
            return Err(Error::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
    };
    let checked = check(&grant, form).and_then(|()| narrow_resources(app, form, &grant.resources));
    let resources = match checked {
        Ok(r) => r,
        Err(e) => {
            tx.commit().await?;
            return Err(e);
        }
    };
    let scope =
        ScopeSet::parse(&grant.scope).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        let token = random_token(32).map_err(Error::internal)?;
        let family_id = uuid::Uuid::new_v4().simple().to_string();
        let family = NewFamily {
            id: &family_id,
            client_id: &client.id,
            user_id: &grant.user_id,
            scope: &grant.scope,
            resources: &grant.resources,
            auth_time: grant.auth_time,
            now,
        };
        let expires_at = now + app.config.tokens.refresh_token_ttl.as_secs() as i64;
        create_family(
            &mut tx,
            &family,
            &NewToken {
                hash: &app.hasher.hash(&token),
                expires_at,
            },
        )
        .await?;
        codes::link_family(&mut tx, &code_hash, &family_id).await?;
        Some(token)
    } else {
        None
    };
    let access = mint(
        app,
        &Grant {
            subject: &grant.user_id,
            client_id: &client.id,
            resources: &resources,
            scope: &scope,
            auth_time: Some(grant.auth_time),
        },
    )?;
    codes::link_access_token(&mut tx, &code_hash, &access.jti, access.exp).await?;
    // Commit before answering: an acknowledged refresh token is on disk.
    tx.commit().await?;
    Ok(TokenResponse {
        access_token: access.jwt,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: scope.to_string(),
        refresh_token,
    })
}
