//! Rate windows' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::rate_windows::Window;

impl Sqlite {
    pub async fn count_event(&self, key: &str, window: i64, now: i64) -> Result<Window> {
        self.write((key.to_owned(), window, now), |(key, window, now), conn| {
            conn.prepare_cached(
                "INSERT INTO rate_windows (key, started_at, count) VALUES (?1, ?3, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 started_at = CASE WHEN rate_windows.started_at + ?2 <= ?3 THEN ?3 ELSE rate_windows.started_at END, \
                 count = CASE WHEN rate_windows.started_at + ?2 <= ?3 THEN 1 ELSE rate_windows.count + 1 END \
                 RETURNING started_at, count",
            )?
            .query_row(params![key, window, now], |r| {
                Ok(Window {
                    started_at: r.get(0)?,
                    count: r.get(1)?,
                })
            })
        })
        .await
    }

    pub async fn peek_window(&self, key: &str) -> Result<Option<Window>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT started_at, count FROM rate_windows WHERE key = ?")?
                .query_row([key], |r| {
                    Ok(Window {
                        started_at: r.get(0)?,
                        count: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    pub async fn forget_window(&self, key: &str) -> Result<()> {
        self.write(key.to_owned(), |key, conn| {
            conn.prepare_cached("DELETE FROM rate_windows WHERE key = ?")?
                .execute([key])
                .map(|_| ())
        })
        .await
    }
}
