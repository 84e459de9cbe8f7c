//! OpenID Connect Discovery 1.0 (§4) and the provider's JWKS, cached per
//! provider: an hour for the metadata and keys, and keys fetched again when
//! an ID token names one they lack (at most every 30 seconds).
//!
//! The metadata's `issuer` must be the configured one (§4.3); its endpoints
//! must be https, or http on loopback when the issuer itself is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tessera_resource::uri::is_loopback_host;
use tokio::sync::Mutex;
use url::Url;

use super::{Failure, describe, read_json};
use crate::config::people::IdentityProvider;

const FRESH_FOR: Duration = Duration::from_secs(3600);
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// What discovery found out about a provider.
#[derive(Debug)]
pub struct Discovered {
    /// The issuer exactly as the provider names it (ID tokens carry it).
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub keys: JwkSet,
    /// The provider sends `iss` with its authorization response (RFC 9207
    /// §3): a response without it is then refused.
    pub iss_parameter: bool,
    /// The provider takes `client_secret_post` only (else Basic).
    pub secret_post: bool,
    fetched: Instant,
}

/// The discovery cache, by provider id.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Arc<Discovered>>>,
}

impl Cache {
    pub async fn get(
        &self,
        http: &reqwest::Client,
        p: &IdentityProvider,
    ) -> Result<Arc<Discovered>, Failure> {
        if let Some(d) = self.entries.lock().await.get(&p.id)
            && d.fetched.elapsed() < FRESH_FOR
        {
            return Ok(d.clone());
        }
        self.fetch(http, p).await
    }

    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        p: &IdentityProvider,
    ) -> Result<Arc<Discovered>, Failure> {
        if let Some(d) = self.entries.lock().await.get(&p.id)
            && d.fetched.elapsed() < REFETCH_AFTER
        {
            return Ok(d.clone());
        }
        self.fetch(http, p).await
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        p: &IdentityProvider,
    ) -> Result<Arc<Discovered>, Failure> {
        let d = Arc::new(discover(http, p).await?);
        self.entries.lock().await.insert(p.id.clone(), d.clone());
        Ok(d)
    }
}

/// The issuer without a trailing `/`, as issuers are compared.
pub fn bare(issuer: &str) -> &str {
    issuer.strip_suffix('/').unwrap_or(issuer)
}

async fn get_json(http: &reqwest::Client, url: Url) -> Result<serde_json::Value, Failure> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| Failure::Unreachable(describe(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::Unreachable(format!("answered {status}")));
    }
    read_json(response).await
}

async fn discover(http: &reqwest::Client, p: &IdentityProvider) -> Result<Discovered, Failure> {
    let configured = bare(p.issuer.as_str());
    let url = Url::parse(&format!("{configured}/.well-known/openid-configuration"))
        .map_err(|_| Failure::Invalid("the issuer makes no discovery URL".into()))?;
    let meta = get_json(http, url).await?;
    let text = |key: &str| meta.get(key).and_then(|v| v.as_str());
    let issuer = text("issuer").unwrap_or_default();
    if bare(issuer) != configured {
        return Err(Failure::Invalid(format!(
            "discovery names issuer '{issuer}', not the configured one"
        )));
    }
    let endpoint = |key: &str| -> Result<Url, Failure> {
        let url = text(key)
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| Failure::Invalid(format!("discovery has no valid {key}")))?;
        let loopback =
            url.scheme() == "http" && is_loopback_host(&url) && p.issuer.scheme() == "http";
        if url.scheme() != "https" && !loopback {
            return Err(Failure::Invalid(format!("{key} is not https")));
        }
        Ok(url)
    };
    let authorization_endpoint = endpoint("authorization_endpoint")?;
    let token_endpoint = endpoint("token_endpoint")?;
    let jwks_uri = endpoint("jwks_uri")?;
    let keys: JwkSet = serde_json::from_value(get_json(http, jwks_uri).await?)
        .map_err(|_| Failure::Invalid("the provider's JWKS does not parse".into()))?;
    let methods: Vec<&str> = meta
        .get("token_endpoint_auth_methods_supported")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
        .unwrap_or_default();
    // Absent means client_secret_basic (Discovery §3).
    let secret_post = !methods.is_empty()
        && !methods.contains(&"client_secret_basic")
        && methods.contains(&"client_secret_post");
    Ok(Discovered {
        issuer: issuer.to_owned(),
        authorization_endpoint,
        token_endpoint,
        keys,
        iss_parameter: meta
            .get("authorization_response_iss_parameter_supported")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        secret_post,
        fetched: Instant::now(),
    })
}
