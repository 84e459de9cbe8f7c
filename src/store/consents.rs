//! Remembered consent: what a person allowed a client.

use super::changes::Kind;
use super::{Result, Store, on_backend};

/// A remembered consent, as listed.
#[derive(Debug, serde::Serialize)]
pub struct Consent {
    pub client_id: String,
    pub scope: String,
    pub updated_at: i64,
}

impl Store {
    /// The scopes `user_id` has allowed `client_id`, space-separated.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        on_backend!(self, db => db.consent(user_id, client_id).await)
    }

    /// Store the merged scope of a consent (callers compute the union).
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        on_backend!(self, db => db.save_consent(user_id, client_id, scope, now).await)
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
