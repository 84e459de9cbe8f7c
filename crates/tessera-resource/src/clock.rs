//! The only place that reads the wall clock.
//!
//! Protocol code takes `now` as an argument; handlers ask the [`Clock`] in
//! `AppState`. Tests install a [`FixedClock`] to move time deterministically
//! (code expiry, token expiry, grace windows) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, the one time representation used in storage
/// and tokens (JWT `iat`/`exp` are NumericDate, RFC 7519 §2).
pub type UnixTime = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;

    /// Milliseconds since the epoch, for ordering only (time-ordered token
    /// keys); nothing is decided on it.
    fn now_millis(&self) -> i64 {
        self.now() * 1000
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn now_millis(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// A clock that only moves when told to; shared by clones.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn new(start: UnixTime) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
