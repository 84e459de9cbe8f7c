//! Persisted people: their names and password hashes.

use super::changes::Kind;
use super::{Result, Store, on_backend};

#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub created_at: i64,
    /// Whether the person has a password (people provisioned from an
    /// identity provider have none).
    pub password: bool,
    /// The identity providers (ids) the person is linked to.
    pub providers: Vec<String>,
    /// Local roles, for the scope policy.
    pub roles: Vec<String>,
    /// When the person was disabled, if they are.
    pub disabled_at: Option<i64>,
    /// Whether an authenticator app (TOTP) is their second factor.
    pub totp: bool,
    /// How many passkeys they registered.
    pub passkeys: i64,
}

/// What sign-in needs: the id and the password hash. A person without a
/// password is not found (the password form treats the name as unknown).
pub struct Credentials {
    pub id: String,
    pub password_hash: String,
    /// A disabled person may not sign in, whatever the password.
    pub disabled: bool,
}

impl Store {
    /// Create a user; `Ok(false)` if the name is taken.
    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        on_backend!(self, db => db.create_user(id, username, hash, now).await)
    }

    pub async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>> {
        on_backend!(self, db => db.user_credentials(username).await)
    }

    pub async fn user_exists(&self, id: &str) -> Result<bool> {
        on_backend!(self, db => db.user_exists(id).await)
    }

    pub async fn user_count(&self) -> Result<i64> {
        on_backend!(self, db => db.user_count().await)
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        on_backend!(self, db => db.list_users().await)
    }

    /// Replace a password; `Ok(false)` if there is no such user. Existing
    /// sessions end and every live refresh family of the person is revoked
    /// (at `now`), in the same transaction: neither a stolen session nor a
    /// stolen refresh token outlives a password change.
    pub async fn set_password(&self, username: &str, hash: &str, now: i64) -> Result<bool> {
        let changed = on_backend!(self, db => db.set_password(username, hash, now).await)?;
        if changed {
            self.note_change(Kind::User, username).await?;
        }
        Ok(changed)
    }

    /// Delete a user; sessions, consents, codes and refresh families go with it.
    pub async fn remove_user(&self, username: &str) -> Result<bool> {
        let removed = on_backend!(self, db => db.remove_user(username).await)?;
        if removed {
            self.note_change(Kind::User, username).await?;
        }
        Ok(removed)
    }
}
