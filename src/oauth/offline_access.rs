//! `offline_access` (SEP-2207, after OIDC Core §11): the scope by which a
//! client asks to keep access while the person is away, i.e. for a refresh
//! token. It is the authorization server's scope, not a resource's: it is
//! shown on the consent page and remembered with the grant, but never
//! written into an access token (no resource accepts it).
//!
//! When a refresh token is issued:
//! - the client must be registered for the `refresh_token` grant (always);
//! - a client that asked for `offline_access` (and was granted it) gets one;
//! - a client that *knows* the scope (it registered it in its `scope`
//!   metadata) but did not ask for it this time gets none: it chose not to;
//! - a client that does not know the scope keeps Tessera's behaviour from
//!   before SEP-2207: registering `refresh_token` is the request. SEP-2207
//!   asks servers not to break the clients that predate it, and most MCP
//!   clients today register `refresh_token` and never send the scope.

use tessera_resource::scope::ScopeSet;

/// The scope's name.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// How the consent page words it.
pub const DESCRIPTION: &str = "Stay connected when you are away";

/// Whether a grant of `granted` to a client issues a refresh token: see the
/// module's rules. `registered_scope` is the client's registered `scope`.
pub fn issues_refresh_token(
    registered_for_refresh: bool,
    registered_scope: Option<&ScopeSet>,
    granted: &ScopeSet,
) -> bool {
    if !registered_for_refresh {
        return false;
    }
    if granted.contains(OFFLINE_ACCESS) {
        return true;
    }
    !registered_scope.is_some_and(|s| s.contains(OFFLINE_ACCESS))
}

/// `scope` without `offline_access`: what an access token carries.
pub fn for_access_token(scope: &ScopeSet) -> ScopeSet {
    if !scope.contains(OFFLINE_ACCESS) {
        return scope.clone();
    }
    let mut out = ScopeSet::default();
    scope
        .iter()
        .filter(|s| *s != OFFLINE_ACCESS)
        .for_each(|s| out.insert(s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse(v).unwrap()
    }

    #[test]
    fn a_refresh_token_needs_the_grant_and_then_the_scope_or_a_client_that_does_not_know_it() {
        let asked = s("mcp:tools:weather offline_access");
        let plain = s("mcp:tools:weather");
        let knows = s("mcp:tools:weather offline_access");
        assert!(!issues_refresh_token(false, None, &asked), "not registered");
        assert!(issues_refresh_token(true, None, &asked));
        assert!(issues_refresh_token(true, Some(&knows), &asked));
        assert!(
            issues_refresh_token(true, None, &plain),
            "today's behaviour"
        );
        assert!(issues_refresh_token(true, Some(&plain), &plain));
        assert!(
            !issues_refresh_token(true, Some(&knows), &plain),
            "knows the scope and did not ask"
        );
    }

    #[test]
    fn access_tokens_never_carry_offline_access() {
        assert_eq!(
            for_access_token(&s("offline_access mcp:tools:weather")).to_string(),
            "mcp:tools:weather"
        );
        assert_eq!(
            for_access_token(&s("mcp:tools:weather")),
            s("mcp:tools:weather")
        );
    }
}
