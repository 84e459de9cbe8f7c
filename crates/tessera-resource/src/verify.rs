//! Offline validation of a Tessera access token (RFC 9068 §4), check by check.
//!
//! Order: the header (`typ` is `at+jwt`, a `kid`), the key (known, its
//! declared `alg` equals the token's: RFC 8725 §3.1), the signature (ECDSA
//! in its low-S form only: [`crate::low_s`]), then the
//! claims: `iss` byte-identical to the issuer, `aud` (string or array)
//! containing this server's URI compared canonically (`https://x` ==
//! `https://x/`, mcp-interop §1.9, through [`canonical`]), `exp` and `nbf`
//! with the leeway, a `scope` that parses. Scopes are checked later, per
//! call, with the issuer's own rule ([`crate::scope::covers`]).
//!
//! The pure parts ([`check_header`], [`check_claims`]) take values and return
//! the reason a token is refused, which becomes its `error_description`.

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;

use crate::claims::{AccessTokenClaims, Audience};
use crate::clock::UnixTime;
use crate::scope::ScopeSet;
use crate::uri::canonical;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The token is bad (401 `invalid_token`); the reason.
    Invalid(String),
    /// The issuer's keys could not be fetched (503): no fault of the token,
    /// and a client told `invalid_token` would re-authorize for nothing.
    Unavailable(String),
}

impl From<String> for VerifyError {
    fn from(reason: String) -> Self {
        Self::Invalid(reason)
    }
}

/// At most 64 characters of a value from an unverified header, for messages.
pub fn clip(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub scopes: ScopeSet,
    pub aud: Vec<String>,
    pub claims: AccessTokenClaims,
}

/// What a token must match.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    /// The canonical form of this server's resource URI.
    pub resource: &'a str,
    pub leeway: i64,
}

/// `typ` and `kid`; returns the `kid`.
pub fn check_header(header: &Header) -> Result<&str, String> {
    let typ = header.typ.as_deref().unwrap_or("");
    // RFC 9068 §4: "at+jwt" or its full media type; media types ignore case.
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(format!(
            "the token's typ is '{typ}', not 'at+jwt' (RFC 9068)"
        ));
    }
    header
        .kid
        .as_deref()
        .ok_or_else(|| "the token names no signing key (kid)".to_owned())
}

/// Verify the signature with the key's declared algorithm; returns the claims.
pub fn check_signature(
    token: &str,
    header: &Header,
    key_alg: Algorithm,
    key: &DecodingKey,
) -> Result<Value, String> {
    if header.alg != key_alg {
        return Err(format!(
            "the token says {:?} but its key is for {key_alg:?}",
            header.alg
        ));
    }
    crate::low_s::check_token(token, key_alg)?;
    let mut validation = Validation::new(key_alg);
    // Time and audience are checked in check_claims, against the kit's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("the signature does not verify: {e}"))
}

fn audience_list(aud: &Audience) -> Vec<String> {
    match aud {
        Audience::One(a) => vec![a.clone()],
        Audience::Many(list) => list.clone(),
    }
}

