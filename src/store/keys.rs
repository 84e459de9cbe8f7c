//! Persisted signing keys, as stored: the private key sealed or not (sealing
//! and opening are [`crate::keys`]' business; the store keeps bytes).

use super::changes::Kind;
use super::{Result, Store, on_backend};

/// A signing key's row.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    /// The private key: DER, or sealed DER when `encrypted`.
    pub private_der: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
    pub encrypted: bool,
}

/// A key as listed by `tessera keys list`.
#[derive(Debug, serde::Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub encrypted: bool,
}

impl Store {
    /// Store a key; every process reloads its key ring (the change feed).
    pub async fn insert_key(&self, key: KeyRow) -> Result<()> {
        let kid = key.kid.clone();
        on_backend!(self, db => db.insert_key(key).await)?;
        self.note_change(Kind::Key, &kid).await
    }

    /// Every stored key.
    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>> {
        on_backend!(self, db => db.signing_keys().await)
    }

    /// Replace a plaintext key by its sealed form.
    pub async fn seal_key(&self, kid: &str, sealed: Vec<u8>) -> Result<()> {
        on_backend!(self, db => db.seal_key(kid, sealed).await)
    }

    pub async fn delete_key(&self, kid: &str) -> Result<()> {
        on_backend!(self, db => db.delete_key(kid).await)?;
        self.note_change(Kind::Key, kid).await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeySummary>> {
        on_backend!(self, db => db.list_keys().await)
    }
}
