//! The TOML file's shape (unknown keys refused) and how each section becomes
//! validated settings.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::*;
use crate::keys::Algorithm;
use crate::oauth::catalog::{ScopeCatalog, ScopeEntry};
use crate::oauth::redirect_uri::RedirectPolicy;
use crate::oauth::resource::{Resource, ResourceRegistry};
use tessera_resource::scope::{ScopeSet, validate_token};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    listen: Option<String>,
    admin_listen: Option<String>,
    access_log: Option<bool>,
    issuer: Option<String>,
    database: Option<String>,
    threads: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
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
    audit: super::audit::FileAudit,
    #[serde(default)]
    postgres: FilePostgres,
    #[serde(default)]
    scopes: Vec<FileScope>,
    #[serde(default)]
    resources: Vec<FileResource>,
    #[serde(default)]
    identity_providers: Vec<super::people::FileIdentityProvider>,
    scope_policy: Option<super::people::FileScopePolicy>,
    #[serde(default)]
    trusted_idp: Vec<super::extensions::FileTrustedIdp>,
    #[serde(default)]
    token_exchange: Vec<super::extensions::FileExchange>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTokens {
    access_token_ttl: Option<String>,
    refresh_token_ttl: Option<String>,
    refresh_reuse_grace: Option<String>,
    authorization_code_ttl: Option<String>,
    refresh_token_max_lifetime: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRateLimits {
    window: Option<String>,
    token_premium: Option<u32>,
    token_basic: Option<u32>,
    token_default: Option<u32>,
    #[serde(default)]
    token_per_client: std::collections::HashMap<String, u32>,
    authorize_per_ip: Option<u32>,
    sign_in_per_ip: Option<u32>,
    token_failures_per_ip: Option<u32>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    redis_url: Option<Secret>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSignIn {
    session_ttl: Option<String>,
    max_failures: Option<u32>,
    failure_window: Option<String>,
    password_form: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSigning {
    algorithm: Option<String>,
    rotation_period: Option<String>,
    publish_lead: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRegistration {
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
pub(super) struct FilePostgres {
    pool_size: Option<u32>,
    statement_timeout: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSecurity {
    client_secret_pepper: Option<Secret>,
    audit_chain_key: Option<Secret>,
    audit_chain_key_file: Option<std::path::PathBuf>,
    require_second_factor: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileScope {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileResource {
    uri: String,
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    access_token_ttl: Option<String>,
    #[serde(default)]
    default: bool,
}

/// `text` as a socket address: IP:PORT, or HOST:PORT resolved now (the
/// first address it names; `localhost` is usually 127.0.0.1).
fn resolve_listen(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        bail!("listen address '{text}' is not IP:PORT or HOST:PORT");
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        bail!("listen address '{text}' is not IP:PORT or HOST:PORT");
    }
    let mut addrs = std::net::ToSocketAddrs::to_socket_addrs(text)
        .with_context(|| format!("listen address '{text}': cannot resolve '{host}'"))?;
    addrs
        .next()
        .with_context(|| format!("listen address '{text}': '{host}' has no address"))
}

/// An error in a value, said with where the value came from: a flag or
/// variable (then not wrapped "in" the file), else the file.
fn blame(e: anyhow::Error, flag: Option<String>) -> anyhow::Error {
    match flag {
        Some(flag) => super::FromOverride(e.context(format!("from {flag}"))).into(),
        // The file's (or the default's): `from_toml` says in which file.
        None => e,
    }
}

impl Config {
    pub(super) fn build(file: FileConfig, o: &Overrides) -> anyhow::Result<Self> {
        let (listen_text, listen_from) = match (&o.listen, file.listen) {
            (Some(l), _) => (l.clone(), o.sources.listen.clone()),
            (None, Some(l)) => (l, None),
            (None, None) => (DEFAULT_LISTEN.to_owned(), None),
        };
        let listen = resolve_listen(&listen_text).map_err(|e| blame(e, listen_from))?;
        let admin_listen = match (&o.admin_listen, &file.admin_listen) {
            (Some(l), _) => {
                Some(resolve_listen(l).map_err(|e| blame(e, o.sources.admin_listen.clone()))?)
            }
            (None, Some(l)) => Some(resolve_listen(l).context("admin_listen")?),
            (None, None) => None,
        };
        let (issuer_text, issuer_from) = match (&o.issuer, file.issuer) {
            (Some(i), _) => (i.clone(), o.sources.issuer.clone()),
            (None, Some(i)) => (i, None),
            // The listen address as given: a host name stays one.
            (None, None) => (
                format!("{}://{listen_text}", if o.tls { "https" } else { "http" }),
                o.sources.listen.clone(),
            ),
        };
        let issuer =
            Issuer::parse(&issuer_text).map_err(|e| blame(anyhow::Error::msg(e), issuer_from))?;
        let (database_url, default_data_dir) = match (&o.database_url, file.database) {
            (Some(url), _) => (url.clone(), None),
            (None, Some(url)) => (url, None),
            (None, None) => {
                let dir = o.data_dir.clone().unwrap_or_else(super::default_data_dir);
                let file = dir.join(super::DEFAULT_DATABASE_FILE);
                (format!("sqlite://{}", file.display()), Some(dir))
            }
        };

        if let Some(n) = file.threads
            && !(1..=1024).contains(&n)
        {
            bail!("threads must be between 1 and 1024 (it is {n})");
        }
        let max_connections = file
            .max_connections
            .unwrap_or(super::DEFAULT_MAX_CONNECTIONS);
        if !(1..=1_000_000).contains(&max_connections) {
            bail!("max_connections must be between 1 and 1000000 (it is {max_connections})");
        }
        let max_connections_per_ip = file
            .max_connections_per_ip
            .unwrap_or(super::DEFAULT_MAX_CONNECTIONS_PER_IP);
        if !(1..=1_000_000).contains(&max_connections_per_ip) {
            bail!(
                "max_connections_per_ip must be between 1 and 1000000 (it is {max_connections_per_ip})"
            );
        }
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
            require_second_factor: file.security.require_second_factor.unwrap_or(false),
            password_form: file.sign_in.password_form.unwrap_or(true),
        };
        let signing = signing_settings(&file.signing)?;
        let mut rate_limits = rate_limit_settings(file.rate_limits)?;
        if let Some(url) = &o.redis_url {
            rate_limits.redis_url = Some(Secret::new(url.clone()));
        }
        let scopes = catalog(file.scopes)?;
        let resources = registry(file.resources, &scopes)?;
        let identity_providers = super::people::identity_providers(file.identity_providers)?;
        let scope_policy =
            super::people::scope_policy(file.scope_policy, &scopes, &identity_providers)?;
        if !sign_in.password_form && identity_providers.is_empty() {
            bail!("sign_in.password_form = false needs at least one of identity_providers");
        }
        let trusted_idps = super::extensions::trusted_idps(file.trusted_idp, &resources)?;
        let token_exchange =
            super::extensions::exchange_policies(file.token_exchange, &resources, &scopes)?;
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
            admin_listen,
            access_log: o.access_log || file.access_log.unwrap_or(false),
            threads: file.threads,
            max_connections,
            max_connections_per_ip,
            issuer,
            database_url,
            database_access: o.database_access,
            default_data_dir,
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
            audit: super::audit::settings(&file.audit)?,
            postgres: postgres_settings(&file.postgres)?,
            scopes,
            resources,
            trusted_idps,
            token_exchange,
            audit_chain_key: super::audit::chain_key(
                o.audit_chain_key.as_deref(),
                file.security.audit_chain_key.as_ref(),
                file.security.audit_chain_key_file.as_ref(),
            )?,
            client_secret_pepper: file.security.client_secret_pepper,
            key_encryption_key,
            identity_providers,
            scope_policy,
        })
    }
}

const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

/// A duration setting with its default and bounds, in seconds.
pub(super) fn duration(
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

fn postgres_settings(f: &FilePostgres) -> anyhow::Result<PostgresSettings> {
    let pool_size = f.pool_size.unwrap_or(16);
    if !(1..=1000).contains(&pool_size) {
        bail!("postgres.pool_size must be between 1 and 1000");
    }
    let statement_timeout = duration(
        &f.statement_timeout,
        "postgres.statement_timeout",
        "5s",
        SECOND,
        10 * MINUTE,
    )?;
    Ok(PostgresSettings {
        pool_size,
        statement_timeout,
    })
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
        token_failures_per_ip: f.token_failures_per_ip.unwrap_or(100),
        trusted_proxies,
        redis_url: f.redis_url,
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
        refresh_token_max_lifetime: duration(
            &t.refresh_token_max_lifetime,
            "tokens.refresh_token_max_lifetime",
            "90d",
            MINUTE,
            3650 * DAY,
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
