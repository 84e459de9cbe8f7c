//! The client credentials grant (RFC 6749 §4.4; OAuth 2.1 §4.2).
//!
//! The client acts on its own behalf: `sub` is its `client_id`. Scope defaults
//! to everything it is allowed that the resource accepts; the audience comes
//! from `resource` (RFC 8707, repeatable) or the flows document's `audience`.
//! No database write happens here: the token is a self-contained JWT.

use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::http::token::TokenResponse;
use crate::oauth::client::GrantType;
use crate::oauth::grant_scope;
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use tessera_resource::scope::ScopeSet;

pub fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    if !client.allows(GrantType::ClientCredentials) {
        return Err(Error::unauthorized_client(
            "this client may not use the client_credentials grant",
        ));
    }
    let requested: Vec<&str> = form.all("resource").chain(form.get("audience")).collect();
    let resources = app.config.resources.select(&requested, &client.audience)?;
    let scope = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| Error::invalid_scope(e.to_string()))?;
    let allowed = client
        .allowed
        .as_ref()
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let scope = grant_scope::decide(scope.as_ref(), allowed, &resources, &app.config.scopes)?;
    let token = app.access_tokens().mint(
        &Grant {
            subject: &client.id,
            client_id: &client.id,
            resources: &resources,
            scope: &scope,
            auth_time: None,
        },
        app.clock.now(),
    )?;
    Ok(TokenResponse {
        access_token: token.jwt,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: token.scope,
        refresh_token: None,
    })
}
