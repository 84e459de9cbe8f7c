//! Minting access tokens (RFC 9068), shared by every grant.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::oauth::resource::Resource;
use crate::state::App;
use tessera_resource::claims::{AccessTokenClaims, Audience};
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

/// The shortest lifetime among the resources' own, else the global one.
fn lifetime(app: &App, resources: &[&Resource]) -> Duration {
    resources
        .iter()
        .filter_map(|r| r.access_token_ttl)
        .min()
        .unwrap_or(app.config.tokens.access_token_ttl)
}

pub fn mint(app: &App, grant: &Grant<'_>) -> Result<AccessToken> {
    let now = app.clock.now();
    let ttl = lifetime(app, grant.resources).as_secs();
    let claims = AccessTokenClaims {
        iss: app.config.issuer.as_str().to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::from_list(grant.resources.iter().map(|r| r.uri.clone()).collect()),
        client_id: grant.client_id.to_owned(),
        scope: grant.scope.to_string(),
        iat: now,
        exp: now + ttl as i64,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        auth_time: grant.auth_time,
        permissions: app.config.scopes.permissions_for(grant.scope),
    };
    let jwt = app
        .keys
        .ring()
        .signer
        .sign_json(&crate::json_out::claims(&claims))
        .map_err(Error::internal)?;
    Ok(AccessToken {
        jwt,
        expires_in: ttl,
        jti: claims.jti,
        exp: claims.exp,
        scope: claims.scope,
    })
}
