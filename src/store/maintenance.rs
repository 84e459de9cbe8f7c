//! Purging what can no longer be used, so tables stay the size of live data.

use super::Store;

/// Consumed or expired codes are kept a day after expiry, so that a late replay
/// still finds its code and revokes what the code issued.
const CODE_RETENTION: i64 = 86_400;

impl Store {
    /// Delete expired sessions, old codes, expired refresh tokens and families
    /// with no live token left. Returns the number of rows removed.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        let mut removed = 0;
        let statements: [(&'static str, i64); 5] = [
            ("DELETE FROM revoked_tokens WHERE expires_at <= ?", now),
            ("DELETE FROM sessions WHERE expires_at <= ?", now),
            (
                "DELETE FROM authorization_codes WHERE expires_at <= ?",
                now - CODE_RETENTION,
            ),
            ("DELETE FROM refresh_tokens WHERE expires_at <= ?", now),
            (
                "DELETE FROM refresh_families WHERE NOT EXISTS \
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id AND t.expires_at > ?)",
                now,
            ),
        ];
        for (sql, bound) in statements {
            removed += sqlx::query(sql)
                .bind(bound)
                .execute(self.writer())
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}
