//! A bounded map from tokens to what the kit learned about them, each entry
//! with its own expiry: verified claims until the token's `exp`, positive
//! introspection answers for a few seconds.
//!
//! Entries are keyed by SHA-256 of the token, so the cache never holds a
//! usable credential. When full it first drops expired entries, then
//! arbitrary ones (HashMap order): a miss costs one signature verification,
//! so precision in eviction is not worth a lock held longer.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

type Key = [u8; 32];

#[derive(Debug)]
pub struct TokenCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<Key, (V, UnixTime)>>,
}

fn key(token: &str) -> Key {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl<V: Clone> TokenCache<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `token` while `now` is before its expiry.
    pub fn get(&self, token: &str, now: UnixTime) -> Option<V> {
        let map = self.entries.lock().ok()?;
        match map.get(&key(token)) {
            Some((value, expires_at)) if now < *expires_at => Some(value.clone()),
            _ => None,
        }
    }

    /// Remember `value` for `token` until `expires_at`.
    pub fn insert(&self, token: &str, value: V, expires_at: UnixTime, now: UnixTime) {
        if self.capacity == 0 || expires_at <= now {
            return;
        }
        // A poisoned lock only costs the cache, never an answer.
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= self.capacity {
            map.retain(|_, (_, exp)| now < *exp);
        }
        if map.len() >= self.capacity {
            let excess = map.len() + 1 - self.capacity.saturating_mul(9) / 10;
            let victims: Vec<Key> = map.keys().take(excess).copied().collect();
            for k in victims {
                map.remove(&k);
            }
        }
        map.insert(key(token), (value, expires_at));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_their_expiry() {
        let cache = TokenCache::new(10);
        cache.insert("t", 7, 100, 50);
        assert_eq!(cache.get("t", 99), Some(7));
        assert_eq!(cache.get("t", 100), None);
        assert_eq!(cache.get("other", 60), None);
        cache.insert("dead", 1, 40, 50);
        assert_eq!(cache.get("dead", 30), None, "already expired: not stored");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(10);
        for i in 0..100 {
            cache.insert(&format!("t{i}"), i, 1000, 0);
            assert!(cache.len() <= 10);
        }
        assert_eq!(cache.get("t99", 1), Some(99), "the newest entry is kept");
        let expired_first = TokenCache::new(2);
        expired_first.insert("old", 0, 10, 0);
        expired_first.insert("live", 1, 1000, 0);
        expired_first.insert("new", 2, 1000, 20);
        assert_eq!(
            expired_first.get("live", 20),
            Some(1),
            "expired entries go first"
        );
        assert_eq!(expired_first.get("new", 20), Some(2));
    }
}
