//! Remembered consent: what a person allowed a client, per resource.

use super::changes::Kind;
use super::{Result, Store, on_backend};

/// A remembered consent, as listed.
#[derive(Debug, serde::Serialize)]
pub struct Consent {
    pub client_id: String,
    /// The resource it is for ('' for a consent given before consent was
    /// per resource: it matches no request).
    pub resource: String,
    pub scope: String,
    pub updated_at: i64,
}

/// What a person allowed a client at one resource: its URI and the
/// space-separated scopes.
pub type AtResource = (String, String);

impl Store {
    /// Every resource at which `user_id` allowed `client_id` something.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Vec<AtResource>> {
        on_backend!(self, db => db.consent(user_id, client_id).await)
    }

    /// Store the merged scopes of a consent, per resource (callers compute
    /// the unions), in one transaction.
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        rows: Vec<AtResource>,
        now: i64,
    ) -> Result<()> {
        on_backend!(self, db => db.save_consent(user_id, client_id, rows, now).await)
    }

    /// Withdraw a consent and delete the refresh families it allowed;
    /// `false` if there was none.
    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool> {
        let revoked = on_backend!(self, db => db.revoke_consent(user_id, client_id).await)?;
        if revoked {
            self.note_change(Kind::Consent, user_id).await?;
        }
        Ok(revoked)
    }

    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<Consent>> {
        on_backend!(self, db => db.consents_of(user_id).await)
    }
}
