//! The claims of a JWT assertion, once its signature is verified: the rules
//! of RFC 7523 §3 for a client assertion (`private_key_jwt`, §2.2; OIDC Core
//! §9) and the time and audience rules every assertion Tessera accepts
//! shares (the ID-JAG's own are in [`super::id_jag`]). Pure: `now` is given.
//!
//! Each failed rule has its own description, so whoever built the assertion
//! can tell which claim to fix.

use serde::Deserialize;

use crate::error::{Error, Result};

/// How far the assertion's clock may run ahead of Tessera's (`iat`, `nbf`).
pub const CLOCK_SKEW: i64 = 60;
/// The longest a client assertion may still be valid for: RFC 7523 §3 item 4
/// lets the server reject an `exp` unreasonably far in the future.
pub const MAX_CLIENT_ASSERTION_LIFETIME: i64 = 300;
/// The longest `jti` kept in the replay cache.
pub const MAX_JTI_BYTES: usize = 256;

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: impl Fn(&str) -> bool) -> bool {
        match self {
            Self::One(a) => wanted(a),
            Self::Many(list) => list.iter().any(|a| wanted(a)),
        }
    }
}

/// The registered claims an assertion carries (RFC 7519 §4.1).
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
}

/// What a checked assertion leaves to remember: its `jti`, until `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    pub jti: String,
    pub exp: i64,
}

/// `aud` names one of `accepted` (the issuer or an endpoint URL), compared
/// with or without a trailing slash.
pub fn audience_is(aud: Option<&Audience>, accepted: &[&str]) -> bool {
    let bare = |s: &str| s.trim_end_matches('/').to_owned();
    aud.is_some_and(|aud| aud.contains(|a| accepted.iter().any(|ok| bare(a) == bare(ok))))
}

/// `exp` present and in the future, `iat` and `nbf` (when present) not in the
/// future beyond [`CLOCK_SKEW`], `jti` present and bounded.
pub fn times_and_jti(c: &Claims, now: i64, refuse: fn(String) -> Error) -> Result<Spent> {
    let exp = c
        .exp
        .ok_or_else(|| refuse("the assertion has no exp".into()))?;
    if exp <= now {
        return Err(refuse("the assertion has expired (exp)".into()));
    }
    if c.iat.is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err(refuse(
            "the assertion was issued in the future (iat)".into(),
        ));
    }
    if c.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(refuse("the assertion is not valid yet (nbf)".into()));
    }
    let jti = match c.jti.as_deref() {
        None | Some("") => return Err(refuse("the assertion has no jti".into())),
        Some(j) if j.len() > MAX_JTI_BYTES => {
            return Err(refuse(format!(
                "the assertion's jti is longer than {MAX_JTI_BYTES} bytes"
            )));
        }
        Some(j) => j.to_owned(),
    };
    Ok(Spent { jti, exp })
}

/// A client assertion (RFC 7523 §3) for `client_id`: `iss` = `sub` = the
/// client, `aud` one of `accepted`, `exp` in the future and at most
/// [`MAX_CLIENT_ASSERTION_LIFETIME`] away, sane `iat`/`nbf`, a `jti`.
pub fn client_assertion(c: &Claims, client_id: &str, accepted: &[&str], now: i64) -> Result<Spent> {
    let refuse = |why: String| Error::invalid_client(format!("client assertion refused: {why}"));
    if c.iss.as_deref() != Some(client_id) {
        return Err(refuse("iss is not the client's id".into()));
    }
    if c.sub.as_deref() != Some(client_id) {
        return Err(refuse("sub is not the client's id".into()));
    }
    if !audience_is(c.aud.as_ref(), accepted) {
        return Err(refuse(
            "aud is neither this issuer nor its token endpoint".into(),
        ));
    }
    let spent = times_and_jti(c, now, |why| {
        Error::invalid_client(format!("client assertion refused: {why}"))
    })?;
    if spent.exp > now + MAX_CLIENT_ASSERTION_LIFETIME + CLOCK_SKEW {
        return Err(refuse(format!(
            "exp is more than {MAX_CLIENT_ASSERTION_LIFETIME} seconds away: use short-lived assertions"
        )));
    }
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://auth.example.com";
    const ACCEPTED: [&str; 2] = [ISSUER, "https://auth.example.com/token"];

    fn claims(patch: serde_json::Value) -> Claims {
        let mut c = json!({
            "iss": "c1", "sub": "c1", "aud": "https://auth.example.com/token",
            "exp": NOW + 60, "iat": NOW, "jti": "j1"
        });
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn why(patch: serde_json::Value) -> String {
        let e = client_assertion(&claims(patch), "c1", &ACCEPTED, NOW).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidClient);
        e.description.into_owned()
    }

    #[test]
    fn a_good_assertion_is_spent_by_its_jti_until_exp() {
        let spent = client_assertion(&claims(json!({})), "c1", &ACCEPTED, NOW).unwrap();
        assert_eq!(
            spent,
            Spent {
                jti: "j1".into(),
                exp: NOW + 60
            }
        );
        for aud in [
            json!(ISSUER),
            json!("https://auth.example.com/"),
            json!(["x", ISSUER]),
        ] {
            assert!(client_assertion(&claims(json!({"aud": aud})), "c1", &ACCEPTED, NOW).is_ok());
        }
    }

    #[test]
    fn every_rule_has_its_own_refusal() {
        assert!(why(json!({"iss": "c2"})).contains("iss"));
        assert!(why(json!({"sub": "c2"})).contains("sub"));
        assert!(why(json!({"aud": "https://other.example"})).contains("aud"));
        assert!(why(json!({"exp": null})).contains("no exp"));
        assert!(why(json!({"exp": NOW})).contains("expired"));
        assert!(why(json!({"exp": NOW + 3600})).contains("short-lived"));
        assert!(why(json!({"iat": NOW + 600})).contains("iat"));
        assert!(why(json!({"nbf": NOW + 600})).contains("nbf"));
        assert!(why(json!({"jti": null})).contains("jti"));
        assert!(why(json!({"jti": "x".repeat(300)})).contains("jti"));
    }
}
