//! The replay cache of JWT assertions (RFC 7523 §3: client assertions and
//! ID-JAGs carry a `jti` that may be used once), shared by every process on
//! the database. Keys are digests, so the table's rows are bounded whatever
//! an assertion's issuer or `jti` is. Also the one lookup the ID-JAG grant
//! makes when it may only link, never provision: the person linked to a
//! provider's `sub`.

use super::{Result, Store, on_backend};

impl Store {
    /// Spend the assertion `key` until `expires_at`: `true` if it was not
    /// spent before (or only by an assertion that has expired since), `false`
    /// for a replay. One guarded insert, so of two racing presentations, on
    /// any replicas, one wins.
    pub async fn spend_assertion(&self, key: &str, expires_at: i64, now: i64) -> Result<bool> {
        on_backend!(self, db => db.spend_assertion(key, expires_at, now).await)
    }

    /// The person linked to (`provider`, `subject`), without creating or
    /// changing anything (`sign_in_upstream` provisions).
    pub async fn linked_person(&self, provider: &str, subject: &str) -> Result<Option<String>> {
        on_backend!(self, db => db.linked_person(provider, subject).await)
    }
}
