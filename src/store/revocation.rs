//! The access-token deny list (RFC 7009) and refresh-token lookups for
//! revocation and introspection.

use rusqlite::OptionalExtension;

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
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?")?
                .exists([jti])
        })
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM users WHERE id = ?")?
                .exists([id])
        })
    }

    /// A refresh token that can still be used: not rotated, not expired, its
    /// family not revoked.
    pub async fn live_refresh_token(
        &self,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<RefreshInfo>, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT f.id, f.client_id, f.user_id, f.scope, f.resources, t.created_at, t.expires_at \
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ? AND t.rotated_at IS NULL AND t.expires_at > ? AND f.revoked_at IS NULL",
            )?
            .query_row(rusqlite::params![hash, now], |r| {
                Ok(RefreshInfo {
                    family_id: r.get(0)?,
                    client_id: r.get(1)?,
                    user_id: r.get(2)?,
                    scope: r.get(3)?,
                    resources: split_list(&r.get::<_, String>(4)?),
                    created_at: r.get(5)?,
                    expires_at: r.get(6)?,
                })
            })
            .optional()
        })
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
