//! The assertion replay cache's SQL, and the ID-JAG grant's link lookup.

use super::{Postgres, database};
use crate::store::Result;

impl Postgres {
    pub async fn spend_assertion(&self, key: &str, expires_at: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO assertion_jtis (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE assertion_jtis.expires_at <= $3",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn linked_person(&self, provider: &str, subject: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)
    }
}
