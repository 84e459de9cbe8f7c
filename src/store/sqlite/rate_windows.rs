//! Rate windows' SQL: a batch in one write transaction.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::rate_windows::{Events, Window};

impl Sqlite {
    pub async fn count_events(&self, events: Vec<Events>, now: i64) -> Result<Vec<Window>> {
        self.write((events, now), |(events, now), conn| {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO rate_windows AS w (key, started_at, length, count) \
                 VALUES (?1, ?3, ?2, ?4) \
                 ON CONFLICT (key) DO UPDATE SET \
                 started_at = CASE WHEN w.started_at + w.length <= ?3 THEN ?3 ELSE w.started_at END, \
                 length = excluded.length, \
                 count = CASE WHEN w.started_at + w.length <= ?3 THEN excluded.count \
                              ELSE w.count + excluded.count END \
                 RETURNING started_at, count",
            )?;
            events
                .iter()
                .map(|e| {
                    upsert.query_row(params![e.key, e.window, now, e.add], |r| {
                        Ok(Window {
                            started_at: r.get(0)?,
                            count: r.get(1)?,
                        })
                    })
                })
                .collect()
        })
        .await
    }

    pub async fn peek_window(&self, key: &str) -> Result<Option<(Window, i64)>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT started_at, length, count FROM rate_windows WHERE key = ?")?
                .query_row([key], |r| {
                    let window = Window {
                        started_at: r.get(0)?,
                        count: r.get(2)?,
                    };
                    Ok((window, r.get(1)?))
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
