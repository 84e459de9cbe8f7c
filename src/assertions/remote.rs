//! JWK sets published at a URL (a client's `jwks_uri`, a trusted identity
//! provider's), fetched safely (`metadata_documents::fetch`), cached for the
//! response's `max-age` (5 minutes to an hour), and fetched again early only
//! when an assertion names a `kid` the cached set lacks: a key rotated in is
//! found at once, while assertions with made-up `kid`s cause at most one
//! early fetch per URL every [`REFETCH_AFTER`] (and a failing URL is not
//! fetched again sooner either).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::metadata_documents::fetch::fetch_json;
use crate::oauth::client_keys::{MAX_JWKS_BYTES, jwks_uri_rule, key_set};

/// The shortest time between two fetches of one URL.
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// The longest a fetched set is used without fetching it again.
const MAX_CACHE: Duration = Duration::from_secs(3600);
/// URLs remembered at most (beyond it, expired entries are dropped).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    set: Option<Arc<Value>>,
    /// The last attempt, successful or not.
    fetched_at: Instant,
    expires_at: Instant,
    /// The last early fetch for an unknown `kid`.
    refetched_at: Option<Instant>,
}

#[derive(Default)]
pub struct RemoteKeys {
    entries: Mutex<HashMap<String, Entry>>,
}

impl RemoteKeys {
    /// The key set at `url`, fresh enough to hold `kid` if it exists.
    pub async fn get(
        &self,
        url: &str,
        kid: Option<&str>,
        allow_loopback: bool,
    ) -> Result<Arc<Value>, String> {
        if let Some(cached) = self.cached(url, kid) {
            return cached;
        }
        let early = self.is_cached(url);
        let parsed = jwks_uri_rule(url)?;
        let fetched = fetch_json(&parsed, allow_loopback, MAX_JWKS_BYTES, "the JWK set").await;
        let now = Instant::now();
        let result = fetched.and_then(|f| {
            key_set(&f.document).map_err(|why| format!("the JWK set at the jwks_uri: {why}"))?;
            Ok((Arc::new(f.document), f.cache_for.min(MAX_CACHE)))
        });
        let mut map = self.entries.lock().map_err(|_| "key cache poisoned")?;
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.expires_at > now);
        }
        match result {
            Ok((set, ttl)) => {
                let refetched_at = match map.get(url) {
                    _ if early => Some(now),
                    Some(old) => old.refetched_at,
                    None => None,
                };
                map.insert(
                    url.to_owned(),
                    Entry {
                        set: Some(set.clone()),
                        fetched_at: now,
                        expires_at: now + ttl,
                        refetched_at,
                    },
                );
                Ok(set)
            }
            Err(why) => {
                // Remember the attempt (keeping a set still valid), so a
                // failing URL is not fetched again for every assertion.
                let entry = map.entry(url.to_owned()).or_insert(Entry {
                    set: None,
                    fetched_at: now,
                    expires_at: now,
                    refetched_at: None,
                });
                entry.fetched_at = now;
                if early {
                    entry.refetched_at = Some(now);
                }
                Err(why)
            }
        }
    }

    /// Whether `url` holds a set still fresh (a fetch now is an early one).
    fn is_cached(&self, url: &str) -> bool {
        let now = Instant::now();
        self.entries.lock().is_ok_and(|map| {
            map.get(url)
                .is_some_and(|e| e.set.is_some() && e.expires_at > now)
        })
    }

    /// The cached answer for `url`, if fetching again is not warranted:
    /// `None` to fetch.
    fn cached(&self, url: &str, kid: Option<&str>) -> Option<Result<Arc<Value>, String>> {
        let map = self.entries.lock().ok()?;
        let entry = map.get(url)?;
        let now = Instant::now();
        let recent = now.duration_since(entry.fetched_at) < REFETCH_AFTER;
        match &entry.set {
            Some(set) if entry.expires_at > now => {
                let known = kid.is_none_or(|k| super::verify::has_kid(set, k));
                let refetched_lately = entry
                    .refetched_at
                    .is_some_and(|at| now.duration_since(at) < REFETCH_AFTER);
                (known || refetched_lately).then(|| Ok(set.clone()))
            }
            _ if recent => Some(
                entry
                    .set
                    .clone()
                    .filter(|_| entry.expires_at > now)
                    .ok_or_else(|| {
                        "the JWK set could not be fetched just now: try again shortly".to_owned()
                    }),
            ),
            _ => None,
        }
    }
}