/// Issuer, audience, lifetime and scope of a token whose signature verified.
pub fn check_claims(
    raw: Value,
    want: &Expectations<'_>,
    now: UnixTime,
) -> Result<Verified, String> {
    let nbf = match raw.get("nbf") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or("the token's nbf is not a number")?),
    };
    let claims: AccessTokenClaims = serde_json::from_value(raw)
        .map_err(|e| format!("the token lacks a required claim: {e}"))?;
    if claims.iss != want.issuer {
        return Err(format!(
            "the token was issued by '{}', this server trusts '{}'",
            claims.iss, want.issuer
        ));
    }
    let aud = audience_list(&claims.aud);
    if !aud
        .iter()
        .any(|a| canonical(a).as_deref() == Some(want.resource))
    {
        return Err(format!(
            "the token is for {aud:?}, not for this server ({})",
            want.resource
        ));
    }
    if now > claims.exp + want.leeway {
        return Err(format!("the token expired {}s ago", now - claims.exp));
    }
    if let Some(nbf) = nbf.filter(|nbf| *nbf > now + want.leeway) {
        return Err(format!("the token is not valid for another {}s", nbf - now));
    }
    let scopes = ScopeSet::parse(&claims.scope).map_err(|e| format!("the token's scope: {e}"))?;
    Ok(Verified {
        scopes,
        aud,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RS: &str = "https://mcp.example.com/";

    fn want() -> Expectations<'static> {
        Expectations {
            issuer: "https://auth.example.com",
            resource: RS,
            leeway: 60,
        }
    }

    fn claims(aud: Value) -> Value {
        json!({
            "iss": "https://auth.example.com", "sub": "u1", "aud": aud, "client_id": "c1",
            "scope": "mcp:tools:weather", "iat": 1000, "exp": 1900, "jti": "j1"
        })
    }

    #[test]
    fn audiences_compare_canonically_as_string_or_array() {
        for aud in [
            json!("https://mcp.example.com"),
            json!("HTTPS://MCP.example.com:443/"),
            json!(["https://other.example", "https://mcp.example.com"]),
        ] {
            let v = check_claims(claims(aud.clone()), &want(), 1000);
            assert!(v.is_ok(), "{aud}: {v:?}");
        }
        let err = check_claims(claims(json!("https://mcp.example.com/x")), &want(), 1000);
        assert!(err.unwrap_err().contains("not for this server"));
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        let mut c = claims(json!(RS));
        c["iss"] = json!("https://auth.example.com/");
        assert!(
            check_claims(c, &want(), 1000)
                .unwrap_err()
                .contains("issued by")
        );
    }

    #[test]
    fn expiry_and_not_before_allow_the_leeway() {
        assert!(check_claims(claims(json!(RS)), &want(), 1960).is_ok());
        let err = check_claims(claims(json!(RS)), &want(), 1961).unwrap_err();
        assert!(err.contains("expired 61s ago"), "{err}");
        let mut c = claims(json!(RS));
        c["nbf"] = json!(1100);
        assert!(check_claims(c.clone(), &want(), 1040).is_ok());
        assert!(
            check_claims(c, &want(), 1039)
                .unwrap_err()
                .contains("not valid")
        );
    }

    #[test]
    fn missing_claims_and_bad_scopes_are_refused() {
        let mut c = claims(json!(RS));
        c.as_object_mut().unwrap().remove("exp");
        assert!(
            check_claims(c, &want(), 1000)
                .unwrap_err()
                .contains("required claim")
        );
        let mut c = claims(json!(RS));
        c["scope"] = json!("mcp:bogus");
        assert!(check_claims(c, &want(), 1000).is_err());
    }

    #[test]
    fn the_header_needs_at_jwt_and_a_kid() {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("JWT".into());
        h.kid = Some("k".into());
        assert!(check_header(&h).unwrap_err().contains("typ"));
        h.typ = Some("application/AT+JWT".into());
        assert_eq!(check_header(&h), Ok("k"));
        h.kid = None;
        assert!(check_header(&h).is_err());
    }

    #[test]
    fn unverified_values_are_clipped_in_messages() {
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(100)).chars().count(), 64);
    }

    #[test]
    fn the_key_algorithm_wins_over_the_token_algorithm() {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k".into());
        let key = DecodingKey::from_secret(b"public key bytes an attacker knows");
        let err = check_signature("a.b.c", &h, Algorithm::ES256, &key).unwrap_err();
        assert!(err.contains("HS256"), "{err}");
    }

    /// A compact ES256 JWS signed by ring, and the key that verifies it.
    fn es256_token() -> (String, DecodingKey) {
        use base64::Engine;
        use ring::rand::SystemRandom;
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ES256, EcdsaKeyPair, KeyPair};
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ES256, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ES256, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let key =
            DecodingKey::from_ec_components(&b64.encode(&point[1..33]), &b64.encode(&point[33..]))
                .unwrap();
        let input = format!(
            "{}.{}",
            b64.encode(br#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#),
            b64.encode(br#"{"sub":"u1"}"#)
        );
        let sig = pair.sign(&rng, input.as_bytes()).unwrap();
        (format!("{input}.{}", b64.encode(sig.as_ref())), key)
    }

    /// The same signature with s replaced by n − s (P-256), which verifies too.
    fn twin(token: &str) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64.decode(sig).unwrap();
        let n: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
        ];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            sig[32 + i] = (d + 256 * borrow) as u8;
        }
        format!("{input}.{}", b64.encode(sig))
    }

    #[test]
    fn of_an_es256_signature_and_its_n_minus_s_twin_only_the_low_s_one_verifies() {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k".into());
        for _ in 0..8 {
            let (token, key) = es256_token();
            let other = twin(&token);
            let results = [
                check_signature(&token, &h, Algorithm::ES256, &key),
                check_signature(&other, &h, Algorithm::ES256, &key),
            ];
            let accepted = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(accepted, 1, "exactly one encoding verifies: {results:?}");
            let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
            assert!(refused.contains("high-S"), "{refused}");
        }
    }

    #[test]
    fn alg_none_is_not_even_a_token() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"at+jwt","kid":"k"}"#);
        let token = format!("{header}.{}.", b64.encode(b"{}"));
        assert!(jsonwebtoken::decode_header(&token).is_err());
    }
}

#[cfg(test)]
#[path = "verify_properties.rs"]
mod properties;
