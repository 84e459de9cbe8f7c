//! Failed sign-in throttling, per account and per client IP.
//!
//! A fixed window per key: after `limit` failures within `window` seconds the
//! key is refused until the window ends. In memory: a restart forgets, which
//! is acceptable for slowing password guessing (the argon2 cost does the rest).

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Throttle {
    limit: u32,
    window: i64,
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Throttle {
    pub fn new(limit: u32, window: i64) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, if it is blocked now.
    pub fn blocked_for(&self, key: &str, now: i64) -> Option<i64> {
        let map = self.failures.lock().ok()?;
        let (count, start) = *map.get(key)?;
        let left = start + self.window - now;
        (count >= self.limit && left > 0).then_some(left)
    }

    pub fn record_failure(&self, key: &str, now: i64) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > 100_000 {
            map.retain(|_, (_, start)| *start + self.window > now);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if entry.1 + self.window <= now {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_the_limit_until_the_window_ends() {
        let t = Throttle::new(3, 60);
        for _ in 0..3 {
            assert_eq!(t.blocked_for("u:alice", 100), None);
            t.record_failure("u:alice", 100);
        }
        assert_eq!(t.blocked_for("u:alice", 110), Some(50));
        assert_eq!(t.blocked_for("u:bob", 110), None);
        assert_eq!(t.blocked_for("u:alice", 160), None);
        t.clear("u:alice");
        assert_eq!(t.blocked_for("u:alice", 110), None);
    }
}
