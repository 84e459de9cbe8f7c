//! Rate windows' SQL: one upsert per event on an unlogged table.

use super::{Postgres, database};
use crate::store::Result;
use crate::store::rate_windows::Window;

impl Postgres {
    pub async fn count_event(&self, key: &str, window: i64, now: i64) -> Result<Window> {
        let (started_at, count): (i64, i32) = sqlx::query_as(
            "INSERT INTO rate_windows AS w (key, started_at, count) VALUES ($1, $3, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             started_at = CASE WHEN w.started_at + $2 <= $3 THEN $3 ELSE w.started_at END, \
             count = CASE WHEN w.started_at + $2 <= $3 THEN 1 ELSE w.count + 1 END \
             RETURNING started_at, count",
        )
        .bind(key)
        .bind(window)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(database)?;
        Ok(Window {
            started_at,
            count: count.max(0) as u32,
        })
    }

    pub async fn peek_window(&self, key: &str) -> Result<Option<Window>> {
        let row: Option<(i64, i32)> =
            sqlx::query_as("SELECT started_at, count FROM rate_windows WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(database)?;
        Ok(row.map(|(started_at, count)| Window {
            started_at,
            count: count.max(0) as u32,
        }))
    }

    pub async fn forget_window(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM rate_windows WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(database)
    }
}
