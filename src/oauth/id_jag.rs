//! The Identity Assertion JWT Authorization Grant (SEP-990, the IETF draft
//! "Identity Assertion Authorization Grant"): an enterprise identity
//! provider, trusted by configuration (`[[trusted_idp]]`), tells Tessera
//! that one of its people may use a client at a resource, in a short-lived
//! JWT (an ID-JAG) the client presents with RFC 7523 §2.1's grant.
//!
//! Pure: given the verified header `typ` and claims, the provider's rules,
//! the authenticated client, the resource and `now`, either what to issue
//! for (the person's `sub`, the scope the provider allowed) or
//! `invalid_grant` with the failed check named. The signature and the
//! replay cache are the caller's.

use serde::Deserialize;
use tessera_resource::scope::ScopeSet;

use crate::error::{Error, Result};
use crate::oauth::assertion::{Audience, CLOCK_SKEW, Claims, Spent, audience_is, times_and_jti};

/// RFC 7523 §2.1's `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The ID-JAG's JOSE `typ`.
pub const TYP: &str = "oauth-id-jag+jwt";
/// The longest an ID-JAG may live (`exp` − `iat`): "a few minutes".
pub const MAX_LIFETIME: i64 = 300;

/// How a provider's `sub` becomes a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum People {
    /// Only a person already linked to (provider, `sub`).
    Link,
    /// Link if linked, else create the person just in time.
    Provision,
}

/// One `[[trusted_idp]]`.
#[derive(Debug, Clone)]
pub struct TrustedIdp {
    /// Its issuer identifier, exactly as its ID-JAGs' `iss`.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_uri: String,
    /// The name linked identities record it under.
    pub provider: String,
    /// Clients it may grant for (by client id).
    pub clients: Vec<String>,
    /// Resources it may grant for (their URIs as registered); empty: any.
    pub resources: Vec<String>,
    pub people: People,
    /// Whether a refresh token is issued with the access token.
    pub refresh_tokens: bool,
}

/// The claims of an ID-JAG beyond the registered ones.
#[derive(Debug, Clone, Deserialize)]
pub struct IdJagClaims {
    #[serde(flatten)]
    pub registered: Claims,
    pub client_id: Option<String>,
    pub resource: Option<Audience>,
    pub scope: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Every other claim: the groups claim an `[[identity_providers]]` entry
    /// of the same provider names is read from here.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// What a valid ID-JAG grants.
#[derive(Debug)]
pub struct Granted {
    /// The person at the provider.
    pub sub: String,
    /// The scope the provider allowed, if it said.
    pub scope: Option<ScopeSet>,
    pub spent: Spent,
}

fn refuse(why: impl Into<String>) -> Error {
    refused(why.into())
}

fn refused(why: String) -> Error {
    Error::invalid_grant(format!("the identity assertion is refused: {why}"))
}

/// Check an ID-JAG from `idp` for `client_id` at `resource` (the requested
/// resource, or the client's default), presented to the issuer `issuer`.
pub fn check(
    typ: Option<&str>,
    c: &IdJagClaims,
    idp: &TrustedIdp,
    issuer: &str,
    client_id: &str,
    resource: &str,
    now: i64,
) -> Result<Granted> {
    let typ_ok = typ.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t == TYP || t.strip_prefix("application/") == Some(TYP)
    });
    if !typ_ok {
        return Err(refuse(format!("its typ is not {TYP}")));
    }
    let r = &c.registered;
    if r.iss.as_deref() != Some(idp.issuer.as_str()) {
        return Err(refuse("iss is not a trusted identity provider"));
    }
    if !audience_is(r.aud.as_ref(), &[issuer]) {
        return Err(refuse("aud is not this authorization server's issuer"));
    }
    if c.client_id.as_deref() != Some(client_id) {
        return Err(refuse("its client_id is not the authenticated client"));
    }
    if !idp.clients.iter().any(|id| id == client_id) {
        return Err(refuse(
            "the identity provider may not grant for this client",
        ));
    }
    let names_resource = c.resource.as_ref().is_some_and(|aud| {
        aud.contains(|a| a.trim_end_matches('/') == resource.trim_end_matches('/'))
    });
    if !names_resource {
        return Err(refuse(format!(
            "its resource is not the requested resource '{resource}'"
        )));
    }
    if !idp.resources.is_empty() && !idp.resources.iter().any(|x| x == resource) {
        return Err(refuse(
            "the identity provider may not grant for this resource",
        ));
    }
    let spent = times_and_jti(r, now, refused)?;
    let iat = r.iat.ok_or_else(|| refuse("it has no iat"))?;
    if spent.exp - iat > MAX_LIFETIME {
        return Err(refuse(format!(
            "it lives longer than {MAX_LIFETIME} seconds (exp − iat)"
        )));
    }
    if iat > now + CLOCK_SKEW {
        return Err(refuse("it was issued in the future (iat)"));
    }
    let sub = match r.sub.as_deref() {
        Some(s) if !s.is_empty() && s.len() <= 255 => s.to_owned(),
        _ => return Err(refuse("it has no usable sub")),
    };
    let scope = c
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| refuse(format!("its scope is malformed: {e}")))?;
    Ok(Granted { sub, scope, spent })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const AS: &str = "https://auth.example.com";
    const RS: &str = "https://mcp.example.com/mcp";

    fn idp() -> TrustedIdp {
        TrustedIdp {
            issuer: "https://idp.example.com".into(),
            jwks_uri: "https://idp.example.com/keys".into(),
            provider: "acme".into(),
            clients: vec!["c1".into()],
            resources: vec![RS.into()],
            people: People::Link,
            refresh_tokens: false,
        }
    }

    fn claims(patch: serde_json::Value) -> IdJagClaims {
        let mut c = json!({"iss": "https://idp.example.com", "sub": "u1", "aud": AS, "client_id": "c1",
                           "resource": RS, "scope": "mcp:tools:weather", "exp": NOW + 60, "iat": NOW, "jti": "j"});
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn why(typ: &str, patch: serde_json::Value) -> String {
        let e = check(Some(typ), &claims(patch), &idp(), AS, "c1", RS, NOW).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        e.description.into_owned()
    }

    #[test]
    fn a_valid_id_jag_names_the_person_and_the_scope() {
        let g = check(Some(TYP), &claims(json!({})), &idp(), AS, "c1", RS, NOW).unwrap();
        assert_eq!(g.sub, "u1");
        assert_eq!(g.scope.unwrap().to_string(), "mcp:tools:weather");
        assert_eq!(g.spent.jti, "j");
        let slash = claims(json!({"aud": format!("{AS}/")}));
        assert!(
            check(
                Some("application/oauth-id-jag+jwt"),
                &slash,
                &idp(),
                AS,
                "c1",
                RS,
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn every_check_has_its_own_description() {
        assert!(why("JWT", json!({})).contains("typ"));
        assert!(why(TYP, json!({"iss": "https://evil.example"})).contains("iss"));
        assert!(why(TYP, json!({"aud": "https://other.example"})).contains("aud"));
        assert!(why(TYP, json!({"client_id": "c2"})).contains("client_id"));
        assert!(why(TYP, json!({"resource": "https://other.example"})).contains("resource"));
        assert!(why(TYP, json!({"exp": NOW - 1})).contains("expired"));
        assert!(why(TYP, json!({"exp": NOW + 3600})).contains("longer than"));
        assert!(why(TYP, json!({"iat": null})).contains("iat"));
        assert!(why(TYP, json!({"jti": null})).contains("jti"));
        assert!(why(TYP, json!({"sub": ""})).contains("sub"));
    }
}
