//! Windows counted where every replica sees them (the database or Redis),
//! without a round trip per request.
//!
//! A replica decides alone while a window is far from full: it counts the
//! event locally and a flush every [`FLUSH_EVERY`] adds what it counted to
//! the shared window in one batch, learning the other replicas' counts in
//! return. Once its view of a window reaches half the limit, and always for
//! limits under [`BATCH_FROM`], every event is counted in the shared window
//! before it is allowed: small limits hold exactly, and large ones but for
//! what other replicas counted in their last flush interval while under half
//! of them. A window known to be full refuses at once, without a round trip.
//!
//! Hot keys (one busy client, every user behind one NAT) are then one row
//! update per flush, not one contended row lock per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tessera_resource::clock::{Clock, UnixTime};

use super::redis::Redis;
use crate::store::Store;
use crate::store::rate_windows::{Events, Window};

/// How often locally counted events reach the shared windows.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// How long after its last event a window's shared count is still read on
/// every flush, so that this replica learns what the others flushed after it.
const FOLLOW_FOR: Duration = Duration::from_secs(1);

/// Windows this replica keeps a view of at most; keys beyond it (a flood of
/// addresses) are counted in the shared window directly.
const MAX_KEYS: usize = 100_000;

/// Limits under this are counted event by event: a client allowed 50 tokens
/// a window makes few requests, and each of them should count exactly.
pub const BATCH_FROM: u32 = 100;

/// The shared counter itself.
pub enum Counter {
    Store(Store),
    Redis(Redis),
}

impl Counter {
    /// Count `events` (an `add` of 0 only reads).
    pub async fn count(&self, events: Vec<Events>, now: UnixTime) -> Result<Vec<Window>, String> {
        match self {
            Self::Store(store) => store
                .count_events(events, now)
                .await
                .map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.count(&events, now).await,
        }
    }

    /// `key`'s live window, without counting.
    pub async fn peek(&self, key: &str, window: i64, now: UnixTime) -> Result<Window, String> {
        let events = vec![Events {
            key: key.to_owned(),
            window,
            add: 0,
        }];
        let counted = self.count(events, now).await?;
        counted.first().copied().ok_or_else(|| "no answer".into())
    }

    pub async fn forget(&self, key: &str) -> Result<(), String> {
        match self {
            Self::Store(store) => store.forget_window(key).await.map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.forget(key).await,
        }
    }
}

/// This replica's view of one shared window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    window: i64,
    started_at: UnixTime,
    /// The shared count when last learned.
    shared: u32,
    /// Counted here since, not yet flushed.
    pending: u32,
    /// Counted here and on their way to the shared window (a flush or an
    /// exact count awaiting its answer): still part of this replica's view.
    sending: u32,
    /// When this replica last counted an event in it.
    used: Instant,
    /// Whether `started_at` came from the shared window, not a guess.
    learned: bool,
}

impl Entry {
    fn new(window: i64, now: UnixTime) -> Self {
        Self {
            window,
            started_at: now,
            shared: 0,
            pending: 0,
            sending: 0,
            used: Instant::now(),
            learned: false,
        }
    }
}

/// A count as decided: `(started_at, count)` with the event included.
pub type Counted = (UnixTime, u32);

pub struct Shared {
    pub counter: Counter,
    keys: Mutex<HashMap<String, Entry>>,
}

impl Shared {
    /// Count in `counter`, flushing every [`FLUSH_EVERY`] until dropped.
    pub fn start(counter: Counter, clock: Arc<dyn Clock>) -> Arc<Self> {
        let shared = Arc::new(Self {
            counter,
            keys: Mutex::new(HashMap::new()),
        });
        tokio::spawn(flush_until_dropped(Arc::downgrade(&shared), clock));
        shared
    }

    /// Count an event of `key` against `limit`; the count includes it (over
    /// `limit`: refused).
    pub async fn count(
        &self,
        key: &str,
        window: i64,
        limit: u32,
        now: UnixTime,
    ) -> Result<Counted, String> {
        let pending = match self.decide(key, window, limit, now) {
            Ok(counted) => return Ok(counted),
            Err(pending) => pending,
        };
        let events = vec![Events {
            key: key.to_owned(),
            window,
            add: pending.saturating_add(1),
        }];
        let answer = self.counter.count(events, now).await;
        match answer.and_then(|c| c.first().copied().ok_or_else(|| "no answer".into())) {
            Ok(w) => {
                self.learn(key, window, w, pending);
                Ok((w.started_at, w.count))
            }
            Err(e) => {
                self.restore(key, window, pending, now);
                Err(e)
            }
        }
    }

