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
}

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
