//! The configuration of the MCP authorization extensions: trusted identity
//! providers for the ID-JAG grant (`[[trusted_idp]]`, SEP-990) and the
//! token-exchange policy (`[[token_exchange]]`, RFC 8693). Every resource
//! named must be registered, every scope in the catalog.

use anyhow::{Context, bail};
use serde::Deserialize;

use super::file::duration;
use crate::oauth::catalog::ScopeCatalog;
use crate::oauth::client_keys::jwks_uri_rule;
use crate::oauth::id_jag::{People, TrustedIdp};
use crate::oauth::resource::ResourceRegistry;
use crate::oauth::token_exchange::ExchangePolicy;
use tessera_resource::scope::ScopeSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTrustedIdp {
    issuer: String,
    jwks_uri: String,
    provider: Option<String>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    people: Option<String>,
    #[serde(default)]
    refresh_tokens: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileExchange {
    from: String,
    to: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    clients: Vec<String>,
    lifetime: Option<String>,
}

/// The resource `uri` names, as registered.
fn registered(resources: &ResourceRegistry, uri: &str, key: &str) -> anyhow::Result<String> {
    resources
        .find(uri)
        .map(|r| r.uri.clone())
        .with_context(|| format!("{key}: '{uri}' is not a registered resource"))
}

pub(super) fn trusted_idps(
    list: Vec<FileTrustedIdp>,
    resources: &ResourceRegistry,
) -> anyhow::Result<Vec<TrustedIdp>> {
    let mut out: Vec<TrustedIdp> = Vec::with_capacity(list.len());
    for f in list {
        if out.iter().any(|i| i.issuer == f.issuer) {
            bail!("trusted_idp: '{}' is listed twice", f.issuer);
        }
        url::Url::parse(&f.issuer)
            .with_context(|| format!("trusted_idp.issuer '{}' is not a URL", f.issuer))?;
        jwks_uri_rule(&f.jwks_uri)
            .map_err(|why| anyhow::anyhow!("trusted_idp '{}': {why}", f.issuer))?;
        if f.clients.is_empty() {
            bail!(
                "trusted_idp '{}': list the clients it may grant for (clients = [...])",
                f.issuer
            );
        }
        if f.refresh_tokens {
            bail!(
                "trusted_idp '{}': refresh_tokens = true is not supported yet \
                 (the ID-JAG grant issues access tokens only)",
                f.issuer
            );
        }
        let people = match f.people.as_deref() {
            None | Some("link") => People::Link,
            Some("provision") => People::Provision,
            Some(other) => bail!("trusted_idp.people '{other}' is not \"link\" or \"provision\""),
        };
        let resources = f
            .resources
            .iter()
            .map(|r| registered(resources, r, "trusted_idp.resources"))
            .collect::<anyhow::Result<_>>()?;
        out.push(TrustedIdp {
            provider: f.provider.unwrap_or_else(|| f.issuer.clone()),
            issuer: f.issuer,
            jwks_uri: f.jwks_uri,
            clients: f.clients,
            resources,
            people,
            refresh_tokens: f.refresh_tokens,
        });
    }
    Ok(out)
}

pub(super) fn exchange_policies(
    list: Vec<FileExchange>,
    resources: &ResourceRegistry,
    catalog: &ScopeCatalog,
) -> anyhow::Result<Vec<ExchangePolicy>> {
    let mut out = Vec::with_capacity(list.len());
    for f in list {
        let from = registered(resources, &f.from, "token_exchange.from")?;
        let to = registered(resources, &f.to, "token_exchange.to")?;
        if from == to {
            bail!("token_exchange: from and to are the same resource ('{from}')");
        }
        let scopes = ScopeSet::from_tokens(f.scopes.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("token_exchange '{from}' → '{to}': {e}"))?;
        if scopes.is_empty() {
            bail!("token_exchange '{from}' → '{to}': list the scopes it may carry");
        }
        if let Some(unknown) = scopes.iter().find(|s| !catalog.is_known(s)) {
            bail!("token_exchange: scope '{unknown}' is not in the scope catalog");
        }
        let lifetime = duration(&f.lifetime, "token_exchange.lifetime", "5m", 10, 3600)?;
        out.push(ExchangePolicy {
            from,
            to,
            scopes,
            clients: f.clients,
            lifetime: lifetime.as_secs() as i64,
        });
    }
    Ok(out)
}
