//! A person's second factors (a TOTP secret, sealed, and one-time recovery
//! codes, hashed), their recent sign-ins, and what the account page lists.
//!
//! A TOTP code and a recovery code are each spent by a guarded update (the
//! step must be later than the last accepted one; the code must be unused),
//! never check-then-write, so of two racing uses of one code one wins.

use super::{Result, Store, on_backend};

/// A person's TOTP factor as stored.
pub struct TotpFactor {
    /// The sealed secret (`keys::totp::FactorSeal`).
    pub sealed: Vec<u8>,
    /// Whether a code confirmed it (an unconfirmed factor is an enrolment
    /// in progress and does not count).
    pub confirmed: bool,
    /// The last time step whose code was accepted.
    pub last_step: i64,
}

/// One recorded sign-in.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub at: i64,
    pub method: String,
    pub ip_address: String,
}

/// How many sign-ins are kept per person.
pub const SIGN_INS_KEPT: i64 = 20;

impl Store {
    pub async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>> {
        on_backend!(self, db => db.totp_factor(user_id).await)
    }

    /// Start (or restart) enrolment with a new sealed secret; `false` when
    /// the person already has a confirmed factor, which is left alone.
    pub async fn begin_totp(&self, user_id: &str, sealed: Vec<u8>, now: i64) -> Result<bool> {
        on_backend!(self, db => db.begin_totp(user_id, sealed, now).await)
    }

    /// Confirm the enrolment with the step of a code that matched, and
    /// replace the person's recovery codes by `code_hashes`, in one
    /// transaction; `false` when there was no enrolment in progress.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<bool> {
        on_backend!(self, db => db.confirm_totp(user_id, step, code_hashes, now).await)
    }

    /// Spend time step `step` of a confirmed factor: `true` only if it is
    /// later than the last one accepted (a replayed code is refused).
    pub async fn spend_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        on_backend!(self, db => db.spend_totp_step(user_id, step).await)
    }

    /// Remove the TOTP factor and every recovery code; `false` if none.
    pub async fn remove_totp(&self, user_id: &str) -> Result<bool> {
        on_backend!(self, db => db.remove_totp(user_id).await)
    }

    /// Replace the person's recovery codes (the old ones stop working).
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<()> {
        on_backend!(self, db => db.replace_recovery_codes(user_id, code_hashes, now).await)
    }

    /// Spend an unused recovery code by its keyed hash: `true` once.
    pub async fn spend_recovery_code(&self, user_id: &str, hash: &[u8], now: i64) -> Result<bool> {
        on_backend!(self, db => db.spend_recovery_code(user_id, hash, now).await)
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        on_backend!(self, db => db.recovery_codes_left(user_id).await)
    }

    /// Record a sign-in, keeping the person's newest [`SIGN_INS_KEPT`].
    pub async fn record_sign_in(&self, user_id: &str, sign_in: SignIn) -> Result<()> {
        on_backend!(self, db => db.record_sign_in(user_id, sign_in).await)
    }

    /// The person's recorded sign-ins, newest first.
    pub async fn sign_ins_of(&self, user_id: &str) -> Result<Vec<SignIn>> {
        on_backend!(self, db => db.sign_ins_of(user_id).await)
    }

    /// End every session of the person ("sign out everywhere"); how many.
    pub async fn end_sessions_of(&self, user_id: &str) -> Result<u64> {
        on_backend!(self, db => db.end_sessions_of(user_id).await)
    }

    /// When each client last obtained tokens for the person: per client, the
    /// newest refresh token of its families (issued at the code exchange and
    /// at each rotation), so the token endpoint writes nothing more for it.
    pub async fn last_used_by_client(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        on_backend!(self, db => db.last_used_by_client(user_id).await)
    }
}
