//! Refresh-token families and rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
//!
//! Every use rotates: the presented token is marked rotated by a guarded
//! update and a new one joins the family. A rotated token presented again is
//! reuse and revokes the whole family, unless it comes within the grace
//! window, which absorbs parallel refreshes from one client: then it starts a
//! second branch of the family instead of destroying it. At most one branch
//! survives (RFC 9700 §4.14.2): the next rotation of any branch supersedes
//! every other live token, and a superseded token presented again is reuse.
//! A spent token presented by another client revokes its family too.

use super::{Result, Store, on_backend};

/// The grant a family carries.
#[derive(Debug, Clone)]
pub struct Family {
    pub id: String,
    pub user_id: String,
    /// The granted scope, space-separated.
    pub scope: String,
    pub resources: Vec<String>,
    pub auth_time: i64,
    /// When the authorization created the family (its absolute lifetime
    /// counts from here).
    pub created_at: i64,
}

#[derive(Debug)]
pub enum Rotation {
    /// Rotated (possibly as a benign replay within the grace window).
    Rotated(Family),
    /// A rotated token came back after the grace window or from a superseded
    /// branch, or from another client: the family is revoked.
    Reused,
    /// Unknown, expired, revoked, or another client's live token.
    Invalid,
}

/// A presented token that was not live, as the store found it.
#[derive(Debug)]
pub struct NotLive {
    pub family_id: String,
    /// The client the family was granted to.
    pub client_id: String,
    pub rotated_at: Option<i64>,
    /// Rotated because another branch of its family rotated.
    pub superseded: bool,
    pub revoked_at: Option<i64>,
}

/// What a not-live token's return means.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// A benign race within the grace window: a second branch may start.
    Branch,
    /// Reuse (or a leak): revoke the family, for this reason.
    Reuse(&'static str),
    /// Expired or already revoked: nothing to do but refuse.
    Invalid,
}

impl NotLive {
    /// The rule, the same for every backend: a rotated token is a benign
    /// replay only from its own client, within `grace` seconds, and never
    /// once superseded. (A live token from another client is refused but
    /// not spent: the mistake is the caller's, and the owner keeps working.)
    pub fn verdict(&self, client_id: &str, now: i64, grace: i64) -> Replay {
        if self.revoked_at.is_some() {
            return Replay::Invalid;
        }
        let own = self.client_id == client_id;
        match self.rotated_at {
            None => Replay::Invalid,
            Some(_) if !own => Replay::Reuse("spent refresh token presented by another client"),
            Some(_) if self.superseded => Replay::Reuse("refresh token reuse (superseded branch)"),
            Some(at) if now - at <= grace => Replay::Branch,
            Some(_) => Replay::Reuse("refresh token reuse"),
        }
    }
}

/// A rotation: the presented token's key, its successor's, and the rules.
pub struct Rotate<'a> {
    pub presented: &'a [u8],
    pub client_id: &'a str,
    pub next: &'a [u8],
    pub next_expires_at: i64,
    pub now: i64,
    /// Seconds a rotated token may come back without revoking its family.
    pub grace: i64,
}

/// A refresh-token family as `tessera client show` lists it.
#[derive(Debug, serde::Serialize)]
pub struct FamilySummary {
    pub id: String,
    pub username: Option<String>,
    pub scope: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_why: Option<String>,
    /// Tokens of the family that can still be exchanged (0 or 1, or 2 briefly after a grace replay).
    pub live_tokens: i64,
}

impl Store {
    /// Exchange the presented token for its successor (group-committed); see
    /// the module docs.
    pub async fn rotate_refresh(&self, r: &Rotate<'_>) -> Result<Rotation> {
        on_backend!(self, db => db.rotate_refresh(r).await)
    }

    /// The family of the token keyed `token` (live or not) if it is
    /// `client_id`'s: its grant, read without rotating anything.
    pub async fn refresh_family(&self, token: &[u8], client_id: &str) -> Result<Option<Family>> {
        on_backend!(self, db => db.refresh_family(token, client_id).await)
    }

    /// Revoke one family (group-committed).
    pub async fn revoke_family_by_id(&self, id: &str, why: &'static str, now: i64) -> Result<()> {
        on_backend!(self, db => db.revoke_family_by_id(id, why, now).await)
    }

    /// Revoke every live family of a client; returns how many.
    pub async fn revoke_families(&self, client_id: &str, why: &str, now: i64) -> Result<u64> {
        on_backend!(self, db => db.revoke_families(client_id, why, now).await)
    }

    /// The newest thousand families of a client.
    pub async fn families_of_client(
        &self,
        client_id: &str,
        now: i64,
    ) -> Result<Vec<FamilySummary>> {
        on_backend!(self, db => db.families_of_client(client_id, now).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(rotated_at: Option<i64>, superseded: bool) -> NotLive {
        NotLive {
            family_id: "f".into(),
            client_id: "c".into(),
            rotated_at,
            superseded,
            revoked_at: None,
        }
    }

    #[test]
    fn a_spent_token_branches_only_within_grace_from_its_own_client_and_never_once_superseded() {
        let cases = [
            ("live, own client", spent(None, false), "c", Replay::Invalid),
            (
                "live, other client",
                spent(None, false),
                "x",
                Replay::Invalid,
            ),
            (
                "rotated 5 s ago",
                spent(Some(95), false),
                "c",
                Replay::Branch,
            ),
            (
                "rotated 11 s ago",
                spent(Some(89), false),
                "c",
                Replay::Reuse("refresh token reuse"),
            ),
            (
                "superseded 1 s ago",
                spent(Some(99), true),
                "c",
                Replay::Reuse("refresh token reuse (superseded branch)"),
            ),
            (
                "rotated, other client",
                spent(Some(99), false),
                "x",
                Replay::Reuse("spent refresh token presented by another client"),
            ),
        ];
        for (why, token, client, want) in cases {
            assert_eq!(token.verdict(client, 100, 10), want, "{why}");
        }
        let mut revoked = spent(Some(99), false);
        revoked.revoked_at = Some(99);
        assert_eq!(revoked.verdict("c", 100, 10), Replay::Invalid);
    }
}
