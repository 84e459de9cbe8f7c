//! The access-token deny list (RFC 7009), and refresh-token lookups for
//! revocation and introspection.

use super::{Result, Store, on_backend};

/// A live refresh token, as introspection describes it.
#[derive(Debug)]
pub struct RefreshInfo {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub resources: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Deny an access token until it would have expired anyway.
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        on_backend!(self, db => db.revoke_jti(jti, expires_at).await)
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        on_backend!(self, db => db.is_revoked(jti).await)
    }

    /// A refresh token that can still be used: not rotated, not expired, its
    /// family not revoked.
    pub async fn live_refresh_token(&self, hash: &[u8], now: i64) -> Result<Option<RefreshInfo>> {
        on_backend!(self, db => db.live_refresh_token(hash, now).await)
    }

    /// The family and client of any refresh token, spent or not.
    pub async fn refresh_token_owner(&self, hash: &[u8]) -> Result<Option<(String, String)>> {
        on_backend!(self, db => db.refresh_token_owner(hash).await)
    }
}
