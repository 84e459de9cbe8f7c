//! Which limit the token endpoint applies to a client: the MCP flows
//! document's tiers, chosen by the client's registered scope, unless the
//! operator set a limit for this client.

use std::collections::HashMap;

use tessera_resource::RateLimits;
use tessera_resource::scope::ScopeSet;

/// Token requests `client_id` may make per window. `allowed` is its
/// registered scope (`None` if unreadable: the default tier).
pub fn token_limit(
    client_id: &str,
    allowed: Option<&ScopeSet>,
    overrides: &HashMap<String, u32>,
    tiers: &RateLimits,
) -> u32 {
    if let Some(limit) = overrides.get(client_id) {
        return *limit;
    }
    allowed.map_or(tiers.default_limit, |scopes| tiers.limit_for(scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_follows_the_registered_scope_unless_the_operator_set_one() {
        let tiers = RateLimits::default();
        let overrides = HashMap::from([("vip".to_owned(), 7)]);
        let s = |v: &str| ScopeSet::parse(v).unwrap();
        let cases = [
            ("a", Some(s("mcp:tools:*")), 1000),
            ("a", Some(s("mcp:tools:basic mcp:tools:weather")), 100),
            ("a", Some(s("mcp:tools:weather")), 50),
            ("a", None, 50),
            ("vip", Some(s("mcp:tools:*")), 7),
        ];
        for (client, allowed, limit) in cases {
            assert_eq!(
                token_limit(client, allowed.as_ref(), &overrides, &tiers),
                limit,
                "{client} {allowed:?}"
            );
        }
    }
}
