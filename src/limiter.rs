//! A keyed token-bucket rate limiter, in memory.
//!
//! Each key (an IP, a client id) has a bucket of `burst` tokens refilled at
//! `per_hour` an hour. A request takes one token or learns how long until one
//! is back. Buckets idle long enough to be full again are dropped, so memory
//! follows the number of recently active keys.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Limiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, f64)>>,
}

impl Limiter {
    pub fn new(burst: u32, per_hour: u32) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_hour.max(1)) / 3600.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `key` at `now` (seconds, fractional allowed); `Err`
    /// carries the whole seconds to wait.
    pub fn check(&self, key: &str, now: f64) -> Result<(), u64> {
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() > 100_000 {
            let full_after = self.burst / self.per_second;
            map.retain(|_, (_, at)| now - *at < full_after);
        }
        let (tokens, at) = map.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + (now - *at) * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_wait_for_the_refill() {
        let l = Limiter::new(3, 3600); // one token a second
        for _ in 0..3 {
            assert_eq!(l.check("ip", 0.0), Ok(()));
        }
        assert_eq!(l.check("ip", 0.0), Err(1));
        assert_eq!(l.check("other", 0.0), Ok(()), "keys are independent");
        assert_eq!(l.check("ip", 1.0), Ok(()));
        assert_eq!(l.check("ip", 1.0), Err(1));
    }
}

/// A fixed-window counter per key, as the MCP flows document's
/// `createClientRateLimit` (express-rate-limit) counts: at most `limit`
/// requests per `window` seconds, the limit chosen per request (tiers).
pub struct WindowLimiter {
    window: i64,
    counts: Mutex<HashMap<String, (i64, u32)>>,
}

/// What a window looks like after a request was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
    pub window: i64,
}

impl WindowLimiter {
    pub fn new(window: i64) -> Self {
        Self {
            window: window.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Count a request for `key` against `limit`; `Err` when it is over.
    pub fn check(&self, key: &str, limit: u32, now: i64) -> Result<Quota, Quota> {
        let window = self.window;
        let Ok(mut map) = self.counts.lock() else {
            return Ok(Quota {
                limit,
                remaining: limit,
                reset: window,
                window,
            });
        };
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| *start + window > now);
        }
        let entry = match map.get_mut(key) {
            Some(e) => e,
            None => map.entry(key.to_owned()).or_insert((now, 0)),
        };
        if entry.0 + window <= now {
            *entry = (now, 0);
        }
        let reset = entry.0 + window - now;
        if entry.1 >= limit {
            return Err(Quota {
                limit,
                remaining: 0,
                reset,
                window,
            });
        }
        entry.1 += 1;
        Ok(Quota {
            limit,
            remaining: limit - entry.1,
            reset,
            window,
        })
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_it_resets() {
        let l = WindowLimiter::new(900);
        assert_eq!(l.check("c", 2, 0).unwrap().remaining, 1);
        assert_eq!(l.check("c", 2, 10).unwrap().remaining, 0);
        let refused = l.check("c", 2, 20).unwrap_err();
        assert_eq!(refused.reset, 880);
        assert!(l.check("other", 2, 20).is_ok());
        assert!(l.check("c", 2, 900).is_ok(), "a new window");
    }
}

/// `RateLimit-Policy` and `RateLimit` as express-rate-limit sends them
/// (draft-ietf-httpapi-ratelimit-headers-07): `100;w=900` and
/// `limit=100, remaining=99, reset=873`.
pub fn quota_headers(headers: &mut axum::http::HeaderMap, q: &Quota) {
    use axum::http::HeaderValue;
    // Written with itoa rather than `format!`: these two headers are on every
    // token response.
    let mut n = itoa::Buffer::new();
    let mut policy = String::with_capacity(24);
    policy.push_str(n.format(q.limit));
    policy.push_str(";w=");
    policy.push_str(n.format(q.window));
    if let Ok(v) = HeaderValue::try_from(policy) {
        headers.insert("ratelimit-policy", v);
    }
    let mut state = String::with_capacity(48);
    state.push_str("limit=");
    state.push_str(n.format(q.limit));
    state.push_str(", remaining=");
    state.push_str(n.format(q.remaining));
    state.push_str(", reset=");
    state.push_str(n.format(q.reset.max(0)));
    if let Ok(v) = HeaderValue::try_from(state) {
        headers.insert("ratelimit", v);
    }
}