    /// This replica's view of `key`'s live window, `(started_at, count)`:
    /// the shared count last learned plus what is pending here.
    pub fn view(&self, key: &str, now: UnixTime) -> Option<Counted> {
        let keys = self.keys.lock().ok()?;
        let e = keys.get(key)?;
        let seen = e.shared.saturating_add(e.pending).saturating_add(e.sending);
        (e.started_at + e.window > now).then_some((e.started_at, seen))
    }

    /// Decide locally if the window is far from full or known to be full;
    /// otherwise take this key's pending events to count with this one
    /// (`Err(pending)`).
    fn decide(&self, key: &str, window: i64, limit: u32, now: UnixTime) -> Result<Counted, u32> {
        let Ok(mut keys) = self.keys.lock() else {
            return Err(0);
        };
        let full = keys.len() >= MAX_KEYS;
        let entry = match keys.get_mut(key) {
            Some(e) => e,
            None if full => return Err(0),
            None => keys
                .entry(key.to_owned())
                .or_insert(Entry::new(window, now)),
        };
        entry.used = Instant::now();
        if entry.started_at + entry.window <= now {
            // The window ended; events not yet flushed count in the next.
            entry.started_at = now;
            entry.shared = 0;
            entry.learned = false;
        }
        let estimate = entry.shared.saturating_add(entry.pending);
        let estimate = estimate.saturating_add(entry.sending).saturating_add(1);
        if estimate > limit {
            return Ok((entry.started_at, estimate));
        }
        if limit >= BATCH_FROM && estimate.saturating_mul(2) <= limit {
            entry.pending = entry.pending.saturating_add(1);
            return Ok((entry.started_at, estimate));
        }
        let taken = std::mem::take(&mut entry.pending);
        entry.sending = entry.sending.saturating_add(taken);
        Err(taken)
    }

    /// Take in a shared window's count. Answers may arrive out of order (a
    /// flush and a request's count overlap): a count never goes back within
    /// a window, and an older window is ignored.
    fn learn(&self, key: &str, window: i64, w: Window, sent: u32) {
        if let Ok(mut keys) = self.keys.lock()
            && let Some(entry) = keys.get_mut(key)
        {
            // The `sent` events are in the shared count now, and leave the
            // view's `sending` in the same step (never counted twice or not at all).
            entry.sending = entry.sending.saturating_sub(sent);
            entry.window = window;
            if !entry.learned || w.started_at > entry.started_at {
                entry.started_at = w.started_at;
                entry.shared = w.count;
                entry.learned = true;
            } else if w.started_at == entry.started_at {
                entry.shared = entry.shared.max(w.count);
            }
        }
    }

    /// Give back events a failed count took (they were on their way).
    fn restore(&self, key: &str, window: i64, pending: u32, now: UnixTime) {
        if pending == 0 {
            return;
        }
        if let Ok(mut keys) = self.keys.lock() {
            let entry = keys
                .entry(key.to_owned())
                .or_insert(Entry::new(window, now));
            entry.sending = entry.sending.saturating_sub(pending);
            entry.pending = entry.pending.saturating_add(pending);
        }
    }

    /// Add every pending count to the shared windows in one batch, learn
    /// their counts (also of windows used in the last [`FOLLOW_FOR`]), and
    /// forget windows that ended with nothing pending.
    pub async fn flush(&self, now: UnixTime) -> Result<(), String> {
        let events: Vec<Events> = {
            let Ok(mut keys) = self.keys.lock() else {
                return Ok(());
            };
            keys.retain(|_, e| e.pending > 0 || e.started_at + e.window > now);
            let followed = Instant::now().checked_sub(FOLLOW_FOR);
            keys.iter_mut()
                .filter(|(_, e)| e.pending > 0 || followed.is_none_or(|f| e.used > f))
                .map(|(key, e)| {
                    let add = std::mem::take(&mut e.pending);
                    e.sending = e.sending.saturating_add(add);
                    Events {
                        key: key.clone(),
                        window: e.window,
                        add,
                    }
                })
                .collect()
        };
        if events.is_empty() {
            return Ok(());
        }
        match self.counter.count(events.clone(), now).await {
            Ok(counted) => {
                for (e, w) in events.iter().zip(counted) {
                    self.learn(&e.key, e.window, w, e.add);
                }
                Ok(())
            }
            Err(error) => {
                for e in &events {
                    self.restore(&e.key, e.window, e.add, now);
                }
                Err(error)
            }
        }
    }
}

async fn flush_until_dropped(shared: Weak<Shared>, clock: Arc<dyn Clock>) {
    let mut every = tokio::time::interval(FLUSH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.flush(clock.now()).await {
            tracing::debug!(error = %e, "rate limits could not be flushed; kept for the next flush");
        }
    }
}
