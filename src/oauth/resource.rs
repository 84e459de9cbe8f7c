//! Protected resources (MCP servers) and audience selection.
//!
//! RFC 8707 §2: a `resource` parameter is an absolute URI without a fragment;
//! a client may send several. The issuer only mints tokens for resources in its
//! registry; anything else is `invalid_target`, and so is a value with
//! whitespace, control or bidi characters, a backslash, a wildcard, or any
//! form URL parsing would rewrite (`tessera_resource::uri::check_resource`).
//! Resources compare as exact strings of RFC 3986's syntax-normalized form
//! (lowercase scheme and host, default port dropped, empty path = `/`),
//! because real clients send `https://x/` for `https://x` (mcp-interop §1.9);
//! the token's `aud` is the URI exactly as the operator registered it.

use std::time::Duration;

use tessera_resource::uri::{canonical, check_resource};

use crate::error::{Error, Result};
use tessera_resource::scope::ScopeSet;

/// One protected MCP server.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The URI as registered; issued verbatim as `aud`.
    pub uri: String,
    canonical: String,
    pub name: String,
    /// The scopes this server accepts (may hold wildcards).
    pub scopes: ScopeSet,
    /// Overrides the global access-token lifetime for tokens to this server.
    pub access_token_ttl: Option<Duration>,
}

impl Resource {
    /// Is `other` the same resource (by canonical URI)?
    pub fn matches(&self, other: &Resource) -> bool {
        self.canonical == other.canonical
    }

    pub fn new(
        uri: &str,
        name: String,
        scopes: ScopeSet,
        access_token_ttl: Option<Duration>,
    ) -> Result<Self, String> {
        let canonical = check_resource(uri).map_err(|why| format!("resource '{uri}' {why}"))?;
        Ok(Self {
            uri: uri.to_owned(),
            canonical,
            name,
            scopes,
            access_token_ttl,
        })
    }
}

/// The registry of protected resources, with an optional default for requests
/// that name none (2025-03-26 clients, the flows document's M2M call without `audience`).
#[derive(Debug, Clone, Default)]
pub struct ResourceRegistry {
    resources: Vec<Resource>,
    default: Option<usize>,
}

impl ResourceRegistry {
    pub fn new(resources: Vec<Resource>, default: Option<usize>) -> Self {
        Self { resources, default }
    }

    pub fn find(&self, uri: &str) -> Option<&Resource> {
        let key = canonical(uri)?;
        self.resources.iter().find(|r| r.canonical == key)
    }

    pub fn default_resource(&self) -> Option<&Resource> {
        self.default.map(|i| &self.resources[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter()
    }

    /// Choose the audience of a token.
    ///
    /// `requested` are the `resource` (and `audience`) values of the request;
    /// `client_audience` is the list an administrator bound the client to
    /// (empty: any registered resource). With nothing requested the client's
    /// first audience, then the registry default, applies.
    pub fn select<'a>(
        &'a self,
        requested: &[&str],
        client_audience: &[String],
    ) -> Result<Vec<&'a Resource>> {
        if requested.is_empty() {
            let fallback = match client_audience.first() {
                Some(uri) => self.find(uri),
                None => self.default_resource(),
            };
            return fallback.map(|r| vec![r]).ok_or_else(|| {
                Error::invalid_target(
                    "no resource was requested and no default resource is configured",
                )
            });
        }
        let mut chosen: Vec<&Resource> = Vec::with_capacity(requested.len());
        for uri in requested {
            well_formed(uri)?;
            let resource = self.find(uri).ok_or_else(|| {
                Error::invalid_target(format!(
                    "resource '{uri}' is not registered with this issuer"
                ))
            })?;
            let allowed = client_audience.is_empty()
                || client_audience
                    .iter()
                    .any(|a| canonical(a).as_deref() == Some(&resource.canonical));
            if !allowed {
                return Err(Error::invalid_target(format!(
                    "this client may not request tokens for '{uri}'"
                )));
            }
            if !chosen.iter().any(|c| c.canonical == resource.canonical) {
                chosen.push(resource);
            }
        }
        Ok(chosen)
    }

    /// The resources of a user grant (`granted`, as recorded with the code or
    /// refresh family), narrowed by the token request's `resource` parameters
    /// (RFC 8707 §2.2): each must be one already granted. With none asked,
    /// every granted resource still registered.
    pub fn narrow(&self, granted: &[String], asked: &[&str]) -> Result<Vec<&Resource>> {
        let granted: Vec<&Resource> = granted.iter().filter_map(|uri| self.find(uri)).collect();
        if asked.is_empty() {
            if granted.is_empty() {
                return Err(Error::invalid_target(
                    "the granted resource is no longer registered",
                ));
            }
            return Ok(granted);
        }
        let mut chosen = Vec::with_capacity(asked.len());
        for uri in asked {
            well_formed(uri)?;
            let resource = self
                .find(uri)
                .filter(|r| granted.iter().any(|g| g.matches(r)))
                .ok_or_else(|| {
                    Error::invalid_target(format!("resource '{uri}' was not granted"))
                })?;
            chosen.push(resource);
        }
        Ok(chosen)
    }
}

