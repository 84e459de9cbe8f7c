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
