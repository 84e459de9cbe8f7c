//! [`Authenticated`]: who called, as the kit's layer verified it; the request
//! extension handlers extract, and the per-tool checks (scopes with the
//! issuer's wildcard rule, 403 with the union as mcp-interop §1.10 asks;
//! introspection for revocation-sensitive tools, RFC 7662).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::claims::AccessTokenClaims;
use crate::scope::ScopeSet;

use crate::ResourceKit;
use crate::rejection::{Kind, Rejection};

/// The caller of a request that passed the layer.
#[derive(Clone)]
pub struct Authenticated {
    /// The user's id, or the client's id for a machine token.
    pub sub: String,
    pub client_id: String,
    pub scopes: ScopeSet,
    pub aud: Vec<String>,
    pub claims: AccessTokenClaims,
    /// The peer address (needs `into_make_service_with_connect_info`).
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    token: Arc<str>,
    kit: ResourceKit,
}

impl std::fmt::Debug for Authenticated {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("sub", &self.sub)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("aud", &self.aud)
            .finish_non_exhaustive()
    }
}

pub(super) fn scope_set(scopes: &[&str]) -> ScopeSet {
    let mut set = ScopeSet::default();
    for s in scopes {
        set.insert(s);
    }
    set
}

impl Authenticated {
    /// 403 `insufficient_scope` unless the token covers every scope (with the
    /// issuer's wildcard rule); the challenge asks for the token's scopes plus
    /// the missing ones.
    pub fn require_scopes(&self, required: &[&str]) -> Result<(), Rejection> {
        check_scopes(&self.kit, &self.scopes, &scope_set(required))
    }

    /// Refuse (401 `invalid_token`) a token the issuer no longer considers
    /// active, e.g. revoked; for revocation-sensitive tools.
    pub async fn require_active(&self) -> Result<(), Rejection> {
        require_active(&self.kit, &self.token, self.claims.exp, &self.scopes).await
    }

    pub fn kit(&self) -> &ResourceKit {
        &self.kit
    }
}

pub(super) fn check_scopes(
    kit: &ResourceKit,
    granted: &ScopeSet,
    required: &ScopeSet,
) -> Result<(), Rejection> {
    if granted.covers_all(required) {
        return Ok(());
    }
    let mut needed = granted.clone();
    for s in required.iter().filter(|s| !granted.covers(s)) {
        needed.insert(s);
    }
    let why = format!("this call needs the scope '{required}'");
    Err(kit.reject(Kind::InsufficientScope, &why, &needed.to_string()))
}

/// `scopes` go into the challenge: a new token with them is what the client needs.
pub(super) async fn require_active(
    kit: &ResourceKit,
    token: &str,
    exp: i64,
    scopes: &ScopeSet,
) -> Result<(), Rejection> {
    if kit.is_active(token, exp).await? {
        return Ok(());
    }
    let why = "the token has been revoked or is no longer active";
    Err(kit.reject(Kind::InvalidToken, why, &scopes.to_string()))
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Authenticated>().cloned().ok_or_else(|| {
            tracing::error!("Authenticated extracted on a route without the kit's AuthLayer");
            let body = serde_json::json!({"error": "server_error", "error_description": "this route is not protected"});
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        })
    }
}

impl Authenticated {
    pub(super) fn new(
        verified: &crate::Verified,
        ip_address: Option<String>,
        user_agent: Option<String>,
        token: &str,
        kit: &ResourceKit,
    ) -> Self {
        Self {
            sub: verified.claims.sub.clone(),
            client_id: verified.claims.client_id.clone(),
            scopes: verified.scopes.clone(),
            aud: verified.aud.clone(),
            claims: verified.claims.clone(),
            ip_address,
            user_agent,
            token: Arc::from(token),
            kit: kit.clone(),
        }
    }
}
