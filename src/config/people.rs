//! `[[identity_providers]]` (upstream OpenID Connect providers people sign
//! in with), `[scope_policy]` (which groups and roles may grant which
//! scopes: [`crate::oauth::policy`]) and `sign_in.password_form`.
//!
//! Everything is checked at start-up: ids unique and URL-safe, issuers https
//! (http only on loopback, for development and tests), exactly one source
//! for each client secret (inline, a file, or an environment variable), the
//! policy's scopes known to the catalog and its roles well formed.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tessera_resource::Secret;
use tessera_resource::scope::{ScopeSet, covers};
use tessera_resource::uri::is_loopback_host;
use url::Url;

use crate::oauth::catalog::ScopeCatalog;
use crate::oauth::policy::{Rule, ScopePolicy};

/// One upstream OpenID provider, validated.
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    /// Stable id: in URLs, links and audit events. Never change it once
    /// people signed in with it (their links name it).
    pub id: String,
    /// Shown on the sign-in page: "Continue with NAME".
    pub name: String,
    /// The issuer; discovery reads `ISSUER/.well-known/openid-configuration`.
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Asked of the provider; always holds `openid`.
    pub scopes: Vec<String>,
    /// E-mail domains allowed (lowercase); empty: any. Needs a verified e-mail.
    pub allowed_domains: Vec<String>,
    /// Groups of which a person must hold one; empty: any.
    pub allowed_groups: Vec<String>,
    /// The ID token claim holding the person's groups.
    pub groups_claim: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIdentityProvider {
    id: String,
    name: Option<String>,
    issuer: String,
    client_id: String,
    client_secret: Option<Secret>,
    client_secret_file: Option<PathBuf>,
    client_secret_env: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    allowed_domains: Vec<String>,
    #[serde(default)]
    allowed_groups: Vec<String>,
    groups_claim: Option<String>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileScopePolicy {
    #[serde(default)]
    everyone: Vec<String>,
    #[serde(default)]
    rules: Vec<FileRule>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRule {
    provider: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    scopes: Vec<String>,
}

/// A URL-safe id or role: 1–64 of `a-z0-9`, `-`, `_`, `.`.
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn identity_providers(
    list: Vec<FileIdentityProvider>,
) -> anyhow::Result<Vec<IdentityProvider>> {
    let mut out: Vec<IdentityProvider> = Vec::with_capacity(list.len());
    for p in list {
        let provider = identity_provider(p)?;
        if out.iter().any(|o| o.id == provider.id) {
            bail!("identity_providers: id '{}' is listed twice", provider.id);
        }
        out.push(provider);
    }
    Ok(out)
}

fn identity_provider(p: FileIdentityProvider) -> anyhow::Result<IdentityProvider> {
    let id = p.id;
    let at = |what: &str| format!("identity_providers '{id}': {what}");
    if !is_plain_name(&id) {
        bail!("identity_providers: id '{id}' must be 1–64 of a-z, 0-9, '-', '_', '.'");
    }
    let issuer = Url::parse(&p.issuer).with_context(|| at("issuer is not a URL"))?;
    let loopback_http = issuer.scheme() == "http" && is_loopback_host(&issuer);
    if issuer.scheme() != "https" && !loopback_http {
        bail!(at("issuer must be https (http only on a loopback address)"));
    }
    if issuer.query().is_some() || issuer.fragment().is_some() {
        bail!(at("issuer must have no query or fragment"));
    }
    if p.client_id.is_empty() {
        bail!(at("client_id is empty"));
    }
    let client_secret = client_secret(
        &id,
        p.client_secret,
        p.client_secret_file,
        p.client_secret_env,
    )?;
    let mut scopes = p
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if let Some(bad) = scopes.iter().find(|s| s.is_empty() || s.contains(' ')) {
        bail!(at(&format!("scope '{bad}' is not one scope token")));
    }
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let allowed_domains: Vec<String> = p
        .allowed_domains
        .iter()
        .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
        .collect();
    if allowed_domains
        .iter()
        .any(|d| d.is_empty() || d.contains('@'))
    {
        bail!(at("allowed_domains holds something that is not a domain"));
    }
    let groups_claim = p.groups_claim.unwrap_or_else(|| "groups".into());
    if groups_claim.is_empty() {
        bail!(at("groups_claim is empty"));
    }
    Ok(IdentityProvider {
        name: p.name.unwrap_or_else(|| id.clone()),
        id,
        issuer,
        client_id: p.client_id,
        client_secret,
        scopes,
        allowed_domains,
        allowed_groups: p.allowed_groups,
        groups_claim,
    })
}

/// The client secret from exactly one of its three sources.
fn client_secret(
    id: &str,
    inline: Option<Secret>,
    file: Option<PathBuf>,
    env: Option<String>,
) -> anyhow::Result<Secret> {
    let at = |what: &str| format!("identity_providers '{id}': {what}");
    let secret = match (inline, file, env) {
        (Some(s), None, None) => s,
        (None, Some(path), None) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                at(&format!(
                    "cannot read client_secret_file {}",
                    path.display()
                ))
            })?;
            Secret::new(text.trim_end_matches(['\r', '\n']).to_owned())
        }
        (None, None, Some(var)) => {
            let value = std::env::var(&var).map_err(|_| {
                anyhow::anyhow!(at(&format!("client_secret_env: ${var} is not set")))
            })?;
            Secret::new(value)
        }
        (None, None, None) => bail!(at(
            "set client_secret, client_secret_file or client_secret_env"
        )),
        _ => bail!(at(
            "set only one of client_secret, client_secret_file, client_secret_env"
        )),
    };
    if secret.expose().is_empty() {
        bail!(at("the client secret is empty"));
    }
    Ok(secret)
}

pub(super) fn scope_policy(
    file: Option<FileScopePolicy>,
    catalog: &ScopeCatalog,
    providers: &[IdentityProvider],
) -> anyhow::Result<Option<ScopePolicy>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let scopes = |list: &[String], key: &str| -> anyhow::Result<ScopeSet> {
        let set = ScopeSet::from_tokens(list.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        // A pattern may be wider than any catalog entry (`mcp:exec:*` over
        // `mcp:exec:workflows:x`), but must name something the catalog has.
        let names_something =
            |p: &str| catalog.is_known(p) || catalog.iter().any(|e| covers(p, &e.name));
        if let Some(unknown) = set.iter().find(|s| !names_something(s)) {
            bail!("{key}: scope '{unknown}' covers nothing in the scope catalog");
        }
        Ok(set)
    };
    let everyone = scopes(&file.everyone, "scope_policy.everyone")?;
    let mut rules = Vec::with_capacity(file.rules.len());
    for (i, r) in file.rules.into_iter().enumerate() {
        let key = format!("scope_policy.rules[{i}]");
        if r.groups.is_empty() && r.roles.is_empty() {
            bail!("{key}: name the groups or roles the rule is for");
        }
        if let Some(p) = &r.provider
            && !providers.iter().any(|x| &x.id == p)
        {
            bail!("{key}: provider '{p}' is not one of identity_providers");
        }
        if let Some(bad) = r.roles.iter().find(|x| !is_plain_name(x)) {
            bail!("{key}: role '{bad}' must be 1–64 of a-z, 0-9, '-', '_', '.'");
        }
        rules.push(Rule {
            scopes: scopes(&r.scopes, &key)?,
            provider: r.provider,
            groups: r.groups,
            roles: r.roles,
        });
    }
    Ok(Some(ScopePolicy { everyone, rules }))
}
