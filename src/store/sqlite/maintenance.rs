//! Purging's SQL: one statement per table, each its own transaction, so the
//! writer is never held for the whole purge.

use super::Sqlite;
use crate::store::Result;
use crate::store::changes::KEEP_CHANGES;
use crate::store::maintenance::{CODE_RETENTION, RATE_WINDOW_RETENTION};

const PURGES: [(&str, i64); 7] = [
    (
        "DELETE FROM rate_windows WHERE started_at <= ?",
        RATE_WINDOW_RETENTION,
    ),
    ("DELETE FROM revoked_tokens WHERE expires_at <= ?", 0),
    ("DELETE FROM assertion_jtis WHERE expires_at <= ?", 0),
    ("DELETE FROM sessions WHERE expires_at <= ?", 0),
    (
        "DELETE FROM authorization_codes WHERE expires_at <= ?",
        CODE_RETENTION,
    ),
    ("DELETE FROM refresh_tokens WHERE expires_at <= ?", 0),
    (
        "DELETE FROM refresh_families WHERE NOT EXISTS \
         (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id AND t.expires_at > ?)",
        0,
    ),
];

impl Sqlite {
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut removed = 0;
        for (sql, kept_for) in PURGES {
            removed += self
                .write((sql, now - kept_for), |(sql, before), conn| {
                    conn.prepare_cached(sql)?
                        .execute([before])
                        .map(|n| n as u64)
                })
                .await?;
        }
        // The feed's rows carry the database's own time.
        removed += self
            .write(KEEP_CHANGES, |keep, conn| {
                conn.prepare_cached("DELETE FROM changes WHERE at <= unixepoch() - ?")?
                    .execute([keep])
                    .map(|n| n as u64)
            })
            .await?;
        Ok(removed)
    }
}
