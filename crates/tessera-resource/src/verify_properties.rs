//! Property tests of offline validation ([`super`]): any string, any
//! JWT-shaped string and any claims a correctly signed token may carry go
//! through the same steps as `ResourceKit::verify` (header, key algorithm,
//! signature, claims) without a panic, and whatever passes satisfies every
//! rule: the issuer, this server in `aud`, the lifetime, a scope that parses.
//! A token altered anywhere never passes with claims other than the signed ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://auth.example.com";
const RS: &str = "https://mcp.example.com/";
const NOW: i64 = 1_800_000_000;

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn keys() -> Keys {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
    Keys {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        decoding: DecodingKey::from_ec_components(&x, &y).unwrap(),
    }
}

/// The steps of `ResourceKit::verify` after the key lookup, with one key.
fn verify(token: &str, key: &DecodingKey) -> Result<Verified, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    check_header(&header)?;
    let raw = check_signature(token, &header, Algorithm::ES256, key)?;
    let want = Expectations {
        issuer: ISSUER,
        resource: RS,
        leeway: 60,
    };
    check_claims(raw, &want, NOW)
}

/// A token as the issuer signs it: ES256 in the low-S form the kit accepts
/// (`crate::low_s`).
fn sign(claims: &Value, keys: &Keys) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(&header, claims, &keys.encoding).unwrap();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature = B64.decode(signature).unwrap();
    crate::low_s::normalize(Algorithm::ES256, &mut signature);
    format!("{signed}.{}", B64.encode(signature))
}

/// Claim values of every JSON type, biased towards ones that almost pass.
fn claim_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(ISSUER)),
        Just(json!(RS)),
        Just(json!("https://MCP.example.com:443")),
        Just(json!("mcp:tools:weather mcp:tools:*")),
        Just(json!("mcp:bogus")),
        (NOW - 200..NOW + 200).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
        vec(any::<char>(), 0..20).prop_map(|c| json!(String::from_iter(c))),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| vec(inner, 0..4).prop_map(Value::Array))
}

/// Claims sets: a valid set with some claims (the RFC 9068 names and a few
/// others) replaced by any value or removed, so both sides of every rule
/// are reached.
fn claims() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("iss"),
        Just("sub"),
        Just("aud"),
        Just("client_id"),
        Just("scope"),
        Just("iat"),
        Just("exp"),
        Just("nbf"),
        Just("jti"),
        Just("auth_time"),
        Just("permissions"),
        Just("x"),
    ];
    btree_map(name, proptest::option::of(claim_value()), 0..5).prop_map(|changes| {
        let mut claims = valid_claims();
        for (name, value) in changes {
            match value {
                Some(v) => claims[name] = v,
                None => {
                    claims.as_object_mut().map(|o| o.remove(name));
                }
            }
        }
        claims
    })
}

fn valid_claims() -> Value {
    json!({"iss": ISSUER, "sub": "u1", "aud": RS, "client_id": "c1", "scope": "mcp:tools:weather",
           "iat": NOW, "exp": NOW + 300, "jti": "j1"})
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

#[test]
fn any_string_is_refused_without_a_panic() {
    let keys = keys();
    let token = vec(any::<char>(), 0..300).prop_map(String::from_iter);
    proptest!(config(), |(token in token)| {
        prop_assert!(verify(&token, &keys.decoding).is_err());
    });
}

#[test]
fn any_jwt_shaped_string_is_refused_without_a_panic() {
    let keys = keys();
    let parts = (
        vec(any::<u8>(), 0..80),
        vec(any::<u8>(), 0..120),
        vec(any::<u8>(), 0..80),
    );
    proptest!(config(), |((header, payload, sig) in parts, typed in any::<bool>())| {
        let header = if typed {
            let mut h = br#"{"alg":"ES256","typ":"at+jwt","kid":"k1""#.to_vec();
            h.extend_from_slice(&header);
            h
        } else {
            header
        };
        let token = format!("{}.{}.{}", B64.encode(header), B64.encode(payload), B64.encode(sig));
        prop_assert!(verify(&token, &keys.decoding).is_err());
    });
}

#[test]
fn whatever_a_signed_token_claims_passes_only_within_the_rules() {
    let keys = keys();
    proptest!(config(), |(claims in claims())| {
        if let Ok(v) = verify(&sign(&claims, &keys), &keys.decoding) {
            prop_assert_eq!(v.claims.iss.as_str(), ISSUER);
            prop_assert!(v.aud.iter().any(|a| crate::uri::canonical(a).as_deref() == Some(RS)));
            prop_assert!(NOW <= v.claims.exp + 60);
            prop_assert_eq!(ScopeSet::parse(&v.claims.scope).ok(), Some(v.scopes.clone()));
        }
    });
}

#[test]
fn an_altered_token_never_passes_with_other_claims() {
    let keys = keys();
    let token = sign(&valid_claims(), &keys);
    assert!(verify(&token, &keys.decoding).is_ok());
    proptest!(config(), |(at in any::<prop::sample::Index>(), byte in any::<u8>())| {
        let mut altered = token.clone().into_bytes();
        let i = at.index(altered.len());
        prop_assume!(altered[i] != byte);
        altered[i] = byte;
        let altered = String::from_utf8_lossy(&altered).into_owned();
        if let Ok(v) = verify(&altered, &keys.decoding) {
            prop_assert_eq!(serde_json::to_value(&v.claims).unwrap(), valid_claims());
        }
    });
}
