//! Which scopes a token may carry (RFC 6749 §3.3), for each way a grant is
//! asked for:
//!
//! - [`for_machine`] (client credentials): a requested scope must be known to
//!   the catalog, covered by the client's allowed scopes (its ceiling), and
//!   accepted by at least one of the token's resources. With no `scope`
//!   parameter the default is everything the client is allowed that the
//!   resources accept; an empty result is an error, because a token that
//!   permits nothing is never what the caller meant.
//! - [`for_consent`] (the authorization request): what a person is asked.
//! - [`for_refresh`] (RFC 6749 §6): a refresh may narrow its family's scope,
//!   never widen it.

use crate::error::{Error, Result};
use crate::oauth::catalog::ScopeCatalog;
use crate::oauth::offline_access::OFFLINE_ACCESS;
use crate::oauth::resource::Resource;
use tessera_resource::scope::{ScopeSet, covers};

pub fn for_machine(
    requested: Option<&ScopeSet>,
    allowed: &ScopeSet,
    resources: &[&Resource],
    catalog: &ScopeCatalog,
) -> Result<ScopeSet> {
    match requested {
        Some(requested) if !requested.is_empty() => {
            check_requested(requested, allowed, resources, catalog)?;
            Ok(requested.clone())
        }
        _ => default_scopes(allowed, resources),
    }
}

fn check_requested(
    requested: &ScopeSet,
    allowed: &ScopeSet,
    resources: &[&Resource],
    catalog: &ScopeCatalog,
) -> Result<()> {
    for scope in requested.iter() {
        if !catalog.is_known(scope) {
            return Err(Error::invalid_scope(format!(
                "scope '{scope}' is not known to this issuer"
            )));
        }
        if !allowed.covers(scope) {
            return Err(Error::invalid_scope(format!(
                "scope '{scope}' is not allowed for this client"
            )));
        }
        if !resources.iter().any(|r| r.scopes.covers(scope)) {
            return Err(Error::invalid_scope(format!(
                "scope '{scope}' is not accepted by the requested resource"
            )));
        }
    }
    Ok(())
}

