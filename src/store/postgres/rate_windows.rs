//! Rate windows' SQL: one upsert for what a batch adds, one read for what it
//! only looks at, on an unlogged table.

use std::collections::HashMap;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::rate_windows::{Events, Window};

impl Postgres {
    pub async fn count_events(&self, events: Vec<Events>, now: i64) -> Result<Vec<Window>> {
        let (adds, reads): (Vec<&Events>, Vec<&Events>) = events.iter().partition(|e| e.add > 0);
        let mut windows = self.add_events(&adds, now).await?;
        windows.extend(self.read_windows(&reads, now).await?);
        let live = |key: &str| {
            windows.get(key).copied().unwrap_or(Window {
                started_at: now,
                count: 0,
            })
        };
        Ok(events.iter().map(|e| live(&e.key)).collect())
    }

    /// Count `adds` in one statement: a new window starts when the stored one
    /// ended. Sorted by key so that two batches lock rows in one order.
    async fn add_events(&self, adds: &[&Events], now: i64) -> Result<HashMap<String, Window>> {
        if adds.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<&str> = adds.iter().map(|e| e.key.as_str()).collect();
        let lengths: Vec<i64> = adds.iter().map(|e| e.window).collect();
        let counts: Vec<i32> = adds
            .iter()
            .map(|e| i32::try_from(e.add).unwrap_or(i32::MAX))
            .collect();
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
        .bind(&counts)
        .bind(now)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(rows
            .into_iter()
            .map(|(key, started_at, count)| {
                let count = count.max(0) as u32;
                (key, Window { started_at, count })
            })
            .collect())
    }

    /// The live windows of `reads`, without writing.
    async fn read_windows(&self, reads: &[&Events], now: i64) -> Result<HashMap<String, Window>> {
        if reads.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<&str> = reads.iter().map(|e| e.key.as_str()).collect();
        let rows: Vec<(String, i64, i64, i32)> = sqlx::query_as(
            "SELECT key, started_at, length, count FROM rate_windows WHERE key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(rows
            .into_iter()
            .map(|(key, started_at, length, count)| {
                let stored = Window {
                    started_at,
                    count: count.max(0) as u32,
                };
                (key, Window::live(Some((stored, length)), now))
            })
            .collect())
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
