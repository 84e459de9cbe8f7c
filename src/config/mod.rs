//! Typed configuration, validated once at start-up.
//!
//! Sources, strongest first: command-line flags, `TESSERA_*` environment
//! variables (clap reads both), the TOML file named by `--config`, built-in
//! defaults. Without `--config` the commented example shipped in
//! `examples/tessera.toml` is used, so a fresh `tessera serve` has a scope
//! catalog and resources to issue for. Unknown keys, bad URLs and an http issuer
//! on a non-loopback host refuse to start with a one-line reason.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tessera_resource::{Issuer, Secret};

use crate::keys::Algorithm;
use crate::oauth::catalog::ScopeCatalog;
use crate::oauth::redirect_uri::RedirectPolicy;
use crate::oauth::resource::ResourceRegistry;

mod audit;
mod extensions;
mod file;
pub mod people;
#[cfg(test)]
mod tests;

pub const EXAMPLE_CONFIG: &str = include_str!("../../examples/tessera.toml");
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The SQLite file in the data directory when no database URL is given.
pub const DEFAULT_DATABASE_FILE: &str = "tessera.db";
/// The most connections served at once unless `max_connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The most connections one client address (an IPv6 /64) may hold open
/// unless `max_connections_per_ip` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub access_token_ttl: Duration,
    /// Idle lifetime of a refresh token; each rotation starts it again.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token may be replayed without revoking its
    /// family (parallel refreshes from one client).
    pub refresh_reuse_grace: Duration,
    pub authorization_code_ttl: Duration,
    /// Absolute lifetime of a refresh-token family, from the authorization
    /// that created it: rotation does not extend it.
    pub refresh_token_max_lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub session_ttl: Duration,
    /// Failed sign-ins allowed per account, and per IP (ten times as many),
    /// within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// Local (password) accounts must have a second factor (TOTP or a
    /// passkey): one without enrols before reaching consent.
    pub require_second_factor: bool,
    /// Whether the sign-in page offers the password form
    /// (`sign_in.password_form`; off when every person signs in upstream).
    pub password_form: bool,
}

#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    /// Whether `/register` accepts requests without an initial access token.
    pub open: bool,
    /// A bearer token that lets a registration create `client_credentials` clients.
    pub initial_access_token: Option<Secret>,
    pub redirects: RedirectPolicy,
    /// Accept client ID metadata documents (https URLs as `client_id`).
    pub metadata_documents: bool,
    /// Let metadata documents live on loopback http (local development, tests).
    pub metadata_document_loopback: bool,
    /// Registrations per IP: a burst, refilled at `per_hour`. Generous on
    /// purpose: a hosted connector registers every user from one egress IP.
    pub rate_limit_burst: u32,
    pub rate_limit_per_hour: u32,
    /// Delete dynamic registrations never used for this long (`None`: keep).
    pub prune_unused_after: Option<Duration>,
}

/// How a PostgreSQL database is used (`[postgres]`; SQLite ignores it).
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// Connections each process keeps open.
    pub pool_size: u32,
    /// The longest a statement may run before the database cancels it.
    pub statement_timeout: Duration,
}

/// The persisted audit trail.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Prune records older than this (`None`: keep every record).
    pub retention: Option<Duration>,
    /// Log the chain's head this often (`None`: never), so that a copy
    /// kept elsewhere shows when the newest records were deleted.
    pub head_interval: Option<Duration>,
    /// Also write the head to this file, replacing it each time.
    pub head_file: Option<std::path::PathBuf>,
    /// Prune the oldest records once the trail holds more than this many
    /// bytes (`None`: no bound but `retention`).
    pub max_size: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// A second listener for `/metrics` and the health checks only, so the
    /// public one need not serve them (`--admin-listen`, `admin_listen`).
    pub admin_listen: Option<SocketAddr>,
    /// Log a line per request on target `tessera::access` (`--access-log`,
    /// `access_log`).
    pub access_log: bool,
    /// Serve on this many lanes (thread per core, `lanes`) instead of the
    /// shared work-stealing runtime.
    pub threads: Option<usize>,
    /// The most connections open at once (`server::Limits`).
    pub max_connections: usize,
    /// The most connections one client address (an IPv6 /64) holds open;
    /// loopback and `rate_limits.trusted_proxies` are exempt.
    pub max_connections_per_ip: usize,
    pub issuer: Issuer,
    pub database_url: String,
    /// What opening the database may create and write (the CLI's read-only
    /// commands open it read-only; only `serve` creates it).
    pub database_access: crate::store::Access,
    /// The default data directory, when `database_url` was defaulted into
    /// it: `serve` creates it.
    pub default_data_dir: Option<std::path::PathBuf>,
    pub tokens: TokenSettings,
    pub sign_in: SignInSettings,
    pub rate_limits: RateLimitSettings,
    pub signing: SigningSettings,
    pub registration: RegistrationSettings,
    pub audit: AuditSettings,
    pub postgres: PostgresSettings,
    pub scopes: ScopeCatalog,
    pub resources: ResourceRegistry,
    /// Identity providers whose ID-JAGs are accepted (`[[trusted_idp]]`).
    pub trusted_idps: Vec<crate::oauth::id_jag::TrustedIdp>,
    /// Which resources' tokens may be exchanged for which (`[[token_exchange]]`).
    pub token_exchange: Vec<crate::oauth::token_exchange::ExchangePolicy>,
    /// Overrides the client-secret pepper kept in the database.
    pub client_secret_pepper: Option<Secret>,
    /// Seals private signing keys at rest (`TESSERA_KEY_ENCRYPTION_KEY`).
    pub key_encryption_key: Option<Secret>,
    /// Keys the audit hash chain; `None`: the default kept in the database.
    pub audit_chain_key: Option<Secret>,
    /// Upstream OpenID providers people may sign in with.
    pub identity_providers: Vec<people::IdentityProvider>,
    /// Who may grant which scopes; `None`: everyone may grant everything.
    pub scope_policy: Option<crate::oauth::policy::ScopePolicy>,
}

