//! Protect an axum MCP server with OAuth 2.1 access tokens issued by
//! [Tessera](https://github.com/tessera-auth/tessera) (or any issuer of RFC 9068
//! JWT access tokens that publishes RFC 8414 metadata).
//!
//! The kit talks to the issuer over HTTP only, like any resource server: it
//! fetches the issuer's metadata and key set, validates tokens offline, and
//! asks the introspection endpoint when a route must know that a token was
//! not revoked.
//!
//! - [`config`]: [`ResourceServer`], the configuration and its defaults.
//! - [`verify`]: offline RFC 9068 §4 validation ([`low_s`]: one encoding per
//!   ECDSA signature); [`jwks`]: the cached key set
//!   (RFC 7517), refetched on an unknown `kid`; [`discovery`]: RFC 8414
//!   metadata and RFC 7662 introspection; [`token_cache`]: tokens already seen.
//! - [`layer`]: the tower layer; [`authenticated`]: the [`Authenticated`]
//!   extractor and per-tool checks; [`rejection`]: RFC 6750 §3 / RFC 9728
//!   §5.1 answers.
//! - [`metadata`]: RFC 9728 protected-resource metadata and CORS.
//! - [`limits`]: fixed-window limits, tiered by scope; [`audit`]:
//!   `mcp_tool_access` events.
//!
//! And what the issuer and its resource servers must agree on, which Tessera
//! itself uses from here: [`scope`] (the scope grammar and the one wildcard
//! rule), [`claims`] (RFC 9068 access-token claims), [`issuer`] (the issuer
//! identifier), [`uri`] (canonical resource URIs), [`clock`].
//!
//! Wiring, for an MCP endpoint at `https://mcp.example.com/mcp`:
//!
//! ```no_run
//! # use axum::{Router, routing::post};
//! # use tessera_resource::{Authenticated, ResourceServer};
//! # async fn mcp(auth: Authenticated) -> &'static str { "ok" }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kit = ResourceServer::new("https://auth.example.com", "https://mcp.example.com/mcp")
//!     .scopes(&["mcp:tools:weather", "mcp:tools:calendar:read"])
//!     .build()?;
//! let app: Router = kit
//!     .protect(Router::new().route("/mcp", post(mcp)), &[])
//!     .merge(kit.metadata_router());
//! # Ok(()) }
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failing test panics by design"
    )
)]

/// The README's example, compiled with the tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod audit;
pub mod authenticated;
pub mod claims;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod exchange;
pub mod issuer;
pub mod jwks;
pub mod layer;
pub mod limits;
pub mod low_s;
pub mod metadata;
pub mod rejection;
pub mod scope;
pub mod token_cache;
pub mod uri;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;

use crate::uri::canonical;

pub use audit::{AuditEvent, audit_tool_access};
pub use authenticated::Authenticated;
pub use config::{ConfigError, IntrospectionCredentials, ResourceServer, Secret};
pub use issuer::Issuer;
pub use layer::{AuthLayer, AuthService};
pub use limits::{RateLimiter, RateLimits};
pub use rejection::{Kind, Rejection};
pub use verify::{Verified, VerifyError};

use discovery::Discovery;
use jwks::JwksCache;
use token_cache::TokenCache;

/// Counters, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Signatures checked (a cached token costs none).
    pub signature_verifications: u64,
    /// Key-set fetches from the issuer.
    pub jwks_fetches: u64,
    /// Introspection calls to the issuer (a cached answer costs none).
    pub introspections: u64,
}

#[derive(Default)]
struct Counters {
    signatures: AtomicU64,
    jwks: AtomicU64,
    introspections: AtomicU64,
}

struct Inner {
    config: ResourceServer,
    /// `aud` comparison key of `config.resource`.
    resource_canonical: String,
    prm_url: String,
    discovery: Discovery,
    jwks: JwksCache,
    verified: TokenCache<Arc<Verified>>,
    active: TokenCache<()>,
    limiter: Option<RateLimiter>,
    counters: Counters,
}

/// A configured kit; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ResourceKit(Arc<Inner>);

impl ResourceServer {
    /// Check the configuration and build the kit. Nothing is fetched yet: the
    /// issuer's metadata and keys are fetched on the first request.
    pub fn build(self) -> Result<ResourceKit, ConfigError> {
        let issuer = self.validate()?;
        let resource_canonical = canonical(&self.resource).unwrap_or_default();
        let discovery = Discovery::new(issuer, self.http_timeout).map_err(ConfigError)?;
        let seconds = |d: std::time::Duration| d.as_secs() as i64;
        Ok(ResourceKit(Arc::new(Inner {
            prm_url: metadata::prm_url(&self.resource),
            resource_canonical,
            discovery,
            jwks: JwksCache::new(
                seconds(self.jwks_refetch_interval),
                seconds(self.jwks_max_age),
            ),
            verified: TokenCache::new(self.verified_cache_capacity),
            active: TokenCache::new(self.verified_cache_capacity),
            limiter: self.rate_limits.clone().map(RateLimiter::new),
            counters: Counters::default(),
            config: self,
        })))
    }
}

