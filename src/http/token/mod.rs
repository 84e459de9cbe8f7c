//! `POST /token` (RFC 6749 §3.2), also at `/oauth/token` and `/oauth2/token`
//! where the MCP flows document calls it.
//!
//! Order: parse the form (malformed → `invalid_request`), require
//! `grant_type`, authenticate the client (→ `invalid_client`), then hand over to
//! the grant. Responses carry `Cache-Control: no-store` and `Pragma: no-cache`
//! (RFC 6749 §5.1), `token_type: "Bearer"`, an integer `expires_in` and always
//! `scope` (mcp-interop §1.8).

mod authorization_code;
mod client_credentials;
mod refresh;

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::body::OAuthForm;
use super::client_auth::{Presented, authenticate, presented_with};

use crate::access_token::AccessToken;
use crate::error::{Error, ErrorCode, Result};
use crate::limits::Kind;
use crate::oauth::client::GrantType;
use crate::state::AppState;
use crate::store::clients::ClientAuth;

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The answer for a minted access token (and a refresh token, if any).
    fn new(access: AccessToken, refresh_token: Option<String>) -> Self {
        Self {
            access_token: access.jwt,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope: access.scope,
            refresh_token,
        }
    }

    /// The JSON body, byte for byte what serde writes for this struct, without
    /// escaping the JWT a byte at a time (see `access_token::json`).
    fn to_json(&self) -> Vec<u8> {
        let mut o = crate::access_token::json::Object::with_capacity(
            self.access_token.len() + self.scope.len() + 160,
        );
        o.str("access_token", &self.access_token)
            .str("token_type", self.token_type)
            .int("expires_in", self.expires_in)
            .str("scope", &self.scope);
        if let Some(refresh) = &self.refresh_token {
            o.str("refresh_token", refresh);
        }
        o.finish()
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ];
        (headers, self.to_json()).into_response()
    }
}

/// Answer a token request and record it in the audit trail (the flows
/// document's `oauth_token_request`, batched: see `audit`).
///
/// A stranger must not be able to grow the trail or lock a client out
/// (RFC 9700 §4.16 is the general rule): failed requests count against
/// their IP, not the client's tier, and once an IP's failures fill its
/// window its token requests are refused before any work and without an
/// audit record each (the one that filled the window is recorded, and the
/// refusals are counted in `/metrics`); every recorded value a request
/// chose is cut to a bounded length.
pub async fn token(State(app): State<Arc<AppState>>, request: Request) -> Result<Response> {
    let ip = super::client_ip::key_of(&request, &app.config.rate_limits.trusted_proxies);
    let failures_allowed = app.config.rate_limits.token_failures_per_ip;
    let now = app.clock.now();
    let limited = app
        .limits
        .full(Kind::TokenFailure, &ip, failures_allowed, now);
    if let Some(quota) = limited.await {
        app.metrics.rate_limited("token_failures");
        return Err(Error::over_quota(quota));
    }
    // Only `Authorization` is needed from the head: keep it (a reference-counted
    // clone) rather than have axum copy the whole header map for the handler.
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let form = match OAuthForm::from_request(request, &()).await {
        Ok(form) => form,
        Err(e) => {
            failed(&app, &ip, now).await;
            return Err(e);
        }
    };
    // Read the credentials once: the answer authenticates them, the audit
    // names the client (moved, not copied, once the answer is done).
    let (client_id, result) = match presented_with(authorization.as_ref(), &form) {
        // A request without a grant type is refused as such before its credentials.
        Err(refused) => (None, form.require("grant_type").and(Err(refused))),
        Ok(presented) => {
            let result = issue(&app, &presented, &form).await;
            (Some(presented.client_id), result)
        }
    };
    let filled = match &result {
        Err(e)
            if super::error::status(e.code).is_client_error()
                && e.code != ErrorCode::RateLimitExceeded =>
        {
            failed(&app, &ip, now).await
        }
        _ => false,
    };
    let fields = TokenRequestEvent {
        client_id: client_id.as_deref().map(bounded),
        grant_type: form.get("grant_type").map(bounded),
        requested_scopes: form.get("scope").map(bounded),
        success: result.is_ok(),
        error: result.as_ref().err().map(|e| e.code.as_str()),
        ip_address: result.is_err().then_some(ip.as_str()),
        ip_failures_limited: filled,
    };
    app.audit.record("oauth_token_request", now, fields).await;
    result
}

/// Count a failed token request against `ip`; whether it filled the IP's
/// window.
async fn failed(app: &AppState, ip: &str, now: i64) -> bool {
    let allowed = app.config.rate_limits.token_failures_per_ip;
    let quota = app
        .limits
        .record(Kind::TokenFailure, ip, allowed, now)
        .await;
    quota.remaining == 0
}

/// The longest value of a request's choosing that an audit record keeps.
const MAX_RECORDED: usize = 200;

