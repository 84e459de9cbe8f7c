//! Rate-limit windows in the database, for limits that several serving
//! processes share (`limits`): fixed windows per key, counted atomically,
//! many keys in one round trip.

use super::{Result, Store, on_backend};

/// Events to count against a key's window; an `add` of 0 only reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    pub key: String,
    /// The window's length in seconds.
    pub window: i64,
    pub add: u32,
}

/// A key's window: when it began and how many events it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub started_at: i64,
    pub count: u32,
}

impl Window {
    /// The window `stored` (with its length) stands for at `now`: itself
    /// while it lasts, else a new, empty one.
    pub fn live(stored: Option<(Window, i64)>, now: i64) -> Self {
        match stored {
            Some((w, length)) if w.started_at + length > now => w,
            _ => Window {
                started_at: now,
                count: 0,
            },
        }
    }
}

impl Store {
    /// Count `events` at `now`, each in fixed windows of its length (a new
    /// window begins at the first event after the last one ended), and
    /// return each key's window as counted, in order. Atomic per key:
    /// concurrent processes never lose an event. Events that add nothing
    /// only read their window: nothing is written for them. Keys must be
    /// distinct.
    pub async fn count_events(&self, events: Vec<Events>, now: i64) -> Result<Vec<Window>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        on_backend!(self, db => db.count_events(events, now).await)
    }

    /// Forget `key`'s window.
    pub async fn forget_window(&self, key: &str) -> Result<()> {
        on_backend!(self, db => db.forget_window(key).await)
    }
}