/// Issuer-side rate limits (per 15-minute window by default), tiered like the
/// MCP flows document's `createClientRateLimit`.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub window: Duration,
    /// Token requests per client whose registered scope holds `mcp:tools:*`.
    pub token_premium: u32,
    /// … holds `mcp:tools:basic`.
    pub token_basic: u32,
    /// … anything else.
    pub token_default: u32,
    /// Per-client overrides of the token limit.
    pub token_per_client: std::collections::HashMap<String, u32>,
    /// Authorization requests per client IP.
    pub authorize_per_ip: u32,
    /// Sign-in attempts per client IP (failures are throttled separately).
    pub sign_in_per_ip: u32,
    /// Failed token requests (bad credentials, bad grants) per client IP;
    /// past it the IP's token requests are refused until its window ends,
    /// before any work and without an audit record each.
    pub token_failures_per_ip: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Count the limits in this Redis (`--redis-url`), shared by replicas.
    pub redis_url: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub algorithm: Algorithm,
    /// Automatic rotation period; `None` rotates only on `tessera keys rotate`.
    pub rotation_period: Option<Duration>,
    /// How long a new key is published before it signs; at least the JWKS
    /// cache lifetime, so cached key sets always know the signing key.
    pub publish_lead: Duration,
}

/// The `Cache-Control: max-age` of the JWKS; the publish lead may not be shorter.
pub const JWKS_MAX_AGE: u64 = 300;

impl Config {
    /// How to open the store at `database_url`.
    pub fn store_options(&self) -> crate::store::Options {
        crate::store::Options {
            pool_size: self.postgres.pool_size,
            statement_timeout: self.postgres.statement_timeout,
            access: self.database_access,
        }
    }

    /// The longest lifetime any access token can have (global or per resource).
    pub fn max_access_token_ttl(&self) -> i64 {
        let per_resource = self.resources.iter().filter_map(|r| r.access_token_ttl);
        per_resource
            .chain([self.tokens.access_token_ttl])
            .max()
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Values from flags and environment; `None` defers to the file, then defaults.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--access-log`.
    pub access_log: bool,
    pub issuer: Option<String>,
    pub database_url: Option<String>,
    /// What opening the database may do [default: create it].
    pub database_access: crate::store::Access,
    /// `--data-dir`: where the default SQLite database lives.
    pub data_dir: Option<std::path::PathBuf>,
    /// Which flag or variable each value above came from, for errors.
    pub sources: Sources,
    pub initial_access_token: Option<String>,
    pub key_encryption_key: Option<String>,
    /// `TESSERA_AUDIT_CHAIN_KEY`.
    pub audit_chain_key: Option<String>,
    /// `--redis-url`: count rate limits in Redis.
    pub redis_url: Option<String>,
    /// Serving HTTPS: the default issuer is then `https://LISTEN`.
    pub tls: bool,
}

/// Which flag or `TESSERA_*` variable set a value of [`Overrides`] (`None`:
/// not set there, so the file or the default did).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub issuer: Option<String>,
    pub database: Option<String>,
}

/// An error in a value given by a flag or variable: not the file's to blame.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub(crate) struct FromOverride(pub anyhow::Error);

/// The directory of the default SQLite database: `$XDG_DATA_HOME/tessera`,
/// else `~/.local/share/tessera`; never the working directory, which is
/// often a source tree.
pub fn default_data_dir() -> std::path::PathBuf {
    let xdg = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty());
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty());
    match (xdg, home) {
        (Some(xdg), _) => std::path::PathBuf::from(xdg).join("tessera"),
        (None, Some(home)) => std::path::PathBuf::from(home).join(".local/share/tessera"),
        (None, None) => std::path::PathBuf::from("/var/lib/tessera"),
    }
}

impl Config {
    /// Load from an optional TOML file plus overrides; every error is one line.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let (text, origin) = match file {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?,
                path.display().to_string(),
            ),
            None => (
                EXAMPLE_CONFIG.to_owned(),
                "built-in example config".to_owned(),
            ),
        };
        Self::from_toml(&text, &origin, overrides)
    }

    pub fn from_toml(text: &str, origin: &str, overrides: &Overrides) -> anyhow::Result<Self> {
        let file: file::FileConfig = toml::from_str(text).map_err(|e| {
            let line = error_line(text, &e);
            anyhow::anyhow!("{origin}, line {line}: {}", e.message().trim())
        })?;
        Self::build(file, overrides).map_err(|e| match e.downcast::<FromOverride>() {
            Ok(FromOverride(e)) => e,
            Err(e) => e.context(format!("in {origin}")),
        })
    }
}

/// The line an error points at. For an unknown key toml's span covers the
/// whole table, so look for the key itself.
fn error_line(text: &str, e: &toml::de::Error) -> usize {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let unknown = e
        .message()
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next());
    let start = e.span().map_or(0, |s| s.start);
    if let Some(key) = unknown {
        let mut offset = start;
        for line in text[start..].split_inclusive('\n') {
            let trimmed = line.trim_start();
            if trimmed
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
            {
                return line_of(offset);
            }
            offset += line.len();
        }
    }
    line_of(start)
}
