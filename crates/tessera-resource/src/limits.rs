//! Rate limits: the one limiter Tessera uses everywhere (token requests per
//! client, authorization requests, sign-ins and registrations per IP, failed
//! sign-ins per account and per IP) and the kit uses per MCP client.
//!
//! [`Windows`] counts events per key in fixed windows, as the MCP flows
//! document's `createClientRateLimit` (express-rate-limit) does: a key's
//! window starts at its first event and lasts `window` seconds; at most
//! `limit` events are allowed in it, the limit chosen per call (tiers). In
//! memory, behind one mutex, in two generations of one window each: a key
//! lives in the generation its window started in, and the older generation
//! is dropped whole when a new one begins (every window in it has ended by
//! then). So a request costs O(1) however many keys are live: nothing is
//! ever swept key by key. Memory is bounded: past [`MAX_KEYS`] live keys, a
//! new key shares one overflow window with every other newcomer (keys
//! already counted keep their own), so a flood of fresh addresses is
//! limited as one. A restart forgets every count, which a limiter can afford.
//!
//! [`RateLimits`] are the flows document's tiers: a 15-minute window; a
//! token holding `mcp:tools:*` may make 1000 requests, one holding
//! `mcp:tools:basic` 100, anything else 50. Tiers match scope tokens
//! literally (the flows document's `scopes.includes(…)`), not through the
//! wildcard rule: a tier is a commercial grade, not a permission.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::UnixTime;
use crate::scope::ScopeSet;

/// Live keys kept apart at most; beyond them newcomers share [`OVERFLOW`].
pub const MAX_KEYS: usize = 200_000;

/// The window every key past [`MAX_KEYS`] is counted in.
const OVERFLOW: &str = "\u{0}overflow";

/// A key's window after an event was counted (or refused): what the
/// `RateLimit-Policy` and `RateLimit` headers and `Retry-After` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
    /// The window's length in seconds.
    pub window: i64,
}

impl Quota {
    /// Seconds to wait before the next event is allowed (at least 1).
    pub fn retry_after(&self) -> u64 {
        self.reset.max(1) as u64
    }
}

/// Fixed-window event counters per key.
#[derive(Debug)]
pub struct Windows {
    window: i64,
    generations: Mutex<Generations>,
}

/// A key's window: when it started, and the events counted in it.
type Window = (UnixTime, u32);

/// Keys whose windows started in the current generation, and in the one
/// before it (`started_at - window ..= started_at`).
#[derive(Debug, Default)]
struct Generations {
    started_at: UnixTime,
    current: HashMap<String, Window>,
    previous: HashMap<String, Window>,
}

impl Generations {
    /// Begin a new generation if the current one is a window old. What is
    /// dropped holds only windows that have ended; it is returned, to be
    /// freed outside the lock.
    fn advance(&mut self, now: UnixTime, window: i64) -> [HashMap<String, Window>; 2] {
        if now < self.started_at + window {
            return Default::default();
        }
        let older = std::mem::take(&mut self.current);
        let mut dropped = [std::mem::replace(&mut self.previous, older), HashMap::new()];
        // Two windows or more since the generation began: both have ended.
        if now >= self.started_at + 2 * window {
            dropped[1] = std::mem::take(&mut self.previous);
        }
        self.started_at = now;
        dropped
    }

    /// `key`'s window, if it has one.
    fn get(&self, key: &str) -> Option<&Window> {
        self.current.get(key).or_else(|| self.previous.get(key))
    }

    /// `key`'s window for an event at `now`: its live one, or a new one in
    /// the current generation (under [`OVERFLOW`] once [`MAX_KEYS`] are live).
    fn entry(&mut self, key: &str, now: UnixTime, window: i64) -> Option<&mut Window> {
        // The hot case, a key counted in this generation: two lookups (the
        // second only because a returned borrow cannot be conditional).
        // A key lives in one generation at a time, so `previous` need not
        // be looked at; an ended window starts again where it is.
        if self.current.contains_key(key) {
            let entry = self.current.get_mut(key)?;
            if entry.0 + window <= now {
                *entry = (now, 0);
            }
            return Some(entry);
        }
        let known = self.previous.contains_key(key);
        let key = if known || self.current.len() + self.previous.len() < MAX_KEYS {
            key
        } else {
            OVERFLOW
        };
        // A live window stays in the generation it started in; an ended one
        // starts again in the current generation.
        let live = |w: &Window| w.0 + window > now;
        let map = if self.previous.get(key).is_some_and(live) {
            &mut self.previous
        } else {
            self.previous.remove(key);
            &mut self.current
        };
        // Looked up by `&str` first: a known key costs no allocation.
        if !map.contains_key(key) {
            map.insert(key.to_owned(), (now, 0));
        }
        let entry = map.get_mut(key)?;
        if !live(entry) {
            *entry = (now, 0);
        }
        Some(entry)
    }
}

