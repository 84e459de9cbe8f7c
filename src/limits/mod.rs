//! The issuer's rate limits, all fixed windows per key:
//!
//! - token requests per client, by the tier of its registered scope (the MCP
//!   flows document's `createClientRateLimit`; the tier is
//!   [`crate::oauth::rate_tier`]);
//! - authorization requests and sign-in attempts per client IP;
//! - registrations per client IP: at most `burst` in a window of
//!   `burst / per_hour` hours, so the sustained rate is `per_hour`;
//! - failed sign-ins per account and, ten times as many, per IP: past the
//!   limit the account (or IP) waits for its window to end before any
//!   password is checked again.
//!
//! Where windows are counted ([`Counter`]): in this process's memory (the
//! kit's one limiter, [`tessera_resource::limits::Windows`]) when it is the
//! only one serving, as with SQLite; in the shared database when several
//! replicas share PostgreSQL, or in Redis when `--redis-url` names one, so
//! that every limit holds for the cluster, not per replica. A limiter is a
//! courtesy, not an access check: when the shared counter cannot be reached,
//! requests pass and a warning is logged.

mod redis;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tessera_resource::RateLimits;
use tessera_resource::clock::UnixTime;
use tessera_resource::limits::{Quota, Windows};

use crate::config::Config;
use crate::store::Store;

/// What is limited, each with its own windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Token requests per client.
    Token,
    /// Authorization requests per IP.
    Authorize,
    /// Sign-in attempts per IP.
    SignIn,
    /// Registrations per IP.
    Registration,
    /// Failed sign-ins per account (`user:NAME`) and per IP (`ip:ADDR`).
    FailedSignIn,
}

const KINDS: [Kind; 5] = [
    Kind::Token,
    Kind::Authorize,
    Kind::SignIn,
    Kind::Registration,
    Kind::FailedSignIn,
];

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::SignIn => "sign_in",
            Self::Registration => "registration",
            Self::FailedSignIn => "failed_sign_in",
        }
    }
}

/// Where windows are counted.
enum Counter {
    /// In this process: one set of windows per kind.
    Local(Box<[Windows; 5]>),
    /// In the shared database.
    Store(Store),
    /// In Redis.
    Redis(redis::Redis),
}

pub struct Limits {
    counter: Counter,
    /// Window lengths in seconds, by kind.
    windows: [i64; 5],
    /// The token endpoint's tiers.
    pub token_tiers: RateLimits,
    registration_limit: u32,
    max_failures: u32,
    /// When a failure of the shared counter was last logged.
    warned_at: AtomicI64,
}

impl Limits {
    /// The limits of `config`, counted where its deployment needs them.
    pub async fn new(config: &Config, store: &Store) -> anyhow::Result<Self> {
        let r = &config.rate_limits;
        let registration = &config.registration;
        let burst = registration.rate_limit_burst.max(1);
        let refill = u64::from(burst) * 3600 / u64::from(registration.rate_limit_per_hour.max(1));
        let lengths = [
            r.window,
            r.window,
            r.window,
            Duration::from_secs(refill.max(1)),
            config.sign_in.failure_window,
        ];
        let counter = match (&r.redis_url, store.is_shared()) {
            (Some(url), _) => Counter::Redis(redis::Redis::connect(url.expose()).await?),
            (None, true) => Counter::Store(store.clone()),
            (None, false) => Counter::Local(Box::new(lengths.map(Windows::new))),
        };
        Ok(Self {
            counter,
            windows: lengths.map(|d| (d.as_secs() as i64).max(1)),
            token_tiers: RateLimits {
                window: r.window,
                tiers: vec![
                    ("mcp:tools:*".into(), r.token_premium),
                    ("mcp:tools:basic".into(), r.token_basic),
                ],
                default_limit: r.token_default,
            },
            registration_limit: burst,
            max_failures: config.sign_in.max_failures,
            warned_at: AtomicI64::new(i64::MIN),
        })
    }

