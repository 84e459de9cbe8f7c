//! Settings' SQL.

use super::{Postgres, database};
use crate::store::Result;

impl Postgres {
    pub async fn generated_setting(&self, name: &'static str, candidate: &[u8]) -> Result<Vec<u8>> {
        self.transaction(async |conn| {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .execute(&mut *conn)
            .await?;
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *conn)
                .await
        })
        .await
    }

    pub async fn setting(&self, name: &'static str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }
}
