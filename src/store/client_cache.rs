//! A short-lived cache of the token endpoint's client rows.
//!
//! Every token request needs its client's authentication row; reading it from
//! SQLite costs more than everything else on the path but the signature. Rows
//! are kept for [`TTL`] seconds. Every change this process makes (removal,
//! update, pruning, a refetched metadata document) drops the entry at once;
//! a change made by another process (`tessera client remove`) is seen within
//! [`TTL`]. Unknown clients are never cached, so a new registration works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::clients::ClientAuth;

/// Seconds a cached row is trusted.
pub const TTL: i64 = 2;

/// A cached row and the time it stops being trusted.
type Entry = (Arc<ClientAuth>, i64);

#[derive(Debug, Default, Clone)]
pub struct ClientCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// When this process last recorded each client's use.
    touched: Arc<Mutex<HashMap<String, i64>>>,
}

/// How often a client's `last_used_at` is refreshed.
const TOUCH_EVERY: i64 = 3600;

impl ClientCache {
    pub fn get(&self, id: &str, now: i64) -> Option<Arc<ClientAuth>> {
        let map = self.entries.lock().ok()?;
        map.get(id)
            .filter(|(_, expires)| *expires > now)
            .map(|(c, _)| c.clone())
    }

    pub fn put(&self, client: Arc<ClientAuth>, now: i64) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 50_000 {
                map.retain(|_, (_, expires)| *expires > now);
            }
            map.insert(client.id.clone(), (client, now + TTL));
        }
    }

    /// Whether `last_used_at` should be written now (and note that it is).
    pub fn touch_due(&self, id: &str, now: i64) -> bool {
        let Ok(mut map) = self.touched.lock() else {
            return true;
        };
        if map.len() > 50_000 {
            map.retain(|_, at| *at + TOUCH_EVERY > now);
        }
        match map.get(id) {
            Some(at) if *at + TOUCH_EVERY > now => false,
            _ => {
                map.insert(id.to_owned(), now);
                true
            }
        }
    }

    pub fn forget(&self, id: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(id);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}
