//! Passkeys (WebAuthn credentials) and the ceremonies that register and use
//! them. A ceremony's state is kept in the database for minutes and spent by
//! deleting it, only for the browser session that started it: a challenge
//! answers once, on whichever replica the answer reaches.

use super::{Result, Store, on_backend};

/// A stored passkey.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub credential_id: String,
    pub user_id: String,
    pub name: String,
    /// The credential as webauthn-rs serialises it (public key, counter).
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A ceremony in progress.
pub struct Ceremony {
    pub id: String,
    pub session_hash: Vec<u8>,
    /// `register` or `sign_in`.
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub state: String,
    pub expires_at: i64,
}

impl Store {
    /// Register a passkey; `false` when the credential is registered already.
    pub async fn add_passkey(&self, p: StoredPasskey) -> Result<bool> {
        on_backend!(self, db => db.add_passkey(p).await)
    }

    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        on_backend!(self, db => db.passkeys_of(user_id).await)
    }

    pub async fn passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        on_backend!(self, db => db.passkey(credential_id).await)
    }

    /// Record a use: the updated credential (its counter) and when.
    pub async fn passkey_used(&self, credential_id: &str, passkey: String, now: i64) -> Result<()> {
        on_backend!(self, db => db.passkey_used(credential_id, passkey, now).await)
    }

    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool> {
        on_backend!(self, db => db.rename_passkey(user_id, credential_id, name).await)
    }

    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool> {
        on_backend!(self, db => db.remove_passkey(user_id, credential_id).await)
    }

    /// Keep a ceremony's state (and drop expired ones).
    pub async fn begin_ceremony(&self, c: Ceremony, now: i64) -> Result<()> {
        on_backend!(self, db => db.begin_ceremony(c, now).await)
    }

    /// Spend a live ceremony of this session and kind: its person and state,
    /// once.
    pub async fn take_ceremony(
        &self,
        id: &str,
        session_hash: &[u8],
        kind: &str,
        now: i64,
    ) -> Result<Option<(Option<String>, String)>> {
        on_backend!(self, db => db.take_ceremony(id, session_hash, kind, now).await)
    }
}
