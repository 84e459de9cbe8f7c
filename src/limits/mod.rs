//! The issuer's rate limits, all fixed windows per key:
//!
//! - token requests per client, by the tier of its registered scope (the MCP
//!   flows document's `createClientRateLimit`; the tier is
//!   [`crate::oauth::rate_tier`]);
//! - authorization requests and sign-in attempts per client IP;
//! - registrations per client IP: at most `burst` in a window of
//!   `burst / per_hour` hours, so the sustained rate is `per_hour`;
//! - failed sign-ins per account from one IP, and, ten times as many, per
//!   account and per IP: past a limit the account (from that IP, or from
//!   everywhere) or the IP waits for its window to end before any password
//!   is checked again. The (account, IP) limit comes first, so an attacker
//!   guessing from one place locks out only that place, not the person.
//!
//! IPv6 clients are keyed by their /64 (`http::client_ip::key`).
//!
//! Where windows are counted ([`Counter`]): in this process's memory (the
//! kit's one limiter, [`tessera_resource::limits::Windows`]) when it is the
//! only one serving, as with SQLite; in the shared database when several
//! replicas share PostgreSQL, or in Redis when `--redis-url` names one, so
//! that every limit holds for the cluster, not per replica (`shared`: in
//! batches while a window is far from full, event by event near its limit).
//! A limiter is a courtesy, not an access check: when the shared counter
//! cannot be reached, requests pass and a warning is logged.

mod redis;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tessera_resource::RateLimits;
use tessera_resource::clock::{Clock, UnixTime};
use tessera_resource::limits::{Quota, Windows};

use crate::config::Config;
use crate::store::Store;
use crate::store::rate_windows::Events;
use shared::Shared;

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
    /// Failed sign-ins per account and IP (`from:NAME|ADDR`), per account
    /// (`user:NAME`) and per IP (`ip:ADDR`).
    FailedSignIn,
    /// Failed token requests per IP.
    TokenFailure,
}

const KINDS: [Kind; 6] = [
    Kind::Token,
    Kind::Authorize,
    Kind::SignIn,
    Kind::Registration,
    Kind::FailedSignIn,
    Kind::TokenFailure,
];

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::SignIn => "sign_in",
            Self::Registration => "registration",
            Self::FailedSignIn => "failed_sign_in",
            Self::TokenFailure => "token_failure",
        }
    }
}

/// Where windows are counted.
enum Counter {
    /// In this process: one set of windows per kind.
    Local(Box<[Windows; 6]>),
    /// In the shared database or Redis.
    Shared(Arc<Shared>),
}

pub struct Limits {
    counter: Counter,
    /// Window lengths in seconds, by kind.
    windows: [i64; 6],
    /// The token endpoint's tiers.
    pub token_tiers: RateLimits,
    registration_limit: u32,
    max_failures: u32,
    /// When a failure of the shared counter was last logged.
    warned_at: AtomicI64,
}