    /// Where the windows are counted, for the start-up log.
    pub fn counted_in(&self) -> &'static str {
        match self.counter {
            Counter::Local(_) => "memory",
            Counter::Store(_) => "the database",
            Counter::Redis(_) => "Redis",
        }
    }

    /// Count an event of `key` against `limit`; `Err` when its window is full.
    pub async fn count(
        &self,
        kind: Kind,
        key: &str,
        limit: u32,
        now: UnixTime,
    ) -> Result<Quota, Quota> {
        let i = index(kind);
        let window = self.windows[i];
        let counted = match &self.counter {
            Counter::Local(windows) => return windows[i].check(key, limit, now),
            Counter::Store(store) => {
                let shared = shared_key(kind, key);
                store
                    .count_event(&shared, window, now)
                    .await
                    .map(|w| (w.started_at, w.count))
                    .map_err(|e| e.to_string())
            }
            Counter::Redis(redis) => redis.count(&shared_key(kind, key), window, true, now).await,
        };
        match counted {
            Ok((started_at, count)) => {
                let quota = quota(limit, count, started_at + window - now, window);
                if count > limit { Err(quota) } else { Ok(quota) }
            }
            Err(e) => {
                self.warn(&e, now);
                Ok(quota(limit, 0, window, window))
            }
        }
    }

    /// Count a registration from `ip`.
    pub async fn registration(&self, ip: &str, now: UnixTime) -> Result<Quota, Quota> {
        self.count(Kind::Registration, ip, self.registration_limit, now)
            .await
    }

    /// Seconds until `username` (or `ip`) may try a password again, if either
    /// failed too often.
    pub async fn sign_in_blocked_for(
        &self,
        username: &str,
        ip: &str,
        now: UnixTime,
    ) -> Option<i64> {
        let (user, ip) = failure_keys(username, ip);
        let max = self.max_failures;
        if let Some(wait) = self.blocked(&user, max, now).await {
            return Some(wait);
        }
        self.blocked(&ip, max.saturating_mul(10), now).await
    }

    pub async fn sign_in_failed(&self, username: &str, ip: &str, now: UnixTime) {
        let (user, ip) = failure_keys(username, ip);
        for key in [user, ip] {
            // Counted whatever the limit: `blocked` decides.
            let _ = self.count(Kind::FailedSignIn, &key, u32::MAX, now).await;
        }
    }

    /// A successful sign-in clears the account's failures (not the IP's).
    pub async fn sign_in_succeeded(&self, username: &str, now: UnixTime) {
        let user = failure_keys(username, "").0;
        let i = index(Kind::FailedSignIn);
        let forgotten = match &self.counter {
            Counter::Local(windows) => {
                windows[i].forget(&user);
                Ok(())
            }
            Counter::Store(store) => store
                .forget_window(&shared_key(Kind::FailedSignIn, &user))
                .await
                .map_err(|e| e.to_string()),
            Counter::Redis(redis) => redis.forget(&shared_key(Kind::FailedSignIn, &user)).await,
        };
        if let Err(e) = forgotten {
            self.warn(&e, now);
        }
    }

    /// Seconds until `key`'s failures window ends, if it is full.
    async fn blocked(&self, key: &str, limit: u32, now: UnixTime) -> Option<i64> {
        let i = index(Kind::FailedSignIn);
        let window = self.windows[i];
        let peeked = match &self.counter {
            Counter::Local(windows) => {
                let q = windows[i].peek(key, limit, now);
                return (q.remaining == 0).then_some(q.reset);
            }
            Counter::Store(store) => store
                .peek_window(&shared_key(Kind::FailedSignIn, key), window, now)
                .await
                .map(|w| (w.started_at, w.count))
                .map_err(|e| e.to_string()),
            Counter::Redis(redis) => {
                redis
                    .count(&shared_key(Kind::FailedSignIn, key), window, false, now)
                    .await
            }
        };
        match peeked {
            Ok((started_at, count)) => (count >= limit).then_some(started_at + window - now),
            Err(e) => {
                self.warn(&e, now);
                None
            }
        }
    }

    /// Log a failure of the shared counter, at most once a minute.
    fn warn(&self, error: &str, now: UnixTime) {
        let last = self.warned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %error, "rate limits cannot be counted; requests pass meanwhile");
        }
    }
}

fn index(kind: Kind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

fn shared_key(kind: Kind, key: &str) -> String {
    format!("tessera:{}:{key}", kind.name())
}

fn quota(limit: u32, count: u32, reset: i64, window: i64) -> Quota {
    Quota {
        limit,
        remaining: limit.saturating_sub(count),
        reset: reset.max(0),
        window,
    }
}

fn failure_keys(username: &str, ip: &str) -> (String, String) {
    (format!("user:{username}"), format!("ip:{ip}"))
}
