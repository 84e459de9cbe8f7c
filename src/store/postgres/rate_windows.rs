//! Rate windows' SQL: one upsert for a whole batch, on an unlogged table.

use super::{Postgres, database};
use crate::store::Result;
use crate::store::rate_windows::{Events, Window};

impl Postgres {
    pub async fn count_events(&self, events: Vec<Events>, now: i64) -> Result<Vec<Window>> {
        let keys: Vec<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let lengths: Vec<i64> = events.iter().map(|e| e.window).collect();
        let adds: Vec<i32> = events
            .iter()
            .map(|e| e.add.min(i32::MAX as u32) as i32)
            .collect();
        // One statement for every key: a new window starts when the stored one
        // ended. Sorted by key so that two batches lock rows in one order.
        let rows: Vec<(String, i64, i32)> = sqlx::query_as(
            "INSERT INTO rate_windows AS w (key, started_at, length, count) \
             SELECT k, $4, l, a FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t(k, l, a) \
             ORDER BY k \
             ON CONFLICT (key) DO UPDATE SET \
             started_at = CASE WHEN w.started_at + w.length <= $4 THEN $4 ELSE w.started_at END, \
             length = EXCLUDED.length, \
             count = CASE WHEN w.started_at + w.length <= $4 THEN EXCLUDED.count \
                          ELSE w.count + EXCLUDED.count END \
             RETURNING key, started_at, count",
        )
        .bind(&keys)
        .bind(&lengths)
        .bind(&adds)
        .bind(now)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        let counted: std::collections::HashMap<String, Window> = rows
            .into_iter()
            .map(|(key, started_at, count)| {
                let count = count.max(0) as u32;
                (key, Window { started_at, count })
            })
            .collect();
        Ok(keys
            .iter()
            .map(|k| {
                counted.get(*k).copied().unwrap_or(Window {
                    started_at: now,
                    count: 0,
                })
            })
            .collect())
    }

    pub async fn peek_window(&self, key: &str) -> Result<Option<(Window, i64)>> {
        let row: Option<(i64, i64, i32)> =
            sqlx::query_as("SELECT started_at, length, count FROM rate_windows WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *self.pool.conn().await?)
                .await
                .map_err(database)?;
        Ok(row.map(|(started_at, length, count)| {
            let count = count.max(0) as u32;
            (Window { started_at, count }, length)
        }))
    }

    pub async fn forget_window(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM rate_windows WHERE key = $1")
            .bind(key)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }
}
