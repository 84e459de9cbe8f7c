//! Refresh-token families and rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
//!
//! Every use rotates: the presented token is marked rotated by a guarded
//! update and a new one joins the family. A rotated token presented again is
//! reuse and revokes the whole family, unless it comes within the grace
//! window, which absorbs parallel refreshes from one client: then it rotates
//! once more inside the same family instead of destroying it.

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
    /// A rotated token came back after the grace window: the family is revoked.
    Reused,
    /// Unknown, expired, revoked, or another client's.
    Invalid,
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