impl ResourceKit {
    pub fn config(&self) -> &ResourceServer {
        &self.0.config
    }

    /// The absolute URL of this server's protected-resource metadata.
    pub fn prm_url(&self) -> &str {
        &self.0.prm_url
    }

    pub fn stats(&self) -> Stats {
        let c = &self.0.counters;
        Stats {
            signature_verifications: c.signatures.load(Ordering::Relaxed),
            jwks_fetches: c.jwks.load(Ordering::Relaxed),
            introspections: c.introspections.load(Ordering::Relaxed),
        }
    }

    fn now(&self) -> i64 {
        self.0.config.clock.now()
    }

    /// Validate `token` offline.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, VerifyError> {
        let inner = &self.0;
        let now = self.now();
        if let Some(hit) = inner.verified.get(token, now) {
            return Ok(hit);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the token is not a JWT signed with a supported algorithm".to_owned())?;
        let kid = verify::check_header(&header)?;
        let on_fetch = || {
            inner.counters.jwks.fetch_add(1, Ordering::Relaxed);
        };
        let found = inner.jwks.key(kid, now, &inner.discovery, on_fetch).await;
        let Some((alg, key)) = found else {
            return Err(if inner.jwks.loaded() {
                let kid = verify::clip(kid);
                VerifyError::Invalid(format!(
                    "the token's signing key '{kid}' is not published by the issuer"
                ))
            } else {
                VerifyError::Unavailable("the issuer's signing keys could not be fetched".into())
            });
        };
        inner.counters.signatures.fetch_add(1, Ordering::Relaxed);
        let raw = verify::check_signature(token, &header, alg, &key)?;
        let want = verify::Expectations {
            issuer: &inner.config.issuer,
            resource: &inner.resource_canonical,
            leeway: inner.config.leeway.as_secs() as i64,
        };
        let verified = Arc::new(verify::check_claims(raw, &want, now)?);
        inner
            .verified
            .insert(token, verified.clone(), verified.claims.exp, now);
        Ok(verified)
    }

    /// Ask the issuer whether `token` is still active (not revoked, its client
    /// and user still exist). Positive answers are reused for a few seconds;
    /// negative ones never, so a revocation is seen within that time.
    pub async fn is_active(&self, token: &str, exp: i64) -> Result<bool, Rejection> {
        let inner = &self.0;
        let Some(credentials) = &inner.config.introspection else {
            tracing::error!(
                "require_active is used but no introspection credentials are configured"
            );
            return Err(self.reject(Kind::ServerError, "this server is misconfigured", ""));
        };
        let now = self.now();
        if inner.active.get(token, now).is_some() {
            return Ok(true);
        }
        inner
            .counters
            .introspections
            .fetch_add(1, Ordering::Relaxed);
        match inner.discovery.introspect(credentials, token).await {
            Ok(true) => {
                let until = (now + inner.config.active_cache_ttl.as_secs() as i64).min(exp);
                inner.active.insert(token, (), until, now);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                tracing::warn!(error = %e, "token introspection failed");
                let why = "the issuer could not confirm that the token is still active";
                Err(self.reject(Kind::Unavailable, why, ""))
            }
        }
    }

    /// Count a request against the rate limit of `key`.
    pub fn rate_limit(&self, key: &str, scopes: &crate::scope::ScopeSet) -> Result<(), Rejection> {
        let Some(limiter) = &self.0.limiter else {
            return Ok(());
        };
        limiter
            .check(key, scopes, self.now())
            .map(|_| ())
            .map_err(|quota| Rejection {
                retry_after: Some(quota.retry_after()),
                ..self.reject(Kind::RateLimited, "Too many requests from this client", "")
            })
    }

    /// A rejection carrying this server's PRM URL.
    pub fn reject(&self, kind: Kind, description: &str, scope: &str) -> Rejection {
        Rejection {
            kind,
            description: description.to_owned(),
            resource_metadata: self.0.prm_url.clone(),
            scope: scope.to_owned(),
            retry_after: None,
        }
    }

    /// The authentication layer (no scope required yet; see [`AuthLayer`]).
    pub fn auth(&self) -> AuthLayer {
        AuthLayer::new(self.clone())
    }

    /// Protect every route of `router` (valid token holding `required`) and
    /// add CORS, whose preflights pass without a token (mcp-interop §1.11).
    pub fn protect<S: Clone + Send + Sync + 'static>(
        &self,
        router: Router<S>,
        required: &[&str],
    ) -> Router<S> {
        router
            .route_layer(self.auth().require_scopes(required))
            .layer(metadata::cors())
    }

    /// The PRM routes (root and path-specific, RFC 9728 §3), with CORS.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        metadata::router(&self.0.config)
    }

    /// CORS for the MCP endpoint, for servers that wire layers themselves.
    pub fn cors(&self) -> tower_http::cors::CorsLayer {
        metadata::cors()
    }
}
