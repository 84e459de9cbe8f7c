//! Access tokens (RFC 9068): minting them for every grant (here), checking
//! one as the issuer sees it ([`check`]), and the hand-written JSON of the
//! token path ([`json`]).

pub mod check;
pub mod json;

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::rotation::SigningKeys;
use crate::oauth::resource::Resource;
use crate::store::Store;
use tessera_resource::scope::ScopeSet;

pub struct AccessToken {
    pub jwt: String,
    pub expires_in: u64,
    /// Its `jti` and `exp`, to revoke it later if need be.
    pub jti: String,
    pub exp: i64,
    /// The granted scope as written into the token, for the token response
    /// (formatted once per token, not once per use).
    pub scope: String,
}

/// Who and what a token is for.
pub struct Grant<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub resources: &'a [&'a Resource],
    pub scope: &'a ScopeSet,
    pub auth_time: Option<i64>,
}

/// What minting and checking tokens need of the issuer: its configuration,
/// its keys and (to check) its store.
#[derive(Clone, Copy)]
pub struct AccessTokens<'a> {
    pub config: &'a Config,
    pub keys: &'a SigningKeys,
    pub store: &'a Store,
}

/// The shortest lifetime among the resources' own, else the global one.
fn lifetime(config: &Config, resources: &[&Resource]) -> Duration {
    resources
        .iter()
        .filter_map(|r| r.access_token_ttl)
        .min()
        .unwrap_or(config.tokens.access_token_ttl)
}

impl AccessTokens<'_> {
    /// Sign an access token for `grant`, issued at `now`.
    pub fn mint(&self, grant: &Grant<'_>, now: i64) -> Result<AccessToken> {
        mint(self.config, self.keys, grant, now, None)
    }

    /// Sign an exchanged access token (RFC 8693 §2.2.1): `grant`'s claims
    /// plus the actor (`act`, §4.1), living at most `max_ttl` seconds.
    pub fn mint_exchanged(
        &self,
        grant: &Grant<'_>,
        act: serde_json::Value,
        max_ttl: i64,
        now: i64,
    ) -> Result<AccessToken> {
        mint(self.config, self.keys, grant, now, Some((act, max_ttl)))
    }
}

fn mint(
    config: &Config,
    keys: &SigningKeys,
    grant: &Grant<'_>,
    now: i64,
    exchanged: Option<(serde_json::Value, i64)>,
) -> Result<AccessToken> {
    let mut ttl = lifetime(config, grant.resources).as_secs();
    if let Some((_, max_ttl)) = &exchanged {
        ttl = ttl.min(u64::try_from(*max_ttl).unwrap_or(0)).max(1);
    }
    let scope = grant.scope.to_string();
    let jti = uuid::Uuid::new_v4().simple().to_string();
    let aud: Vec<&str> = grant.resources.iter().map(|r| r.uri.as_str()).collect();
    let exp = now + ttl as i64;
    let claims = json::Claims {
        iss: config.issuer.as_str(),
        sub: grant.subject,
        aud: &aud,
        client_id: grant.client_id,
        scope: &scope,
        iat: now,
        exp,
        jti: &jti,
        auth_time: grant.auth_time,
        permissions: &config.scopes.permissions_for(grant.scope),
    };
    let mut body = json::claims(&claims);
    if let Some((act, _)) = exchanged {
        // Not the hot path: the claims are read back to add the actor.
        let mut value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
        value["act"] = act;
        body = serde_json::to_vec(&value).map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    }
    let jwt = keys
        .ring()
        .signer
        .sign_json(&body)
        .map_err(Error::internal)?;
    Ok(AccessToken {
        jwt,
        expires_in: ttl,
        jti,
        exp,
        scope,
    })
}
