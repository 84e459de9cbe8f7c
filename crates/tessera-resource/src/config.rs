//! `ResourceServer`: what an MCP server tells the kit about itself and its
//! issuer, with the defaults the kit's rules assume.
//!
//! The issuer must be the byte-identical string the issuer publishes as
//! `issuer` (RFC 8414 §3.3; an origin without a trailing slash for Tessera),
//! because it is compared exactly with `iss` and published as PRM
//! `authorization_servers` (RFC 9728 §2). The resource URI is published as PRM
//! `resource` exactly as given and compared canonically with `aud`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::issuer::Issuer;
use crate::limits::RateLimits;
use crate::scope::ScopeSet;
use crate::uri::check_resource;

/// A configuration the kit refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A secret (a client secret, a password); `Debug` never shows it.
#[derive(Clone, serde::Deserialize)]
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

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Credentials of a client created with `tessera client add --introspect`.
#[derive(Debug, Clone)]
pub struct IntrospectionCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// How one protected MCP server validates Tessera tokens.
#[derive(Clone)]
pub struct ResourceServer {
    pub(super) issuer: String,
    pub(super) resource: String,
    pub(super) scopes_supported: Vec<String>,
    pub(super) introspection: Option<IntrospectionCredentials>,
    pub(super) leeway: Duration,
    pub(super) rate_limits: Option<RateLimits>,
    pub(super) jwks_refetch_interval: Duration,
    pub(super) jwks_max_age: Duration,
    pub(super) active_cache_ttl: Duration,
    pub(super) verified_cache_capacity: usize,
    pub(super) http_timeout: Duration,
    pub(super) clock: Arc<dyn Clock>,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServer")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("scopes_supported", &self.scopes_supported)
            .field("introspection", &self.introspection)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// `issuer`: the issuer identifier, e.g. `https://auth.example.com`.
    /// `resource`: this server's canonical URI, e.g. `https://mcp.example.com/mcp`.
    pub fn new(issuer: &str, resource: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            scopes_supported: Vec::new(),
            introspection: None,
            leeway: Duration::from_secs(60),
            rate_limits: Some(RateLimits::default()),
            // An unknown `kid` may be an attacker's: refetch at most this often.
            jwks_refetch_interval: Duration::from_secs(30),
            // Tessera serves its JWKS with `max-age=300` and publishes a new key
            // at least that long before it signs, so this never misses a key.
            jwks_max_age: Duration::from_secs(300),
            active_cache_ttl: Duration::from_secs(5),
            verified_cache_capacity: 10_000,
            http_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }

    /// The scopes this server offers (PRM `scopes_supported`, and the `scope`
    /// of a 401 when the route itself needs none).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes_supported = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Enable [`require_active`](crate::AuthLayer::require_active) checks.
    pub fn introspection(mut self, client_id: &str, client_secret: &str) -> Self {
        self.introspection = Some(IntrospectionCredentials {
            client_id: client_id.to_owned(),
            client_secret: Secret::new(client_secret.to_owned()),
        });
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Per-client limits; `None` turns rate limiting off.
    pub fn rate_limits(mut self, limits: Option<RateLimits>) -> Self {
        self.rate_limits = limits;
        self
    }

    /// The least time between two JWKS fetches caused by unknown `kid`s (default 30 s).
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// How long a positive introspection answer is reused (default 5 s).
    pub fn active_cache_ttl(mut self, ttl: Duration) -> Self {
        self.active_cache_ttl = ttl;
        self
    }

    /// The most verified tokens remembered (default 10 000).
    pub fn verified_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified_cache_capacity = capacity;
        self
    }

    /// The clock (tests use [`crate::clock::FixedClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Check the configuration: returns the parsed issuer.
    pub(super) fn validate(&self) -> Result<Issuer, ConfigError> {
        let issuer = Issuer::parse(&self.issuer).map_err(ConfigError)?;
        if let Err(why) = check_resource(&self.resource) {
            return Err(ConfigError(format!("resource '{}' {why}", self.resource)));
        }
        // The path becomes an axum route; braces would be read as captures.
        if self.resource.contains(['{', '}', '?']) {
            return Err(ConfigError(format!(
                "resource '{}' must not contain '{{', '}}' or a query",
                self.resource
            )));
        }
        ScopeSet::from_tokens(self.scopes_supported.iter().map(String::as_str))
            .map_err(|e| ConfigError(e.to_string()))?;
        if let Some(limits) = &self.rate_limits
            && limits.window.as_secs() == 0
        {
            return Err(ConfigError(
                "the rate-limit window must be at least 1s".into(),
            ));
        }
        Ok(issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sound_configuration_validates() {
        let rs = ResourceServer::new("https://auth.example.com", "https://mcp.example.com/mcp")
            .scopes(&["mcp:tools:weather"]);
        assert_eq!(rs.validate().unwrap().as_str(), "https://auth.example.com");
    }

    #[test]
    fn bad_issuers_resources_and_scopes_are_refused() {
        let ok_rs = "https://mcp.example.com/mcp";
        for issuer in [
            "https://auth.example.com/",
            "auth.example.com",
            "http://auth.example.com",
        ] {
            assert!(
                ResourceServer::new(issuer, ok_rs).validate().is_err(),
                "{issuer}"
            );
        }
        for resource in [
            "urn:x",
            "https://x/mcp#f",
            "https://x/{id}",
            "https://x/mcp?a=b",
        ] {
            let rs = ResourceServer::new("https://a.example", resource);
            assert!(rs.validate().is_err(), "{resource}");
        }
        let rs = ResourceServer::new("https://a.example", ok_rs).scopes(&["mcp:nope"]);
        assert!(rs.validate().is_err());
    }
}
