//! The deny list's and refresh lookups' SQL.

use sqlx::Row;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::revocation::RefreshInfo;

impl Postgres {
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(found.is_some())
    }

    pub async fn live_refresh_token(&self, hash: &[u8], now: i64) -> Result<Option<RefreshInfo>> {
        let r = sqlx::query(
            "SELECT f.id, f.client_id, f.user_id, f.scope, f.resources, t.created_at, t.expires_at \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > $2 AND f.revoked_at IS NULL",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        let Some(r) = r else { return Ok(None) };
        let info = (|| {
            Ok::<_, sqlx::Error>(RefreshInfo {
                family_id: r.try_get(0)?,
                client_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                scope: r.try_get(3)?,
                resources: crate::store::split_list(&r.try_get::<String, _>(4)?),
                created_at: r.try_get(5)?,
                expires_at: r.try_get(6)?,
            })
        })();
        info.map(Some).map_err(database)
    }

    pub async fn refresh_token_owner(&self, hash: &[u8]) -> Result<Option<(String, String)>> {
        sqlx::query_as(
            "SELECT f.id, f.client_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)
    }
}