impl Windows {
    /// Windows of `window` (at least a second).
    pub fn new(window: Duration) -> Self {
        Self {
            window: (window.as_secs() as i64).max(1),
            generations: Mutex::new(Generations::default()),
        }
    }

    /// Count an event of `key` against `limit`; `Err` (and nothing counted)
    /// when its window is already full.
    pub fn check(&self, key: &str, limit: u32, now: UnixTime) -> Result<Quota, Quota> {
        self.with_entry(key, now, |entry, quota| {
            if entry.1 >= limit {
                return Err(quota(limit, 0));
            }
            entry.1 += 1;
            Ok(quota(limit, limit - entry.1))
        })
        // A poisoned lock means a panic elsewhere: fail open, as a limiter
        // is a courtesy, not an access check.
        .unwrap_or(Ok(self.fresh(limit)))
    }

    /// The quota of `key` against `limit`, without counting anything.
    pub fn peek(&self, key: &str, limit: u32, now: UnixTime) -> Quota {
        let Ok(generations) = self.generations.lock() else {
            return self.fresh(limit);
        };
        match generations.get(key) {
            Some(&(start, count)) if start + self.window > now => Quota {
                limit,
                remaining: limit.saturating_sub(count),
                reset: start + self.window - now,
                window: self.window,
            },
            _ => self.fresh(limit),
        }
    }

    /// Count an event of `key` whatever the limit (failures to be limited
    /// later, see [`Windows::peek`]).
    pub fn record(&self, key: &str, now: UnixTime) {
        let _ = self.with_entry(key, now, |entry, _| {
            entry.1 = entry.1.saturating_add(1);
        });
    }

    /// Forget `key`'s window.
    pub fn forget(&self, key: &str) {
        if let Ok(mut generations) = self.generations.lock() {
            generations.current.remove(key);
            generations.previous.remove(key);
        }
    }

    /// Keys counted apart now (live or not yet dropped): at most [`MAX_KEYS`] + 1.
    pub fn keys(&self) -> usize {
        self.generations
            .lock()
            .map_or(0, |g| g.current.len() + g.previous.len())
    }

    fn fresh(&self, limit: u32) -> Quota {
        Quota {
            limit,
            remaining: limit,
            reset: self.window,
            window: self.window,
        }
    }

    /// Run `f` on `key`'s live window (a new one if it had none or it
    /// ended), with a way to describe the quota; `None` if the lock is poisoned.
    fn with_entry<T>(
        &self,
        key: &str,
        now: UnixTime,
        f: impl FnOnce(&mut Window, &dyn Fn(u32, u32) -> Quota) -> T,
    ) -> Option<T> {
        let window = self.window;
        let mut generations = self.generations.lock().ok()?;
        let dropped = generations.advance(now, window);
        let entry = generations.entry(key, now, window)?;
        let reset = entry.0 + window - now;
        let quota = move |limit, remaining| Quota {
            limit,
            remaining,
            reset,
            window,
        };
        let result = f(entry, &quota);
        // A whole generation is freed after the lock is released.
        drop(generations);
        drop(dropped);
        Some(result)
    }
}

/// The limits: the first tier whose scope the token holds wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub window: Duration,
    pub tiers: Vec<(String, u32)>,
    pub default_limit: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            tiers: vec![
                ("mcp:tools:*".into(), 1000),
                ("mcp:tools:basic".into(), 100),
            ],
            default_limit: 50,
        }
    }
}

impl RateLimits {
    /// The limit for a request holding `scopes` (empty when unauthenticated).
    pub fn limit_for(&self, scopes: &ScopeSet) -> u32 {
        self.tiers
            .iter()
            .find(|(scope, _)| scopes.contains(scope))
            .map_or(self.default_limit, |(_, limit)| *limit)
    }
}

