//! The client credentials grant (RFC 6749 §4.4; OAuth 2.1 §4.2).
//!
//! The client acts on its own behalf: `sub` is its `client_id`. The audience
//! comes from `resource` (RFC 8707, repeatable) or the flows document's
//! `audience`, within what the client is bound to; the scope from
//! [`crate::oauth::grant_scope::for_machine`]. No database write happens
//! here: the token is a self-contained JWT.

use tessera_resource::scope::ScopeSet;

use super::{TokenResponse, require_grant};
use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::oauth::client::GrantType;
use crate::oauth::grant_scope;
use crate::state::AppState;
use crate::store::clients::ClientAuth;

pub fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    require_grant(client, GrantType::ClientCredentials)?;
    let requested: Vec<&str> = form.all("resource").chain(form.get("audience")).collect();
    let resources = app.config.resources.select(&requested, &client.audience)?;
    let asked = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| Error::invalid_scope(e.to_string()))?;
    let allowed = client
        .allowed
        .as_ref()
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let scope = grant_scope::for_machine(asked.as_ref(), allowed, &resources, &app.config.scopes)?;
    let grant = Grant {
        subject: &client.id,
        client_id: &client.id,
        resources: &resources,
        scope: &scope,
        auth_time: None,
    };
    let token = app.access_tokens().mint(&grant, app.clock.now())?;
    Ok(TokenResponse::new(token, None))
}
