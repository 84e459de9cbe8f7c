//! Browser sessions at the authorization server, found by the keyed hash of
//! their cookie.

use super::{Result, Store, on_backend};

#[derive(Clone)]
pub struct Session {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub csrf: String,
    pub auth_time: Option<i64>,
}

/// The CSRF token never reaches a log line or a `Debug` output.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("csrf", &"…")
            .field("auth_time", &self.auth_time)
            .finish()
    }
}

pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub user_id: Option<&'a str>,
    pub csrf: &'a str,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        on_backend!(self, db => db.create_session(s).await)
    }

    /// A live session by the keyed hash of its cookie.
    pub async fn session(&self, id_hash: &[u8], now: i64) -> Result<Option<Session>> {
        on_backend!(self, db => db.session(id_hash, now).await)
    }

    /// Delete a session and, opportunistically, every expired one.
    pub async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<()> {
        on_backend!(self, db => db.delete_session(id_hash, now).await)
    }
}
