//! Per-client request limits tiered by scope, as the MCP flows document's
//! `createClientRateLimit` describes: a 15-minute window; a token holding
//! `mcp:tools:*` may make 1000 requests, one holding `mcp:tools:basic` 100,
//! anything else 50. The key is the token's client id, else the client IP.
//!
//! Tiers match scope tokens literally (the flows document's
//! `scopes.includes(…)`), not through the wildcard rule: a tier is a
//! commercial grade, not a permission. Windows are fixed (counted from a key's
//! first request), in memory, behind one mutex; the map is swept of finished
//! windows when it grows large, so memory follows the recently active keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::UnixTime;
use crate::oauth::scope::ScopeSet;

use super::config::ConfigError;

/// Keys tracked before finished windows are swept.
const SWEEP_AT: usize = 100_000;

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

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.window.as_secs() == 0 {
            return Err(ConfigError(
                "the rate-limit window must be at least 1s".into(),
            ));
        }
        Ok(())
    }
}

/// Fixed-window counters per key.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    windows: Mutex<HashMap<String, (UnixTime, u32)>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request from `key` at `now`; `Err` carries the seconds until
    /// its window ends (the `Retry-After` value).
    pub fn check(&self, key: &str, scopes: &ScopeSet, now: UnixTime) -> Result<(), u64> {
        let window = self.limits.window.as_secs() as i64;
        let limit = self.limits.limit_for(scopes);
        // A poisoned lock means a panic elsewhere; failing open keeps the MCP
        // server answering, and the limiter is a courtesy, not an access check.
        let Ok(mut map) = self.windows.lock() else {
            return Ok(());
        };
        if map.len() >= SWEEP_AT {
            map.retain(|_, (start, _)| now - *start < window);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err((entry.0 + window - now).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
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
    fn a_window_counts_up_to_the_limit_then_resets() {
        let limiter = RateLimiter::new(RateLimits {
            default_limit: 2,
            ..RateLimits::default()
        });
        let none = ScopeSet::default();
        assert_eq!(limiter.check("a", &none, 1000), Ok(()));
        assert_eq!(limiter.check("a", &none, 1001), Ok(()));
        assert_eq!(limiter.check("a", &none, 1100), Err(800));
        assert_eq!(limiter.check("b", &none, 1100), Ok(()), "keys are separate");
        assert_eq!(limiter.check("a", &none, 1900), Ok(()), "a new window");
    }

    #[test]
    fn a_zero_window_is_refused() {
        let l = RateLimits {
            window: Duration::ZERO,
            ..RateLimits::default()
        };
        assert!(l.validate().is_err());
    }
}
