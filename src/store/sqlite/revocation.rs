//! The deny list's and refresh lookups' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::revocation::RefreshInfo;

impl Sqlite {
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        self.write((jti.to_owned(), expires_at), |(jti, exp), conn| {
            conn.prepare_cached(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING",
            )?
            .execute(params![jti, exp])
            .map(|_| ())
        })
        .await
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?")?
                .exists([jti])
        })
    }

    pub async fn live_refresh_token(&self, hash: &[u8], now: i64) -> Result<Option<RefreshInfo>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT f.id, f.client_id, f.user_id, f.scope, f.resources, t.created_at, t.expires_at \
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ? AND t.rotated_at IS NULL AND t.expires_at > ? AND f.revoked_at IS NULL",
            )?
            .query_row(params![hash, now], |r| {
                Ok(RefreshInfo {
                    family_id: r.get(0)?,
                    client_id: r.get(1)?,
                    user_id: r.get(2)?,
                    scope: r.get(3)?,
                    resources: crate::store::split_list(&r.get::<_, String>(4)?),
                    created_at: r.get(5)?,
                    expires_at: r.get(6)?,
                })
            })
            .optional()
        })
    }

    pub async fn refresh_token_owner(&self, hash: &[u8]) -> Result<Option<(String, String)>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT f.id, f.client_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ?",
            )?
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        })
    }
}
