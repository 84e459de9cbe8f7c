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

/// `unix` as RFC 3339 in UTC (`2023-11-14T22:13:20Z`), as audit events and
/// health checks report time.
pub fn rfc3339(unix: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told_and_its_clones_follow() {
        let clock = FixedClock::new(100);
        let other = clock.clone();
        clock.advance(5);
        assert_eq!((clock.now(), other.now()), (105, 105));
        assert_eq!(other.now_millis(), 105_000);
    }
}