/// The client's allowed scopes narrowed to what the resources accept: a client
/// allowed `mcp:tools:*` at a resource accepting `mcp:tools:weather` gets
/// `mcp:tools:weather`, never more than the resource takes.
pub fn default_scopes(allowed: &ScopeSet, resources: &[&Resource]) -> Result<ScopeSet> {
    let mut out = ScopeSet::default();
    for client_scope in allowed.iter() {
        for resource in resources {
            for accepted in resource.scopes.iter() {
                if covers(client_scope, accepted) {
                    out.insert(accepted);
                } else if covers(accepted, client_scope) {
                    out.insert(client_scope);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid_scope(
            "the client is allowed no scope that the requested resource accepts",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::catalog::ScopeEntry;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse(v).unwrap()
    }

    fn setup() -> (ScopeCatalog, Resource) {
        let entry = |n: &str| ScopeEntry {
            name: n.into(),
            description: String::new(),
            permissions: vec![],
        };
        let catalog = ScopeCatalog::new(vec![
            entry("mcp:tools:weather"),
            entry("mcp:tools:calendar:read"),
            entry("mcp:tools:email:send"),
            entry("mcp:tools:*"),
        ]);
        let resource = Resource::new(
            "https://mcp.example.com",
            "x".into(),
            s("mcp:tools:weather mcp:tools:calendar:read"),
            None,
        )
        .unwrap();
        (catalog, resource)
    }

    #[test]
    fn no_scope_requested_gives_everything_allowed_that_the_resource_accepts() {
        let (c, r) = setup();
        let got = for_machine(None, &s("mcp:tools:*"), &[&r], &c).unwrap();
        assert_eq!(got.to_string(), "mcp:tools:weather mcp:tools:calendar:read");
        let got = for_machine(
            None,
            &s("mcp:tools:weather mcp:tools:email:send"),
            &[&r],
            &c,
        )
        .unwrap();
        assert_eq!(got.to_string(), "mcp:tools:weather");
    }

    #[test]
    fn a_requested_scope_must_be_known_allowed_and_accepted() {
        let (c, r) = setup();
        let allowed = s("mcp:tools:weather mcp:tools:email:send");
        let cases = [
            ("mcp:tools:nope:x mcp:resources:x", "unknown"),
            ("mcp:tools:calendar:read", "not allowed for the client"),
            ("mcp:tools:email:send", "not accepted by the resource"),
        ];
        for (req, why) in cases {
            let err = for_machine(Some(&s(req)), &allowed, &[&r], &c).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidScope, "{why}");
        }
        assert_eq!(
            for_machine(Some(&s("mcp:tools:weather")), &allowed, &[&r], &c).unwrap(),
            s("mcp:tools:weather")
        );
    }

    #[test]
    fn a_client_with_nothing_the_resource_accepts_gets_invalid_scope() {
        let (c, r) = setup();
        let err = for_machine(None, &s("mcp:tools:email:send"), &[&r], &c).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }
}

/// Scopes asked of a person at the authorization endpoint. There is no client
/// ceiling here: the person's consent is the ceiling (registration `scope` is
/// only a hint, mcp-interop §1.5). `offline_access` is accepted and ignored:
/// refresh tokens follow the client's registered grants. With nothing asked,
/// the resources' own scopes are requested (MCP: PRM `scopes_supported`).
pub fn for_consent(
    requested: Option<&ScopeSet>,
    resources: &[&Resource],
    catalog: &ScopeCatalog,
) -> Result<ScopeSet> {
    let mut asked = ScopeSet::default();
    let mut offline = false;
    for scope in requested.into_iter().flat_map(ScopeSet::iter) {
        // The issuer's own scope (`oauth::offline_access`): kept for the
        // consent page and the grant, asked of no resource.
        if scope == OFFLINE_ACCESS {
            offline = true;
            continue;
        }
        if !catalog.is_known(scope) {
            return Err(Error::invalid_scope(format!(
                "scope '{scope}' is not known to this issuer"
            )));
        }
        if !resources.iter().any(|r| r.scopes.covers(scope)) {
            return Err(Error::invalid_scope(format!(
                "scope '{scope}' is not accepted by the requested resource"
            )));
        }
        asked.insert(scope);
    }
    if asked.is_empty() {
        for scope in resources.iter().flat_map(|r| r.scopes.iter()) {
            asked.insert(scope);
        }
    }
    if asked.is_empty() {
        return Err(Error::invalid_scope(
            "the requested resource accepts no scopes",
        ));
    }
    if offline {
        asked.insert(OFFLINE_ACCESS);
    }
    Ok(asked)
}

/// The scope of a token issued by refreshing a family that was granted
/// `granted`: all of it, or the `scope` asked (RFC 6749 §6), which may only
/// narrow.
pub fn for_refresh(granted: &ScopeSet, asked: Option<&str>) -> Result<ScopeSet> {
    let Some(asked) = asked else {
        return Ok(granted.clone());
    };
    let asked = ScopeSet::parse(asked).map_err(|e| Error::invalid_scope(e.to_string()))?;
    if asked.is_empty() {
        return Ok(granted.clone());
    }
    if let Some(extra) = asked.iter().find(|s| !granted.covers(s)) {
        return Err(Error::invalid_scope(format!(
            "scope '{extra}' was not granted; a refresh may only narrow"
        )));
    }
    Ok(asked)
}

#[cfg(test)]
mod refresh_tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_refresh_may_narrow_never_widen() {
        let granted = ScopeSet::parse("mcp:tools:calendar:* mcp:tools:weather").unwrap();
        // (asked, the token's scope or the error)
        let cases = [
            (None, Ok("mcp:tools:calendar:* mcp:tools:weather")),
            (Some(""), Ok("mcp:tools:calendar:* mcp:tools:weather")),
            (Some("mcp:tools:weather"), Ok("mcp:tools:weather")),
            (
                Some("mcp:tools:calendar:read"),
                Ok("mcp:tools:calendar:read"),
            ),
            (Some("mcp:tools:email:send"), Err(ErrorCode::InvalidScope)),
            (Some("mcp:tools:*"), Err(ErrorCode::InvalidScope)),
            (Some("mcp:nope"), Err(ErrorCode::InvalidScope)),
        ];
        for (asked, want) in cases {
            let got = for_refresh(&granted, asked)
                .map(|s| s.to_string())
                .map_err(|e| e.code);
            assert_eq!(got, want.map(str::to_owned), "{asked:?}");
        }
    }
}

#[cfg(test)]
mod consent_tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::catalog::ScopeEntry;

    #[test]
    fn a_person_may_be_asked_for_any_known_scope_the_resource_accepts() {
        let entry = |n: &str| ScopeEntry {
            name: n.into(),
            description: String::new(),
            permissions: vec![],
        };
        let catalog = ScopeCatalog::new(vec![
            entry("mcp:tools:weather"),
            entry("mcp:tools:calendar:read"),
        ]);
        let s = |v: &str| ScopeSet::parse(v).unwrap();
        let r = Resource::new(
            "https://m.example",
            "m".into(),
            s("mcp:tools:weather mcp:tools:calendar:read"),
            None,
        )
        .unwrap();
        let none = for_consent(None, &[&r], &catalog).unwrap();
        assert_eq!(
            none.to_string(),
            "mcp:tools:weather mcp:tools:calendar:read"
        );
        let only_offline = for_consent(Some(&s("offline_access")), &[&r], &catalog).unwrap();
        assert_eq!(
            only_offline.to_string(),
            "mcp:tools:weather mcp:tools:calendar:read offline_access",
            "offline_access alone asks for the defaults, and is kept for the grant"
        );
        let one = for_consent(
            Some(&s("offline_access mcp:tools:weather")),
            &[&r],
            &catalog,
        )
        .unwrap();
        assert_eq!(one.to_string(), "mcp:tools:weather offline_access");
        let bad = for_consent(Some(&s("mcp:tools:email:send")), &[&r], &catalog).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidScope);
    }
}
