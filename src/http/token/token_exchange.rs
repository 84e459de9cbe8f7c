//! The token-exchange grant (RFC 8693 §2): an MCP server, authenticated as
//! a client registered for the grant, presents the access token it received
//! (`subject_token`, of type access token, issued by Tessera and still
//! valid: signature, expiry, deny list, client and person) and names one
//! other resource (`resource` or `audience`). The policy
//! ([`crate::oauth::token_exchange`]) decides; the new token keeps the
//! person (`sub`), names the MCP server as the actor (`act`), carries only
//! narrowed scopes, and lives at most the policy's lifetime and never past
//! the subject token. No refresh token (§2.2.1). The audit event links both
//! tokens by `jti`.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_resource::claims::Audience;
use tessera_resource::scope::ScopeSet;

use super::require_grant;
use crate::access_token::Grant;
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::oauth::client::GrantType;
use crate::oauth::token_exchange::{ACCESS_TOKEN_TYPE, decide};
use crate::state::AppState;
use crate::store::clients::ClientAuth;

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<Response> {
    require_grant(client, GrantType::TokenExchange)?;
    let subject = form.require("subject_token")?;
    if form.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(Error::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    if form
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(Error::invalid_request(format!(
            "only access tokens are issued: requested_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    if form.get("actor_token").is_some() {
        return Err(Error::invalid_request(
            "actor_token is not accepted: the actor is the authenticated client",
        ));
    }
    let targets: Vec<&str> = form.all("resource").chain(form.all("audience")).collect();
    let [target] = targets.as_slice() else {
        return Err(Error::invalid_target(
            "name exactly one resource to exchange the token for (resource or audience)",
        ));
    };
    let target = app.config.resources.find(target).ok_or_else(|| {
        Error::invalid_target("the target is not a resource registered with this issuer")
    })?;
    let now = app.clock.now();
    let report = app.access_tokens().check(subject, None, now).await?;
    let claims = match (report.accepted(), report.claims) {
        (true, Some(claims)) => claims,
        _ => {
            let why = report
                .checks
                .iter()
                .find(|c| !c.ok)
                .map_or("it is not an access token of this issuer", |c| c.what);
            return Err(Error::invalid_grant(format!(
                "the subject token is not valid ({why})"
            )));
        }
    };
    let audience = match &claims.aud {
        Audience::One(a) => vec![a.clone()],
        Audience::Many(list) => list.clone(),
    };
    let subject_scope = ScopeSet::parse(&claims.scope)
        .map_err(|_| Error::invalid_grant("the subject token's scope is malformed"))?;
    let asked = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| Error::invalid_scope(e.to_string()))?;
    let decision = decide(
        &app.config.token_exchange,
        &client.id,
        &audience,
        &subject_scope,
        target,
        asked.as_ref(),
    )?;
    let mut act = json!({ "sub": client.id });
    if let Some(earlier) = claims.act.clone() {
        act["act"] = earlier;
    }
    let max_ttl = decision.policy.lifetime.min(claims.exp - now);
    let resources = [target];
    let grant = Grant {
        subject: &claims.sub,
        client_id: &client.id,
        resources: &resources,
        scope: &decision.scope,
        auth_time: claims.auth_time,
    };
    let token = app
        .access_tokens()
        .mint_exchanged(&grant, act, max_ttl, now)?;
    let fields = json!({
        "client_id": client.id,
        "subject_jti": claims.jti,
        "subject_client_id": claims.client_id,
        "issued_jti": token.jti,
        "from": decision.policy.from,
        "to": target.uri,
        "scope": token.scope,
    });
    app.audit.record("token_exchanged", now, fields).await;
    let body: Value = json!({
        "access_token": token.jwt,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "scope": token.scope,
    });
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ];
    Ok((headers, Json(body)).into_response())
}
