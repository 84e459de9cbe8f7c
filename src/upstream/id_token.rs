//! Validating a provider's ID token (OpenID Connect Core §3.1.3.7) and
//! reading the person from it.
//!
//! The signature is checked with jsonwebtoken against the provider's JWKS,
//! for an asymmetric algorithm of the allowlist only (never `none` or HMAC:
//! the client secret is not a key here); the key is chosen by `kid`, and a
//! key that declares its algorithm must declare the token's. Then `iss` (the
//! discovered issuer), `aud` (our client id), `azp` (required to be us when
//! there are several audiences), `exp` against Tessera's clock (with a
//! minute's leeway), `iat` not in the future, and `nonce` (the one sent).

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

use super::Failure;

const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
const LEEWAY: i64 = 60;
/// Groups kept from a token, and their longest name: enough for policy,
/// bounded for storage.
const MAX_GROUPS: usize = 256;
const MAX_GROUP_LEN: usize = 256;

/// What the ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub groups: Vec<String>,
    /// `preferred_username`, for a new person's name.
    pub preferred_username: Option<String>,
}

/// What the ID token must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub groups_claim: &'a str,
    pub now: i64,
}

/// Why a token whose key is missing failed: the caller fetches the keys
/// again once.
pub enum Invalid {
    UnknownKey,
    Other(Failure),
}

fn invalid(why: impl Into<String>) -> Invalid {
    Invalid::Other(Failure::Invalid(why.into()))
}

fn find_key<'k>(keys: &'k JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'k Jwk> {
    let fits = |k: &&Jwk| {
        k.common
            .key_algorithm
            .is_none_or(|a| a.to_string() == format!("{alg:?}"))
    };
    match kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .find(fits),
        None if keys.keys.len() == 1 => keys.keys.first().filter(fits),
        None => None,
    }
}

/// Validate `token` and read the person from it.
pub fn validate(token: &str, keys: &JwkSet, e: &Expected<'_>) -> Result<Person, Invalid> {
    let header = decode_header(token).map_err(|_| invalid("the ID token is not a JWS"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(invalid(format!(
            "the ID token is signed with {:?}, which is not accepted",
            header.alg
        )));
    }
    let jwk = find_key(keys, header.kid.as_deref(), header.alg).ok_or(Invalid::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("the provider's key is unusable"))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[e.issuer]);
    v.set_audience(&[e.client_id]);
    // Expiry is checked below against Tessera's clock, not the system's.
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
    let claims = decode::<Value>(token, &key, &v)
        .map_err(|err| invalid(format!("the ID token is not valid: {err}")))?
        .claims;
    check_times(&claims, e.now)?;
    check_party(&claims, e.client_id)?;
    if claims.get("nonce").and_then(Value::as_str) != Some(e.nonce) {
        return Err(invalid("the ID token's nonce is not the one sent"));
    }
    person(&claims, e.groups_claim)
}

fn check_times(claims: &Value, now: i64) -> Result<(), Invalid> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("no exp"))?;
    if exp + LEEWAY <= now {
        return Err(invalid("the ID token has expired"));
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > now + LEEWAY)
    {
        return Err(invalid("the ID token was issued in the future"));
    }
    Ok(())
}

/// §3.1.3.7 items 4–5: with several audiences `azp` must be present, and
/// when present it must be us.
fn check_party(claims: &Value, client_id: &str) -> Result<(), Invalid> {
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => Err(invalid("the ID token was issued to another party")),
        None if several => Err(invalid("the ID token has several audiences and no azp")),
        _ => Ok(()),
    }
}

fn person(claims: &Value, groups_claim: &str) -> Result<Person, Invalid> {
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub").unwrap_or_default();
    if subject.is_empty() || subject.len() > 255 {
        return Err(invalid("the ID token's sub is empty or too long"));
    }
    // Some providers send the boolean as a string.
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let groups = match claims.get(groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_LEN)
            .take(MAX_GROUPS)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(g)) if !g.is_empty() && g.len() <= MAX_GROUP_LEN => vec![g.clone()],
        _ => Vec::new(),
    };
    Ok(Person {
        subject,
        email: text("email").filter(|m| m.len() <= 320),
        email_verified,
        groups,
        preferred_username: text("preferred_username"),
    })
}

/// The domain rule: with `allowed` domains, a verified e-mail in one of them.
pub fn domain_refusal(person: &Person, allowed: &[String]) -> Option<String> {
    if allowed.is_empty() {
        return None;
    }
    let Some(email) = &person.email else {
        return Some("your account at the provider has no e-mail address".into());
    };
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    match domain {
        _ if !person.email_verified => Some(format!(
            "your e-mail address {email} is not verified by the provider"
        )),
        Some(d) if allowed.contains(&d) => None,
        _ => Some(format!(
            "accounts of {} may not sign in here",
            email.rsplit_once('@').map_or(email.as_str(), |(_, d)| d)
        )),
    }
}

/// The group rule: with `allowed` groups, membership of one of them.
pub fn group_refusal(person: &Person, allowed: &[String]) -> Option<String> {
    if allowed.is_empty() || person.groups.iter().any(|g| allowed.contains(g)) {
        return None;
    }
    Some("you are not in a group that may sign in here".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: Option<&str>, verified: bool, groups: &[&str]) -> Person {
        Person {
            subject: "s".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            preferred_username: None,
        }
    }

    #[test]
    fn the_domain_rule_needs_a_verified_address_in_an_allowed_domain() {
        let allowed = vec!["example.com".to_owned()];
        assert_eq!(domain_refusal(&person(None, false, &[]), &[]), None);
        assert_eq!(
            domain_refusal(&person(Some("a@Example.COM"), true, &[]), &allowed),
            None
        );
        assert!(domain_refusal(&person(Some("a@example.com"), false, &[]), &allowed).is_some());
        assert!(domain_refusal(&person(Some("a@evil.test"), true, &[]), &allowed).is_some());
        assert!(domain_refusal(&person(None, true, &[]), &allowed).is_some());
        assert!(
            domain_refusal(
                &person(Some("a@example.com.evil.test"), true, &[]),
                &allowed
            )
            .is_some()
        );
    }

    #[test]
    fn the_group_rule_needs_one_allowed_group() {
        let allowed = vec!["staff".to_owned()];
        assert_eq!(group_refusal(&person(None, false, &[]), &[]), None);
        assert_eq!(
            group_refusal(&person(None, false, &["x", "staff"]), &allowed),
            None
        );
        assert!(group_refusal(&person(None, false, &["x"]), &allowed).is_some());
    }

    #[test]
    fn several_audiences_need_azp_and_azp_must_be_us() {
        let ok = serde_json::json!({"aud": ["us", "them"], "azp": "us"});
        let missing = serde_json::json!({"aud": ["us", "them"]});
        let other = serde_json::json!({"aud": "us", "azp": "them"});
        assert!(check_party(&ok, "us").is_ok());
        assert!(check_party(&missing, "us").is_err());
        assert!(check_party(&other, "us").is_err());
        assert!(check_party(&serde_json::json!({"aud": "us"}), "us").is_ok());
    }
}
