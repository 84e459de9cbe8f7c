//! Purging's SQL: one statement per table, each its own transaction.

use super::{Postgres, database};
use crate::store::Result;
use crate::store::changes::KEEP_CHANGES;
use crate::store::maintenance::{CODE_RETENTION, RATE_WINDOW_RETENTION};

const PURGES: [(&str, i64); 7] = [
    (
        "DELETE FROM rate_windows WHERE started_at <= $1",
        RATE_WINDOW_RETENTION,
    ),
    ("DELETE FROM revoked_tokens WHERE expires_at <= $1", 0),
    ("DELETE FROM assertion_jtis WHERE expires_at <= $1", 0),
    ("DELETE FROM sessions WHERE expires_at <= $1", 0),
    (
        "DELETE FROM authorization_codes WHERE expires_at <= $1",
        CODE_RETENTION,
    ),
    ("DELETE FROM refresh_tokens WHERE expires_at <= $1", 0),
    (
        "DELETE FROM refresh_families WHERE NOT EXISTS \
         (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id AND t.expires_at > $1)",
        0,
    ),
];

impl Postgres {
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut removed = 0;
        for (sql, kept_for) in PURGES {
            removed += sqlx::query(sql)
                .bind(now - kept_for)
                .execute(&mut *self.pool.conn().await?)
                .await
                .map_err(database)?
                .rows_affected();
        }
        // The feed's rows carry the database's own time.
        removed +=
            sqlx::query("DELETE FROM changes WHERE at <= EXTRACT(EPOCH FROM now())::BIGINT - $1")
                .bind(KEEP_CHANGES)
                .execute(&mut *self.pool.conn().await?)
                .await
                .map_err(database)?
                .rows_affected();
        Ok(removed)
    }
}
