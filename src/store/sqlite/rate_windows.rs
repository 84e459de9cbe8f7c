//! Rate windows' SQL: a batch in one write transaction, or a read when the
//! batch adds nothing.

use rusqlite::{Connection, OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::rate_windows::{Events, Window};

impl Sqlite {
    pub async fn count_events(&self, events: Vec<Events>, now: i64) -> Result<Vec<Window>> {
        if events.iter().all(|e| e.add == 0) {
            return self.read(|conn| {
                events
                    .iter()
                    .map(|e| Ok(Window::live(stored(conn, &e.key)?, now)))
                    .collect()
            });
        }
        self.write((events, now), |(events, now), conn| {
            events
                .iter()
                .map(|e| match e.add {
                    0 => Ok(Window::live(stored(conn, &e.key)?, *now)),
                    _ => add(conn, e, *now),
                })
                .collect()
        })
        .await
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

fn add(conn: &Connection, e: &Events, now: i64) -> rusqlite::Result<Window> {
    conn.prepare_cached(
        "INSERT INTO rate_windows AS w (key, started_at, length, count) \
         VALUES (?1, ?3, ?2, ?4) \
         ON CONFLICT (key) DO UPDATE SET \
         started_at = CASE WHEN w.started_at + w.length <= ?3 THEN ?3 ELSE w.started_at END, \
         length = excluded.length, \
         count = CASE WHEN w.started_at + w.length <= ?3 THEN excluded.count \
                      ELSE w.count + excluded.count END \
         RETURNING started_at, count",
    )?
    .query_row(params![e.key, e.window, now, e.add], |r| {
        Ok(Window {
            started_at: r.get(0)?,
            count: r.get(1)?,
        })
    })
}

/// `key`'s stored window and its length.
fn stored(conn: &Connection, key: &str) -> rusqlite::Result<Option<(Window, i64)>> {
    conn.prepare_cached("SELECT started_at, length, count FROM rate_windows WHERE key = ?")?
        .query_row([key], |r| {
            let window = Window {
                started_at: r.get(0)?,
                count: r.get(2)?,
            };
            Ok((window, r.get(1)?))
        })
        .optional()
}