/// Tiered windows per key: a resource server's limit on its MCP clients.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    windows: Windows,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            windows: Windows::new(limits.window),
            limits,
        }
    }

    /// Count one request from `key` holding `scopes` at `now`.
    pub fn check(&self, key: &str, scopes: &ScopeSet, now: UnixTime) -> Result<Quota, Quota> {
        self.windows.check(key, self.limits.limit_for(scopes), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn tiers_follow_the_flows_document() {
        let l = RateLimits::default();
        assert_eq!(l.limit_for(&scopes("mcp:tools:* mcp:tools:basic")), 1000);
        assert_eq!(l.limit_for(&scopes("mcp:tools:basic")), 100);
        assert_eq!(l.limit_for(&scopes("mcp:tools:weather")), 50);
        assert_eq!(l.limit_for(&ScopeSet::default()), 50);
        // Literal membership, as `scopes.includes` in the flows document.
        assert_eq!(l.limit_for(&scopes("mcp:tools:calendar:*")), 50);
        assert_eq!(l.window, Duration::from_secs(900));
    }

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_it_resets() {
        let w = Windows::new(Duration::from_secs(900));
        assert_eq!(w.check("c", 2, 0).unwrap().remaining, 1);
        assert_eq!(w.check("c", 2, 10).unwrap().remaining, 0);
        let refused = w.check("c", 2, 20).unwrap_err();
        assert_eq!((refused.reset, refused.retry_after()), (880, 880));
        assert!(w.check("other", 2, 20).is_ok(), "keys are separate");
        assert!(w.check("c", 2, 900).is_ok(), "a new window");
    }

    #[test]
    fn the_limit_is_chosen_per_call() {
        let limiter = RateLimiter::new(RateLimits {
            default_limit: 1,
            ..RateLimits::default()
        });
        let (none, all) = (ScopeSet::default(), scopes("mcp:tools:*"));
        assert!(limiter.check("a", &none, 1000).is_ok());
        assert_eq!(limiter.check("a", &none, 1001).unwrap_err().reset, 899);
        assert!(limiter.check("a", &all, 1001).is_ok(), "a higher tier");
    }

    #[test]
    fn windows_live_across_a_generation_change_and_end_on_time() {
        let w = Windows::new(Duration::from_secs(100));
        assert!(w.check("a", 2, 1_000).is_ok());
        // A new generation begins at 1,100; `a`'s window (1,000..1,100) ended.
        assert!(w.check("b", 2, 1_150).is_ok());
        assert!(
            w.check("b", 2, 1_210).is_ok(),
            "b's window started at 1,150"
        );
        assert!(
            w.check("b", 2, 1_240).is_err(),
            "and lives in the older generation"
        );
        assert_eq!(
            w.check("b", 2, 1_250).unwrap().remaining,
            1,
            "1,250: a new window"
        );
        assert_eq!(w.peek("a", 2, 1_250).remaining, 2);
        // Long idle: both generations are dropped at once.
        assert!(w.check("c", 1, 9_000).is_ok());
        assert_eq!(w.keys(), 1);
    }

    #[test]
    fn memory_is_bounded_and_newcomers_past_the_cap_share_one_window() {
        let w = Windows::new(Duration::from_secs(60));
        for i in 0..MAX_KEYS {
            assert!(w.check(&format!("k{i}"), 1, 10).is_ok());
        }
        assert_eq!(w.keys(), MAX_KEYS);
        // Two newcomers share the overflow window (limit 1): the second waits.
        assert!(w.check("new-1", 1, 11).is_ok());
        assert!(w.check("new-2", 1, 11).is_err());
        assert_eq!(w.keys(), MAX_KEYS + 1);
        // Keys already counted keep their own windows.
        assert!(w.check("k7", 1, 12).is_err());
        assert!(w.check("k7", 2, 12).is_ok());
        // Once the windows end, generations turn over and memory is freed.
        assert!(w.check("late", 1, 200).is_ok());
        assert_eq!(w.keys(), 1);
    }

    #[test]
    fn failures_are_recorded_and_peeked_without_counting() {
        let w = Windows::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(w.peek("u:alice", 3, 100).remaining > 0);
            w.record("u:alice", 100);
        }
        let blocked = w.peek("u:alice", 3, 110);
        assert_eq!((blocked.remaining, blocked.reset), (0, 50));
        assert_eq!(w.peek("u:bob", 3, 110).remaining, 3);
        assert_eq!(w.peek("u:alice", 3, 160).remaining, 3, "the window ended");
        w.forget("u:alice");
        assert_eq!(w.peek("u:alice", 3, 110).remaining, 3);
    }
}
