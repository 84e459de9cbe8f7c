//! Rate-limit windows in the database, for limits that several serving
//! processes share (`limits`): fixed windows per key, counted atomically.

use super::{Result, Store, on_backend};

/// A key's window: when it began and how many events it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub started_at: i64,
    pub count: u32,
}

impl Store {
    /// Count an event of `key` at `now` in fixed windows of `window` seconds
    /// (a new window begins at the first event after the last one ended) and
    /// return its window as counted. Atomic: concurrent processes never lose
    /// an event.
    pub async fn count_event(&self, key: &str, window: i64, now: i64) -> Result<Window> {
        on_backend!(self, db => db.count_event(key, window, now).await)
    }

    /// `key`'s live window at `now`, without counting (an empty one if its
    /// last ended).
    pub async fn peek_window(&self, key: &str, window: i64, now: i64) -> Result<Window> {
        let found = on_backend!(self, db => db.peek_window(key).await)?;
        Ok(match found {
            Some(w) if w.started_at + window > now => w,
            _ => Window {
                started_at: now,
                count: 0,
            },
        })
    }

    /// Forget `key`'s window.
    pub async fn forget_window(&self, key: &str) -> Result<()> {
        on_backend!(self, db => db.forget_window(key).await)
    }
}
