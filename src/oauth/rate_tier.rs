//! Which limit the token endpoint applies to a client: the MCP flows
//! document's tiers, chosen by the scope the client was granted, unless the
//! operator set a limit for this client.
//!
//! Only a client_credentials client's registered scope is a grant: an
//! administrator or the initial access token set it, and every token is
//! held within it. Any other client's registered scope is a hint it chose
//! itself (open registration, a metadata document), so it gets the default
//! tier: registering `mcp:tools:*` must not buy a higher limit.

use std::collections::HashMap;

use tessera_resource::RateLimits;
use tessera_resource::scope::ScopeSet;

use crate::oauth::client::GrantType;

/// Token requests `client_id` may make per window. `grants` are its
/// registered grant types and `registered` its registered scope (`None` if
/// unreadable: the default tier).
pub fn token_limit(
    client_id: &str,
    grants: &[GrantType],
    registered: Option<&ScopeSet>,
    overrides: &HashMap<String, u32>,
    tiers: &RateLimits,
) -> u32 {
    if let Some(limit) = overrides.get(client_id) {
        return *limit;
    }
    match registered {
        Some(scopes) if grants.contains(&GrantType::ClientCredentials) => tiers.limit_for(scopes),
        _ => tiers.default_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_follows_a_granted_scope_unless_the_operator_set_one() {
        let tiers = RateLimits::default();
        let overrides = HashMap::from([("vip".to_owned(), 7)]);
        let s = |v: &str| ScopeSet::parse(v).unwrap();
        let machine = &[GrantType::ClientCredentials][..];
        let person = &[GrantType::AuthorizationCode, GrantType::RefreshToken][..];
        let cases = [
            ("a", machine, Some(s("mcp:tools:*")), 1000),
            (
                "a",
                machine,
                Some(s("mcp:tools:basic mcp:tools:weather")),
                100,
            ),
            ("a", machine, Some(s("mcp:tools:weather")), 50),
            ("a", machine, None, 50),
            ("vip", machine, Some(s("mcp:tools:*")), 7),
            // A hint the client registered for itself buys nothing.
            ("a", person, Some(s("mcp:tools:*")), 50),
            ("vip", person, Some(s("mcp:tools:*")), 7),
        ];
        for (client, grants, registered, limit) in cases {
            assert_eq!(
                token_limit(client, grants, registered.as_ref(), &overrides, &tiers),
                limit,
                "{client} {grants:?} {registered:?}"
            );
        }
    }
}
