//! Server-wide generated values: the client-secret pepper, the audit chain's
//! default key and what the chain keeps about its keying (`store::chain`).

use super::{Result, Store, on_backend};

impl Store {
    /// The client-secret pepper: `candidate` becomes it on first use, and
    /// whatever is stored is returned. Concurrent first starts agree on one
    /// value (the first insert wins).
    pub async fn client_secret_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.generated_setting("client_secret_pepper", candidate)
            .await
    }

    /// The audit chain's key when none is configured, generated like the
    /// pepper.
    pub async fn audit_chain_default_key(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.generated_setting("audit_chain_key", candidate).await
    }

    /// The setting `name`: `candidate` if it had none (the first insert wins).
    /// A read-only store keeps nothing: it answers what is stored, or else
    /// `candidate` for this process alone.
    pub(super) async fn generated_setting(
        &self,
        name: &'static str,
        candidate: &[u8],
    ) -> Result<Vec<u8>> {
        if self.is_read_only() {
            return Ok(self
                .setting(name)
                .await?
                .unwrap_or_else(|| candidate.to_vec()));
        }
        on_backend!(self, db => db.generated_setting(name, candidate).await)
    }

    pub(super) async fn setting(&self, name: &'static str) -> Result<Option<Vec<u8>>> {
        on_backend!(self, db => db.setting(name).await)
    }
}
