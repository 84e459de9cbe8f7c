//! The access-token deny list (RFC 7009) and refresh-token lookups for
//! revocation and introspection.

use sqlx::Row;

use super::Store;
use super::codes::split_list;

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
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, sqlx::Error> {
        let hit: Option<i64> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(self.pool())
            .await?;
        Ok(hit.is_some())
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        let hit: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(hit.is_some())
    }

    /// A refresh token that can still be used: not rotated, not expired, its
    /// family not revoked.
    pub async fn live_refresh_token(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<RefreshInfo>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT f.id, f.client_id, f.user_id, f.scope, f.resources, t.created_at, t.expires_at \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = ? AND t.rotated_at IS NULL AND t.expires_at > ? AND f.revoked_at IS NULL",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| RefreshInfo {
            family_id: r.get("id"),
            client_id: r.get("client_id"),
            user_id: r.get("user_id"),
            scope: r.get("scope"),
            resources: split_list(r.get("resources")),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
        }))
    }

    /// The family and client of any refresh token, spent or not.
    pub async fn refresh_token_owner(
        &self,
        hash: &[u8],
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT f.id, f.client_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = ?",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await
    }
}
