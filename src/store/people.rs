//! People beyond their password: links to upstream OpenID providers (one per
//! provider and `sub`, never matched by e-mail), local roles, and the
//! disabled state, and what the scope policy reads of them
//! ([`PersonAccess`]).
//!
//! A first upstream sign-in provisions the person and links them in one
//! transaction; a later one refreshes what the link remembers (e-mail, the
//! groups seen). Disabling a person ends their sessions, revokes their
//! refresh families and deletes their unredeemed codes in the same
//! transaction, so no grant outlives it.

use super::changes::Kind;
use super::{Result, Store, on_backend};
use crate::oauth::policy::Memberships;

/// An upstream sign-in, as the provider vouched for it.
#[derive(Debug, Clone)]
pub struct UpstreamSignIn<'a> {
    /// The `[[identity_providers]]` id.
    pub provider: &'a str,
    /// The ID token's `sub`.
    pub subject: &'a str,
    pub email: Option<&'a str>,
    /// The groups the provider reported now (remembered for the policy).
    pub groups: &'a [String],
    /// The id a person provisioned now gets.
    pub new_id: &'a str,
    /// Usernames to try, in order, for a person provisioned now; the last
    /// should be unique (e.g. carry part of `new_id`).
    pub usernames: &'a [String],
    pub now: i64,
}

/// What an upstream sign-in found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// A person linked before; the link's e-mail and groups were refreshed.
    Known { user_id: String, username: String },
    /// A person created and linked now.
    Provisioned { user_id: String, username: String },
    /// The linked person is disabled: nothing was changed.
    Disabled { user_id: String },
    /// Every candidate username was taken: nothing was changed.
    NoFreeName,
}

/// What the scope policy and the grant paths need to know of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAccess {
    pub user_id: String,
    pub username: String,
    pub disabled: bool,
    pub memberships: Memberships,
}

/// A sign-in under way at an upstream provider (see `upstream_logins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLogin {
    pub provider: String,
    /// Keyed hash of the browser session that started it.
    pub session_hash: Vec<u8>,
    /// The pending authorization request, as JSON.
    pub request: String,
    pub expires_at: i64,
}

/// The groups column: a JSON array (group names may hold spaces).
pub(crate) fn groups_json(groups: &[String]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".to_owned())
}

/// The groups column back; a value that does not parse counts as none.
pub(crate) fn parse_groups(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Store {
    /// Find the person linked to (provider, subject), or provision and link
    /// one, in one transaction. A disabled person is reported, not changed.
    pub async fn sign_in_upstream(&self, s: &UpstreamSignIn<'_>) -> Result<Linked> {
        on_backend!(self, db => db.sign_in_upstream(s).await)
    }

    /// Roles, groups per provider and the disabled flag of `user_id`.
    pub async fn person_access(&self, user_id: &str) -> Result<Option<PersonAccess>> {
        on_backend!(self, db => db.person_access(user_id).await)
    }

    /// Disable (`true`) or enable `username`; the person's id, or `None` if
    /// there is no such person. Disabling ends every session, revokes every
    /// live refresh family (at `now`) and deletes unredeemed codes, in the
    /// same transaction; disabling twice keeps the first time.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now: i64,
    ) -> Result<Option<String>> {
        let id = on_backend!(self, db => db.set_user_disabled(username, disabled, now).await)?;
        if id.is_some() {
            self.note_change(Kind::User, username).await?;
        }
        Ok(id)
    }

    /// Record a sign-in leaving for its provider under the keyed hash of its
    /// `state`; expired ones are deleted on the way.
    pub async fn begin_upstream_login(
        &self,
        state_hash: &[u8],
        login: &UpstreamLogin,
        now: i64,
    ) -> Result<()> {
        on_backend!(self, db => db.begin_upstream_login(state_hash, login, now).await)
    }

    /// Spend the sign-in of this `state` (a guarded delete: of two callbacks
    /// with one state, one finds it). Expired ones are found too: the
    /// caller tells the person why.
    pub async fn take_upstream_login(&self, state_hash: &[u8]) -> Result<Option<UpstreamLogin>> {
        on_backend!(self, db => db.take_upstream_login(state_hash).await)
    }

    /// Replace `username`'s local roles; `Ok(false)` if there is no such person.
    pub async fn set_user_roles(&self, username: &str, roles: &[String]) -> Result<bool> {
        let roles = roles.join(" ");
        on_backend!(self, db => db.set_user_roles(username, &roles).await)
    }
}
