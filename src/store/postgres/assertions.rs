//! The assertion replay cache's SQL.

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
}