/// Refuse a requested resource that is not a well-formed resource URI,
/// without echoing characters that do not belong in an error description.
fn well_formed(uri: &str) -> Result<()> {
    check_resource(uri).map(|_| ()).map_err(|why| {
        let shown = if uri.bytes().all(|b| b.is_ascii_graphic()) && uri.len() <= 200 {
            format!("resource '{uri}'")
        } else {
            "a resource".to_owned()
        };
        Error::invalid_target(format!("{shown} {why}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn registry() -> ResourceRegistry {
        let s = |v: &str| ScopeSet::parse(v).unwrap();
        ResourceRegistry::new(
            vec![
                Resource::new(
                    "https://mcp.example.com",
                    "A".into(),
                    s("mcp:tools:*"),
                    None,
                )
                .unwrap(),
                Resource::new(
                    "http://127.0.0.1:3000/mcp",
                    "B".into(),
                    s("mcp:tools:weather"),
                    None,
                )
                .unwrap(),
            ],
            Some(1),
        )
    }

    #[test]
    fn an_empty_path_and_a_slash_are_the_same_resource() {
        let r = registry();
        assert_eq!(
            r.find("https://mcp.example.com/").unwrap().uri,
            "https://mcp.example.com"
        );
        assert_eq!(
            r.find("HTTPS://MCP.example.com:443").unwrap().uri,
            "https://mcp.example.com"
        );
        assert!(
            r.find("http://127.0.0.1:3000/mcp/").is_none(),
            "a non-empty path keeps its slash"
        );
        assert!(
            r.find("http://127.0.0.1:3000/MCP").is_none(),
            "path case is kept"
        );
    }

    #[test]
    fn nothing_requested_uses_the_client_audience_then_the_default() {
        let r = registry();
        assert_eq!(r.select(&[], &[]).unwrap()[0].name, "B");
        assert_eq!(
            r.select(&[], &["https://mcp.example.com/".into()]).unwrap()[0].name,
            "A"
        );
        assert_eq!(
            ResourceRegistry::default()
                .select(&[], &[])
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn unknown_malformed_or_unallowed_resources_are_invalid_target() {
        let r = registry();
        for bad in [
            "https://other.example.com",
            "not a uri",
            "https://mcp.example.com#frag",
            "urn:x:y",
        ] {
            assert_eq!(
                r.select(&[bad], &[]).unwrap_err().code,
                ErrorCode::InvalidTarget,
                "{bad}"
            );
        }
        let bound = ["http://127.0.0.1:3000/mcp".to_string()];
        assert_eq!(
            r.select(&["https://mcp.example.com"], &bound)
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn a_resource_url_parsing_would_rewrite_or_with_odd_characters_is_invalid_target() {
        let r = registry();
        let granted = ["http://127.0.0.1:3000/mcp".to_string()];
        for bad in [
            "http://0x7f.0.0.1:3000/mcp",
            "http://2130706433:3000/mcp",
            "http://127.1:3000/mcp",
            "http:/127.0.0.1:3000/mcp",
            "http://127.0.0.1:3000/x/%2e%2e/mcp",
            "http://127.0.0.1:3000\\mcp",
            " http://127.0.0.1:3000/mcp",
            "http://127.0.0.1:3000/mcp\0",
            "http://127.0.0.1:3000/mcp\t",
            "http://127.0.0.1:3000/mcp\u{200f}",
            "http://127.0.0.1:3000/mcp#f",
        ] {
            let refused = |e: Error| e.code == ErrorCode::InvalidTarget;
            assert!(r.select(&[bad], &[]).is_err_and(refused), "{bad:?}");
            assert!(r.narrow(&granted, &[bad]).is_err_and(refused), "{bad:?}");
        }
    }

    #[test]
    fn a_user_grant_narrows_only_to_resources_it_was_granted() {
        let r = registry();
        let granted = [
            "https://mcp.example.com".to_string(),
            "http://127.0.0.1:3000/mcp".to_string(),
        ];
        let names = |v: Vec<&Resource>| v.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(r.narrow(&granted, &[]).unwrap()), ["A", "B"]);
        assert_eq!(
            names(r.narrow(&granted, &["https://mcp.example.com/"]).unwrap()),
            ["A"]
        );
        let cases: [(&[String], &[&str]); 3] = [
            (&granted[1..], &["https://mcp.example.com"]),
            (&granted, &["https://unknown.example"]),
            (&["https://gone.example".to_string()], &[]),
        ];
        for (held, asked) in cases {
            assert_eq!(
                r.narrow(held, asked).unwrap_err().code,
                ErrorCode::InvalidTarget,
                "{held:?} {asked:?}"
            );
        }
    }

    #[test]
    fn repeated_resources_collapse() {
        let r = registry();
        let chosen = r
            .select(
                &["https://mcp.example.com", "https://mcp.example.com/"],
                &[],
            )
            .unwrap();
        assert_eq!(chosen.len(), 1);
    }
}