impl Limits {
    /// The limits of `config`, counted where its deployment needs them.
    pub async fn new(
        config: &Config,
        store: &Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
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
            r.window,
        ];
        let shared = match (&r.redis_url, store.is_shared()) {
            (Some(url), _) => Some(shared::Counter::Redis(
                redis::Redis::connect(url.expose()).await?,
            )),
            (None, true) => Some(shared::Counter::Store(store.clone())),
            (None, false) => None,
        };
        let counter = match shared {
            Some(counter) => Counter::Shared(Shared::start(counter, clock)),
            None => Counter::Local(Box::new(lengths.map(Windows::new))),
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
        match &self.counter {
            Counter::Local(_) => "memory",
            Counter::Shared(s) => match s.counter {
                shared::Counter::Store(_) => "the database",
                shared::Counter::Redis(_) => "Redis",
            },
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
        let shared = match &self.counter {
            Counter::Local(windows) => return windows[i].check(key, limit, now),
            Counter::Shared(shared) => shared,
        };
        match shared
            .count(&shared_key(kind, key), window, limit, now)
            .await
        {
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

    /// The quota of `key` if its window is already full. A shared window is
    /// judged by this replica's view of it while that is under half the
    /// limit (no round trip), and read from the shared counter past that,
    /// so small limits still hold exactly for the cluster.
    pub async fn full(&self, kind: Kind, key: &str, limit: u32, now: UnixTime) -> Option<Quota> {
        let i = index(kind);
        let window = self.windows[i];
        let shared = match &self.counter {
            Counter::Local(windows) => {
                let q = windows[i].peek(key, limit, now);
                return (q.remaining == 0).then_some(q);
            }
            Counter::Shared(shared) => shared,
        };
        let key = shared_key(kind, key);
        let (started_at, count) = match shared.view(&key, now) {
            Some(seen) if seen.1.saturating_mul(2) >= limit => {
                match shared.counter.peek(&key, window, now).await {
                    // What this replica counted but has not flushed yet is
                    // in its (live) view, not in the shared window.
                    Ok(w) => (w.started_at, w.count.max(seen.1)),
                    // Unreachable: what this replica saw still counts.
                    Err(e) => {
                        self.warn(&e, now);
                        seen
                    }
                }
            }
            _ => return None,
        };
        (count >= limit).then(|| quota(limit, count, started_at + window - now, window))
    }

    /// Count an event of `key` whatever its limit (failures, looked at
    /// later with [`Limits::full`]); the quota after it against `limit`.
    pub async fn record(&self, kind: Kind, key: &str, limit: u32, now: UnixTime) -> Quota {
        let i = index(kind);
        let window = self.windows[i];
        let shared = match &self.counter {
            Counter::Local(windows) => {
                windows[i].record(key, now);
                return windows[i].peek(key, limit, now);
            }
            Counter::Shared(shared) => shared,
        };
        match shared
            .count(&shared_key(kind, key), window, u32::MAX, now)
            .await
        {
            Ok((started_at, count)) => quota(limit, count, started_at + window - now, window),
            Err(e) => {
                self.warn(&e, now);
                quota(limit, 0, window, window)
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
        let [from, user, ip] = failure_keys(username, ip);
        let max = self.max_failures;
        let many = max.saturating_mul(10);
        for (key, limit) in [(from, max), (user, many), (ip, many)] {
            if let Some(wait) = self.blocked(&key, limit, now).await {
                return Some(wait);
            }
        }
        None
    }

    pub async fn sign_in_failed(&self, username: &str, ip: &str, now: UnixTime) {
        let keys = failure_keys(username, ip);
        let i = index(Kind::FailedSignIn);
        let shared = match &self.counter {
            Counter::Local(windows) => {
                keys.iter().for_each(|key| windows[i].record(key, now));
                return;
            }
            Counter::Shared(shared) => shared,
        };
        // Failures are few, and each is looked at before a password is
        // checked: they are counted at once, not in batches.
        let window = self.windows[i];
        let events = keys
            .iter()
            .map(|key| Events {
                key: shared_key(Kind::FailedSignIn, key),
                window,
                add: 1,
            })
            .collect();
        if let Err(e) = shared.counter.count(events, now).await {
            self.warn(&e, now);
        }
    }

    /// A successful sign-in clears the account's failures, from this IP and
    /// overall (not the IP's).
    pub async fn sign_in_succeeded(&self, username: &str, ip: &str, now: UnixTime) {
        let [from, user, _] = failure_keys(username, ip);
        let i = index(Kind::FailedSignIn);
        for key in [from, user] {
            match &self.counter {
                Counter::Local(windows) => windows[i].forget(&key),
                Counter::Shared(shared) => {
                    let key = shared_key(Kind::FailedSignIn, &key);
                    if let Err(e) = shared.counter.forget(&key).await {
                        self.warn(&e, now);
                    }
                }
            }
        }
    }

    /// Seconds until `key`'s failures window ends, if it is full.
    async fn blocked(&self, key: &str, limit: u32, now: UnixTime) -> Option<i64> {
        let i = index(Kind::FailedSignIn);
        let window = self.windows[i];
        let shared = match &self.counter {
            Counter::Local(windows) => {
                let q = windows[i].peek(key, limit, now);
                return (q.remaining == 0).then_some(q.reset);
            }
            Counter::Shared(shared) => shared,
        };
        let key = shared_key(Kind::FailedSignIn, key);
        match shared.counter.peek(&key, window, now).await {
            Ok(w) => (w.count >= limit).then_some(w.started_at + window - now),
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

/// The failure windows of a sign-in: the account from this IP, the
/// account, the IP. `account` is the caller's key for the typed name (a
/// keyed hash: windows may be stored in the shared database or Redis).
fn failure_keys(username: &str, ip: &str) -> [String; 3] {
    [
        format!("from:{username}|{ip}"),
        format!("user:{username}"),
        format!("ip:{ip}"),
    ]
}
