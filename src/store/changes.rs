//! The change feed: what one process (a replica, the CLI) changed that the
//! others' caches must drop. Writers note a change after the write commits;
//! every serving process reads the feed a few times a second
//! (`server::watch`), so a removed client, a rotated key or a removed person
//! reaches every process within a second on either backend.

use super::{Result, Store, on_backend};

/// What kind of thing changed. (`user` carries the username.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client was removed, updated or pruned (`key`: its id, or `*`).
    Client,
    /// A signing key was added, sealed or deleted.
    Key,
    /// A person was removed, or their password changed (`key`: their name).
    User,
    /// A consent was withdrawn (`key`: the user id).
    Consent,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Key => "key",
            Self::User => "user",
            Self::Consent => "consent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client" => Some(Self::Client),
            "key" => Some(Self::Key),
            "user" => Some(Self::User),
            "consent" => Some(Self::Consent),
            _ => None,
        }
    }
}

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: Kind,
    pub key: String,
}

/// How long entries are kept: far longer than any process takes to read them.
pub const KEEP_CHANGES: i64 = 3600;

impl Store {
    /// Tell every process that `key` of `kind` changed.
    pub(super) async fn note_change(&self, kind: Kind, key: &str) -> Result<()> {
        on_backend!(self, db => db.note_change(kind.as_str(), key).await)
    }

    /// The entries after `seq`, oldest first (at most a thousand).
    pub async fn changes_after(&self, seq: i64) -> Result<Vec<Change>> {
        let rows = on_backend!(self, db => db.changes_after(seq).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, kind, key)| {
                Some(Change {
                    seq,
                    kind: Kind::parse(&kind)?,
                    key,
                })
            })
            .collect())
    }

    /// The newest entry's `seq` (0 when there is none): where a process that
    /// starts now begins reading.
    pub async fn last_change(&self) -> Result<i64> {
        on_backend!(self, db => db.last_change().await)
    }

    /// Forget what this process cached of `change`.
    pub fn forget(&self, change: &Change) {
        if change.kind == Kind::Client {
            match change.key.as_str() {
                "*" => self.clients.clear(),
                id => self.clients.forget(id),
            }
        }
    }
}