/// `value`, cut to [`MAX_RECORDED`] bytes at a character boundary.
fn bounded(value: &str) -> &str {
    if value.len() <= MAX_RECORDED {
        return value;
    }
    let mut end = MAX_RECORDED;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// The flows document's `oauth_token_request` fields, serialized straight
/// into the event (this is the hottest audit event).
#[derive(Serialize)]
struct TokenRequestEvent<'a> {
    client_id: Option<&'a str>,
    grant_type: Option<&'a str>,
    requested_scopes: Option<&'a str>,
    success: bool,
    error: Option<&'a str>,
    /// Where a failed request came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<&'a str>,
    /// This failure filled its IP's window: what follows is refused unrecorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ip_failures_limited: bool,
}

/// The token request once its credentials are read: grant type, client,
/// quota, then the grant.
async fn issue(app: &AppState, credentials: &Presented, form: &OAuthForm) -> Result<Response> {
    let grant_type = form.require("grant_type")?;
    let client = authenticate(app, credentials).await?;
    let limit = client_limit(app, &client);
    let now = app.clock.now();
    if let Some(quota) = app.limits.full(Kind::Token, &client.id, limit, now).await {
        app.metrics.rate_limited("token");
        return Err(Error::over_quota(quota));
    }
    let (grant, result) = match grant_type {
        "client_credentials" => (
            "client_credentials",
            client_credentials::grant(app, &client, form),
        ),
        "authorization_code" => (
            "authorization_code",
            authorization_code::grant(app, &client, form).await,
        ),
        "refresh_token" => ("refresh_token", refresh::grant(app, &client, form).await),
        other => {
            return Err(Error::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type '{other}' is not supported by this server"),
            ));
        }
    };
    let mut response = match result {
        Ok(answer) => answer.into_response(),
        Err(e) => return Err(unless_client_gone(app, &client, e).await),
    };
    // Only what was issued counts against the client's tier: anyone who
    // knows a public client's id could otherwise spend its window with
    // garbage (those failures count against their IP instead).
    let quota = match app.limits.count(Kind::Token, &client.id, limit, now).await {
        Ok(quota) | Err(quota) => quota,
    };
    app.metrics.token_issued(grant);
    super::error::quota_headers(response.headers_mut(), &quota);
    Ok(response)
}

/// A grant refused as `invalid_grant` because its client was removed, while
/// this process still held the client in its cache: the answer is then
/// `invalid_client`, which makes an MCP client register again instead of
/// sending a person to authorize a client that no longer exists.
async fn unless_client_gone(app: &AppState, client: &ClientAuth, refused: Error) -> Error {
    if refused.code != ErrorCode::InvalidGrant {
        return refused;
    }
    match app.store.client_auth(&client.id).await {
        Ok(None) => {
            app.store.forget_client(&client.id);
            Error::invalid_client("unknown client")
        }
        _ => refused,
    }
}

/// The client's token limit: its tier (`oauth::rate_tier`) or the
/// operator's override.
fn client_limit(app: &AppState, client: &ClientAuth) -> u32 {
    crate::oauth::rate_tier::token_limit(
        &client.id,
        &client.grant_types,
        client.allowed.as_ref().ok(),
        &app.config.rate_limits.token_per_client,
        &app.limits.token_tiers,
    )
}

/// RFC 6749 §5.2 `unauthorized_client`: the client was not registered for `grant`.
fn require_grant(client: &ClientAuth, grant: GrantType) -> Result<()> {
    if client.allows(grant) {
        return Ok(());
    }
    Err(Error::unauthorized_client(format!(
        "this client may not use the {} grant",
        grant.as_str()
    )))
}

/// `scope` as far as `user_id` may grant it now (the scope policy,
/// `crate::oauth::policy`): a person's groups may have changed since the
/// grant. Without a policy, `scope` unchanged and no database read. Nothing
/// left, or a person disabled or gone: `invalid_grant`.
async fn within_policy(
    app: &AppState,
    user_id: &str,
    scope: tessera_resource::scope::ScopeSet,
) -> Result<tessera_resource::scope::ScopeSet> {
    let Some(policy) = &app.config.scope_policy else {
        return Ok(scope);
    };
    let Some(allowed) = crate::users::grantable(&app.store, Some(policy), user_id).await? else {
        return Err(Error::invalid_grant("the person's account is disabled"));
    };
    let narrowed = allowed.narrow(&scope);
    if narrowed.is_empty() {
        return Err(Error::invalid_grant(
            "the person may no longer grant any scope of this grant",
        ));
    }
    Ok(narrowed)
}

#[cfg(test)]
mod tests {
    use super::TokenResponse;

    #[test]
    fn the_token_response_is_what_serde_writes() {
        for refresh_token in [None, Some("r3fr\"esh_t0ken-_".to_owned())] {
            let response = TokenResponse {
                access_token: "eyJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".into(),
                token_type: "Bearer",
                expires_in: 900,
                scope: "mcp:tools:weather mcp:tools:calendar:read".into(),
                refresh_token,
            };
            assert_eq!(
                String::from_utf8(response.to_json()).unwrap(),
                serde_json::to_string(&response).unwrap()
            );
        }
    }
}
