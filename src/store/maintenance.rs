//! Purging what can no longer be used, so tables stay the size of live data.

use super::{Result, Store, on_backend};

/// Consumed or expired codes are kept a day after expiry, so that a late replay
/// still finds its code and revokes what the code issued.
pub const CODE_RETENTION: i64 = 86_400;

/// Shared rate-limit windows are deleted this long after they began: longer
/// than any window lasts.
pub const RATE_WINDOW_RETENTION: i64 = 7 * 86_400;

impl Store {
    /// Delete expired sessions, old codes, expired refresh tokens, families
    /// with no live token left, and deny-list entries past their token's
    /// expiry. Returns the number of rows removed.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        on_backend!(self, db => db.purge_expired(now).await)
    }
}
