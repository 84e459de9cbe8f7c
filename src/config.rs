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

use anyhow::{Context, bail};
use serde::Deserialize;
use url::Url;

use crate::keys::Algorithm;
use crate::oauth::catalog::{ScopeCatalog, ScopeEntry};
use crate::oauth::redirect_uri::{RedirectPolicy, is_loopback_host};
use crate::oauth::resource::{Resource, ResourceRegistry};
use crate::oauth::scope::{ScopeSet, validate_token};

pub const EXAMPLE_CONFIG: &str = include_str!("../examples/tessera.toml");
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE: &str = "sqlite://tessera.db";

/// A secret from configuration; `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The issuer identifier (RFC 8414 §2): http(s), no query, no fragment, no
/// trailing slash, https unless the host is loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    value: String,
    /// The path part ("" for an origin-only issuer), under which routes are served.
    path: String,
}

impl Issuer {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let url = Url::parse(s).with_context(|| format!("issuer '{s}' is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("issuer '{s}' must use https");
        }
        if url.query().is_some() || url.fragment().is_some() || s.contains('?') || s.contains('#') {
            bail!("issuer '{s}' must not have a query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("issuer '{s}' must not contain credentials");
        }
        if s.ends_with('/') {
            bail!("issuer '{s}' must not end with '/' (clients compare it byte for byte)");
        }
        if url.scheme() == "http" && !is_loopback_host(&url) {
            bail!(
                "issuer '{s}' uses http on a non-loopback host; use https (or --tls behind a proxy)"
            );
        }
        let path = match url.path() {
            "/" => String::new(),
            p => p.to_owned(),
        };
        Ok(Self {
            value: s.to_owned(),
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The origin alone (scheme, host, port).
    pub fn origin(&self) -> &str {
        &self.value[..self.value.len() - self.path.len()]
    }

    /// An absolute URL for an endpoint path such as `/token`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.value, path)
    }
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub access_token_ttl: Duration,
    /// Idle lifetime of a refresh token; each rotation starts it again.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token may be replayed without revoking its
    /// family (parallel refreshes from one client).
    pub refresh_reuse_grace: Duration,
    pub authorization_code_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub session_ttl: Duration,
    /// Failed sign-ins allowed per account, and per IP (ten times as many),
    /// within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
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

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub issuer: Issuer,
    pub database_url: String,
    pub tokens: TokenSettings,
    pub sign_in: SignInSettings,
    pub rate_limits: RateLimitSettings,
    pub signing: SigningSettings,
    pub registration: RegistrationSettings,
    pub scopes: ScopeCatalog,
    pub resources: ResourceRegistry,
    /// Overrides the client-secret pepper kept in the database.
    pub client_secret_pepper: Option<Secret>,
    /// Seals private signing keys at rest (`TESSERA_KEY_ENCRYPTION_KEY`).
    pub key_encryption_key: Option<Secret>,
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
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
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
    pub issuer: Option<String>,
    pub database_url: Option<String>,
    pub initial_access_token: Option<String>,
    pub key_encryption_key: Option<String>,
    /// Serving HTTPS: the default issuer is then `https://LISTEN`.
    pub tls: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    issuer: Option<String>,
    database: Option<String>,
    #[serde(default)]
    tokens: FileTokens,
    #[serde(default)]
    sign_in: FileSignIn,
    #[serde(default)]
    rate_limits: FileRateLimits,
    #[serde(default)]
    signing: FileSigning,
    #[serde(default)]
    registration: FileRegistration,
    #[serde(default)]
    security: FileSecurity,
    #[serde(default)]
    scopes: Vec<FileScope>,
    #[serde(default)]
    resources: Vec<FileResource>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileTokens {
    access_token_ttl: Option<String>,
    refresh_token_ttl: Option<String>,
    refresh_reuse_grace: Option<String>,
    authorization_code_ttl: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    window: Option<String>,
    token_premium: Option<u32>,
    token_basic: Option<u32>,
    token_default: Option<u32>,
    #[serde(default)]
    token_per_client: std::collections::HashMap<String, u32>,
    authorize_per_ip: Option<u32>,
    sign_in_per_ip: Option<u32>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSignIn {
    session_ttl: Option<String>,
    max_failures: Option<u32>,
    failure_window: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSigning {
    algorithm: Option<String>,
    rotation_period: Option<String>,
    publish_lead: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRegistration {
    open: Option<bool>,
    initial_access_token: Option<Secret>,
    redirect_schemes: Option<Vec<String>>,
    metadata_documents: Option<bool>,
    metadata_document_loopback: Option<bool>,
    rate_limit_burst: Option<u32>,
    rate_limit_per_hour: Option<u32>,
    prune_unused_after: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSecurity {
    client_secret_pepper: Option<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScope {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileResource {
    uri: String,
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    access_token_ttl: Option<String>,
    #[serde(default)]
    default: bool,
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
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let line = error_line(text, &e);
            anyhow::anyhow!("{origin}, line {line}: {}", e.message().trim())
        })?;
        Self::build(file, overrides).with_context(|| format!("in {origin}"))
    }

    fn build(file: FileConfig, o: &Overrides) -> anyhow::Result<Self> {
        let listen_text = o
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .with_context(|| format!("listen address '{listen_text}' is not IP:PORT"))?;
        let issuer_text = o
            .issuer
            .clone()
            .or(file.issuer)
            .unwrap_or_else(|| format!("{}://{listen}", if o.tls { "https" } else { "http" }));
        let issuer = Issuer::parse(&issuer_text)?;
        let database_url = o
            .database_url
            .clone()
            .or(file.database)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());

        let tokens = token_settings(&file.tokens)?;
        let sign_in = SignInSettings {
            session_ttl: duration(
                &file.sign_in.session_ttl,
                "sign_in.session_ttl",
                "8h",
                MINUTE,
                30 * DAY,
            )?,
            max_failures: file.sign_in.max_failures.unwrap_or(5).max(1),
            failure_window: duration(
                &file.sign_in.failure_window,
                "sign_in.failure_window",
                "15m",
                MINUTE,
                DAY,
            )?,
        };
        let signing = signing_settings(&file.signing)?;
        let rate_limits = rate_limit_settings(file.rate_limits)?;
        let scopes = catalog(file.scopes)?;
        let resources = registry(file.resources, &scopes)?;
        let initial_access_token = o
            .initial_access_token
            .clone()
            .map(Secret::new)
            .or(file.registration.initial_access_token);
        if let Some(t) = &initial_access_token
            && t.expose().len() < 32
        {
            bail!("registration.initial_access_token must be at least 32 characters");
        }
        if let Some(p) = &file.security.client_secret_pepper
            && p.expose().len() < 32
        {
            bail!("security.client_secret_pepper must be at least 32 characters");
        }
        let key_encryption_key = o.key_encryption_key.clone().map(Secret::new);
        if key_encryption_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            bail!("TESSERA_KEY_ENCRYPTION_KEY must be at least 32 characters");
        }
        let redirects = match file.registration.redirect_schemes {
            Some(s) => RedirectPolicy { private_schemes: s },
            None => RedirectPolicy::default(),
        };
        Ok(Self {
            listen,
            issuer,
            database_url,
            tokens,
            sign_in,
            rate_limits,
            signing,
            registration: RegistrationSettings {
                open: file.registration.open.unwrap_or(true),
                initial_access_token,
                redirects,
                metadata_documents: file.registration.metadata_documents.unwrap_or(true),
                metadata_document_loopback: file
                    .registration
                    .metadata_document_loopback
                    .unwrap_or(false),
                rate_limit_burst: file.registration.rate_limit_burst.unwrap_or(60),
                rate_limit_per_hour: file.registration.rate_limit_per_hour.unwrap_or(600),
                prune_unused_after: match file.registration.prune_unused_after.as_deref() {
                    Some("off") => None,
                    _ => Some(duration(
                        &file.registration.prune_unused_after,
                        "registration.prune_unused_after",
                        "30d",
                        DAY,
                        3650 * DAY,
                    )?),
                },
            },
            scopes,
            resources,
            client_secret_pepper: file.security.client_secret_pepper,
            key_encryption_key,
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

const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

/// A duration setting with its default and bounds, in seconds.
fn duration(
    text: &Option<String>,
    key: &str,
    default: &str,
    min: u64,
    max: u64,
) -> anyhow::Result<Duration> {
    let text = text.as_deref().unwrap_or(default);
    let d = humantime::parse_duration(text)
        .with_context(|| format!("{key} '{text}' is not a duration like \"15m\""))?;
    if d < Duration::from_secs(min) || d > Duration::from_secs(max) {
        bail!(
            "{key} must be between {} and {}",
            humantime::format_duration(Duration::from_secs(min)),
            humantime::format_duration(Duration::from_secs(max))
        );
    }
    Ok(d)
}

fn rate_limit_settings(f: FileRateLimits) -> anyhow::Result<RateLimitSettings> {
    let trusted_proxies = f
        .trusted_proxies
        .iter()
        .map(|p| {
            p.parse()
                .with_context(|| format!("rate_limits.trusted_proxies: '{p}' is not an IP address"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(RateLimitSettings {
        window: duration(&f.window, "rate_limits.window", "15m", SECOND, DAY)?,
        token_premium: f.token_premium.unwrap_or(1000),
        token_basic: f.token_basic.unwrap_or(100),
        token_default: f.token_default.unwrap_or(50),
        token_per_client: f.token_per_client,
        authorize_per_ip: f.authorize_per_ip.unwrap_or(600),
        sign_in_per_ip: f.sign_in_per_ip.unwrap_or(300),
        trusted_proxies,
    })
}

fn signing_settings(f: &FileSigning) -> anyhow::Result<SigningSettings> {
    let algorithm = match f.algorithm.as_deref() {
        None => Algorithm::Es256,
        Some(a) => Algorithm::parse(a)
            .with_context(|| format!("signing.algorithm '{a}' is not ES256, RS256 or EdDSA"))?,
    };
    let rotation_period = match f.rotation_period.as_deref() {
        Some("off") => None,
        _ => Some(duration(
            &f.rotation_period,
            "signing.rotation_period",
            "30d",
            DAY,
            3650 * DAY,
        )?),
    };
    let publish_lead = duration(
        &f.publish_lead,
        "signing.publish_lead",
        "10m",
        JWKS_MAX_AGE * SECOND,
        7 * DAY,
    )?;
    Ok(SigningSettings {
        algorithm,
        rotation_period,
        publish_lead,
    })
}

fn token_settings(t: &FileTokens) -> anyhow::Result<TokenSettings> {
    Ok(TokenSettings {
        access_token_ttl: duration(
            &t.access_token_ttl,
            "tokens.access_token_ttl",
            "15m",
            10 * SECOND,
            DAY,
        )?,
        refresh_token_ttl: duration(
            &t.refresh_token_ttl,
            "tokens.refresh_token_ttl",
            "30d",
            MINUTE,
            365 * DAY,
        )?,
        refresh_reuse_grace: duration(
            &t.refresh_reuse_grace,
            "tokens.refresh_reuse_grace",
            "10s",
            0,
            MINUTE,
        )?,
        authorization_code_ttl: duration(
            &t.authorization_code_ttl,
            "tokens.authorization_code_ttl",
            "60s",
            5 * SECOND,
            MINUTE,
        )?,
    })
}

fn parse_ttl(text: &str, key: &str) -> anyhow::Result<Duration> {
    let d = humantime::parse_duration(text)
        .with_context(|| format!("{key} '{text}' is not a duration like \"15m\""))?;
    if d < Duration::from_secs(10) || d > Duration::from_secs(24 * 3600) {
        bail!("{key} must be between 10s and 24h");
    }
    Ok(d)
}

fn catalog(scopes: Vec<FileScope>) -> anyhow::Result<ScopeCatalog> {
    let mut entries: Vec<ScopeEntry> = Vec::with_capacity(scopes.len());
    for s in scopes {
        validate_token(&s.name).map_err(|e| anyhow::anyhow!("scopes: {e}"))?;
        if entries.iter().any(|e| e.name == s.name) {
            bail!("scopes: '{}' is listed twice", s.name);
        }
        entries.push(ScopeEntry {
            name: s.name,
            description: s.description,
            permissions: s.permissions,
        });
    }
    Ok(ScopeCatalog::new(entries))
}

fn registry(list: Vec<FileResource>, catalog: &ScopeCatalog) -> anyhow::Result<ResourceRegistry> {
    let mut resources: Vec<Resource> = Vec::with_capacity(list.len());
    let mut default = None;
    for (i, r) in list.into_iter().enumerate() {
        let scopes = ScopeSet::from_tokens(r.scopes.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("resources '{}': {e}", r.uri))?;
        if let Some(unknown) = scopes.iter().find(|s| !catalog.is_known(s)) {
            bail!(
                "resources '{}': scope '{unknown}' is not in the scope catalog",
                r.uri
            );
        }
        let ttl = r
            .access_token_ttl
            .as_deref()
            .map(|t| parse_ttl(t, "resources.access_token_ttl"))
            .transpose()?;
        let name = r.name.clone().unwrap_or_else(|| r.uri.clone());
        let resource = Resource::new(&r.uri, name, scopes, ttl)
            .map_err(|e| anyhow::anyhow!("resources: {e}"))?;
        if resources.iter().any(|x| x.matches(&resource)) {
            bail!("resources: '{}' is listed twice", r.uri);
        }
        if r.default {
            if default.is_some() {
                bail!("resources: only one resource may be the default");
            }
            default = Some(i);
        }
        resources.push(resource);
    }
    Ok(ResourceRegistry::new(resources, default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<Config> {
        Config::from_toml(text, "test.toml", &Overrides::default())
    }

    #[test]
    fn the_shipped_example_config_loads() {
        let c = load(EXAMPLE_CONFIG).unwrap();
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080");
        assert!(c.resources.default_resource().is_some());
        assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn bad_configs_are_refused_with_one_line() {
        let cases = [
            ("bogus = 1", "unknown field"),
            ("[tokens]\naccess_token_ttl = \"forever\"", "duration"),
            ("issuer = \"http://auth.example.com\"", "non-loopback"),
            ("issuer = \"https://auth.example.com/\"", "end with '/'"),
            ("issuer = \"https://auth.example.com?x=1\"", "query"),
            ("listen = \"nope\"", "IP:PORT"),
            ("[[resources]]\nuri = \"not a url\"", "absolute"),
            (
                "[[resources]]\nuri = \"https://x.example\"\nscopes = [\"mcp:tools:x\"]",
                "not in the scope catalog",
            ),
            ("[[scopes]]\nname = \"mcp:tools\"", "grammar"),
            ("[signing]\nalgorithm = \"HS256\"", "ES256"),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", load(text).unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(
                !err.contains('\n'),
                "{text:?} gave a multi-line error: {err}"
            );
        }
    }

    #[test]
    fn https_issuers_may_have_a_path() {
        let i = Issuer::parse("https://auth.example.com/tenant").unwrap();
        assert_eq!(i.path(), "/tenant");
        assert_eq!(i.origin(), "https://auth.example.com");
        assert_eq!(
            i.endpoint("/token"),
            "https://auth.example.com/tenant/token"
        );
        assert_eq!(Issuer::parse("http://[::1]:8080").unwrap().path(), "");
    }
}
