//! Server-wide generated values (the client-secret pepper).

use super::{Result, Store, on_backend};

impl Store {
    /// The client-secret pepper: `candidate` becomes it on first use, and
    /// whatever is stored is returned. Concurrent first starts agree on one
    /// value (the first insert wins).
    pub async fn client_secret_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        on_backend!(self, db => db.client_secret_pepper(candidate).await)
    }
}
