//! The change feed's SQL.

use super::{Postgres, database};
use crate::store::Result;

impl Postgres {
    pub async fn note_change(&self, kind: &'static str, key: &str) -> Result<()> {
        sqlx::query("INSERT INTO changes (kind, key) VALUES ($1, $2)")
            .bind(kind)
            .bind(key)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    pub async fn changes_after(&self, seq: i64) -> Result<Vec<(i64, String, String)>> {
        sqlx::query_as("SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq LIMIT 1000")
            .bind(seq)
            .fetch_all(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }

    pub async fn last_change(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }
}
