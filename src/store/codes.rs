//! Authorization codes: inserted at consent, consumed atomically at the token
//! endpoint (a guarded update, never check-then-write). A second redemption
//! finds the code consumed and revokes what the first one issued: its refresh
//! family and its access token (OAuth 2.1 §4.1.3, "reuse of authorization
//! codes").

use super::{Result, Store, on_backend};

pub struct NewCode<'a> {
    pub hash: &'a [u8],
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub redirect_uri: &'a str,
    pub redirect_uri_sent: bool,
    pub code_challenge: &'a str,
    /// The granted scope, space-separated.
    pub scope: &'a str,
    pub resources: &'a [String],
    pub auth_time: i64,
    pub expires_at: i64,
}

/// What a code grants, as stored with it.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    /// The granted scope, space-separated.
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: i64,
}

#[derive(Debug)]
pub enum Redemption {
    /// First use: the code is now consumed.
    Fresh(CodeGrant),
    /// The code was already used; what the first use issued is now revoked.
    Replayed,
    /// Unknown, expired, or issued to another client.
    Invalid,
}

/// What a successful redemption issues, decided (and signed) before the
/// transaction so the writer is held only for the SQL.
pub struct Issued {
    /// The refresh family and its first token, when the client may refresh.
    pub family: Option<NewFamily>,
    pub access_jti: String,
    pub access_exp: i64,
}

/// A refresh-token family started by a code.
pub struct NewFamily {
    pub id: String,
    pub token_hash: Vec<u8>,
    pub token_expires_at: i64,
}

impl Store {
    /// Store a new code (group-committed).
    pub async fn insert_code(&self, c: &NewCode<'_>) -> Result<()> {
        on_backend!(self, db => db.insert_code(c).await)
    }

    /// An unconsumed, unexpired code of this client, read without touching it
    /// (the checks run on it before [`Store::redeem_code`] consumes it).
    pub async fn pending_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> Result<Option<CodeGrant>> {
        on_backend!(self, db => db.pending_code(hash, client_id, now).await)
    }

    /// Consume a code and, when it was fresh and `issued` is given, create the
    /// refresh family and remember what was issued (so a replay can revoke
    /// it), in one transaction. Without `issued` the code is only consumed: a
    /// redemption whose checks failed still uses it up.
    pub async fn redeem_code(
        &self,
        hash: &[u8],
        client_id: &str,
        now: i64,
        issued: Option<Issued>,
    ) -> Result<Redemption> {
        on_backend!(self, db => db.redeem_code(hash, client_id, now, issued).await)
    }
}
