//! Token exchange for MCP servers calling downstream APIs (RFC 8693): an MCP
//! server, registered as a client, trades the access token it received (the
//! subject token, which Tessera issued for the MCP server's resource) for a
//! token aimed at another resource Tessera knows, so it never passes the
//! client's token through (MCP authorization, "Token Passthrough").
//!
//! The operator's policy (`[[token_exchange]]`) says which resource's tokens
//! may be exchanged for which other resource's, by which clients, for at
//! most which scopes, and for how long. The result only narrows: its scopes
//! are the subject token's that the policy and the target both accept. The
//! new token names the MCP server as the actor (`act`, RFC 8693 §4.1).

use tessera_resource::scope::ScopeSet;

use crate::error::{Error, Result};
use crate::oauth::resource::Resource;

/// RFC 8693 §2.1's `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: an OAuth access token, the one kind exchanged and issued.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// One `[[token_exchange]]` rule.
#[derive(Debug, Clone)]
pub struct ExchangePolicy {
    /// The resource the subject token was issued for (its URI as registered).
    pub from: String,
    /// The resource the new token is for (its URI as registered).
    pub to: String,
    /// The most the new token may carry.
    pub scopes: ScopeSet,
    /// Clients that may exchange; empty: any client registered for the grant.
    pub clients: Vec<String>,
    /// The new token's longest lifetime, in seconds.
    pub lifetime: i64,
}

/// What the exchange is allowed to issue.
#[derive(Debug)]
pub struct Decision<'a> {
    pub policy: &'a ExchangePolicy,
    pub scope: ScopeSet,
}

/// Choose the policy that lets `client_id` exchange a token for
/// `subject_audience` with `subject_scope` into one for `target`, and the
/// scope it gets: `asked` (each covered by the subject token, the policy and
/// the target) or, without `asked`, every subject scope both accept.
pub fn decide<'a>(
    policies: &'a [ExchangePolicy],
    client_id: &str,
    subject_audience: &[String],
    subject_scope: &ScopeSet,
    target: &Resource,
    asked: Option<&ScopeSet>,
) -> Result<Decision<'a>> {
    let mut routes = policies
        .iter()
        .filter(|p| p.to == target.uri && subject_audience.contains(&p.from))
        .peekable();
    if routes.peek().is_none() {
        return Err(Error::invalid_target(format!(
            "no token-exchange policy lets this token be exchanged for one at '{}'",
            target.uri
        )));
    }
    let policy = routes
        .find(|p| p.clients.is_empty() || p.clients.iter().any(|c| c == client_id))
        .ok_or_else(|| {
            Error::unauthorized_client(format!(
                "this client may not exchange tokens for '{}'",
                target.uri
            ))
        })?;
    let accepted = |s: &str| policy.scopes.covers(s) && target.scopes.covers(s);
    let scope = match asked.filter(|a| !a.is_empty()) {
        Some(asked) => {
            for s in asked.iter() {
                if !subject_scope.covers(s) {
                    return Err(Error::invalid_scope(format!(
                        "scope '{s}' is not in the subject token: an exchange only narrows"
                    )));
                }
                if !accepted(s) {
                    return Err(Error::invalid_scope(format!(
                        "scope '{s}' is not allowed at '{}' by the token-exchange policy",
                        target.uri
                    )));
                }
            }
            asked.clone()
        }
        None => {
            let mut out = ScopeSet::default();
            subject_scope
                .iter()
                .filter(|s| accepted(s))
                .for_each(|s| out.insert(s));
            out
        }
    };
    if scope.is_empty() {
        return Err(Error::invalid_scope(
            "the subject token carries no scope the policy and the target resource accept",
        ));
    }
    Ok(Decision { policy, scope })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse(v).unwrap()
    }

    const MCP: &str = "https://mcp.example.com/mcp";
    const API: &str = "https://api.example.com";

    fn setup() -> (Vec<ExchangePolicy>, Resource) {
        let policy = ExchangePolicy {
            from: MCP.into(),
            to: API.into(),
            scopes: s("calendar:read calendar:write"),
            clients: vec!["mcp-server".into()],
            lifetime: 300,
        };
        let api = Resource::new(API, "API".into(), s("calendar:read weather"), None).unwrap();
        (vec![policy], api)
    }

    fn code(r: Result<Decision<'_>>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn the_scope_is_what_the_subject_policy_and_target_all_accept() {
        let (p, api) = setup();
        let subject = s("calendar:read calendar:write weather");
        let d = decide(&p, "mcp-server", &[MCP.into()], &subject, &api, None).unwrap();
        assert_eq!(d.scope, s("calendar:read"));
        let asked = s("calendar:read");
        let d = decide(
            &p,
            "mcp-server",
            &[MCP.into()],
            &subject,
            &api,
            Some(&asked),
        )
        .unwrap();
        assert_eq!(d.scope, asked);
    }

    #[test]
    fn every_refusal_has_its_code() {
        let (p, api) = setup();
        let subject = s("calendar:read weather");
        let aud = [MCP.to_owned()];
        let other = [API.to_owned()];
        assert_eq!(
            code(decide(&p, "mcp-server", &other, &subject, &api, None)),
            ErrorCode::InvalidTarget,
            "no route from the subject's audience"
        );
        assert_eq!(
            code(decide(&p, "someone", &aud, &subject, &api, None)),
            ErrorCode::UnauthorizedClient
        );
        let wider = s("calendar:write");
        assert_eq!(
            code(decide(&p, "mcp-server", &aud, &subject, &api, Some(&wider))),
            ErrorCode::InvalidScope,
            "not in the subject token"
        );
        let off_policy = s("weather");
        assert_eq!(
            code(decide(
                &p,
                "mcp-server",
                &aud,
                &subject,
                &api,
                Some(&off_policy)
            )),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(decide(&p, "mcp-server", &aud, &s("weather"), &api, None)),
            ErrorCode::InvalidScope,
            "nothing left"
        );
    }
}
