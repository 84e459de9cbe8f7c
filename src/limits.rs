//! The issuer's rate limits, every one counted by the one limiter
//! ([`tessera_resource::limits::Windows`], fixed windows per key):
//!
//! - token requests per client, by the tier of its registered scope (the MCP
//!   flows document's `createClientRateLimit`; the tier is
//!   [`crate::oauth::rate_tier`]);
//! - authorization requests and sign-in attempts per client IP;
//! - registrations per client IP: at most `burst` in a window of
//!   `burst / per_hour` hours, so the sustained rate is `per_hour`;
//! - failed sign-ins per account and, ten times as many, per IP: past the
//!   limit the account (or IP) waits for its window to end before any
//!   password is checked again. A restart forgets, which is acceptable for
//!   slowing password guessing: the argon2 cost does the rest.

use std::time::Duration;

use tessera_resource::RateLimits;
use tessera_resource::clock::UnixTime;
use tessera_resource::limits::{Quota, Windows};

use crate::config::Config;

pub struct Limits {
    /// Token requests per client.
    pub token: Windows,
    /// The token endpoint's tiers.
    pub token_tiers: RateLimits,
    /// Authorization requests per IP.
    pub authorize: Windows,
    /// Sign-in attempts per IP.
    pub sign_in: Windows,
    registration: Windows,
    registration_limit: u32,
    failed_sign_ins: Windows,
    max_failures: u32,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let r = &config.rate_limits;
        let registration = &config.registration;
        let burst = registration.rate_limit_burst.max(1);
        let refill = u64::from(burst) * 3600 / u64::from(registration.rate_limit_per_hour.max(1));
        Self {
            token: Windows::new(r.window),
            token_tiers: RateLimits {
                window: r.window,
                tiers: vec![
                    ("mcp:tools:*".into(), r.token_premium),
                    ("mcp:tools:basic".into(), r.token_basic),
                ],
                default_limit: r.token_default,
            },
            authorize: Windows::new(r.window),
            sign_in: Windows::new(r.window),
            registration: Windows::new(Duration::from_secs(refill.max(1))),
            registration_limit: burst,
            failed_sign_ins: Windows::new(config.sign_in.failure_window),
            max_failures: config.sign_in.max_failures,
        }
    }

    /// Count a registration from `ip`.
    pub fn registration(&self, ip: &str, now: UnixTime) -> Result<Quota, Quota> {
        self.registration.check(ip, self.registration_limit, now)
    }

    /// Seconds until `username` (or `ip`) may try a password again, if either
    /// failed too often.
    pub fn sign_in_blocked_for(&self, username: &str, ip: &str, now: UnixTime) -> Option<i64> {
        let (user, ip) = failure_keys(username, ip);
        let blocked = |key: &str, limit: u32| {
            let q = self.failed_sign_ins.peek(key, limit, now);
            (q.remaining == 0).then_some(q.reset)
        };
        blocked(&user, self.max_failures)
            .or_else(|| blocked(&ip, self.max_failures.saturating_mul(10)))
    }

    pub fn sign_in_failed(&self, username: &str, ip: &str, now: UnixTime) {
        let (user, ip) = failure_keys(username, ip);
        self.failed_sign_ins.record(&user, now);
        self.failed_sign_ins.record(&ip, now);
    }

    /// A successful sign-in clears the account's failures (not the IP's).
    pub fn sign_in_succeeded(&self, username: &str) {
        self.failed_sign_ins.forget(&failure_keys(username, "").0);
    }
}

fn failure_keys(username: &str, ip: &str) -> (String, String) {
    (format!("user:{username}"), format!("ip:{ip}"))
}
