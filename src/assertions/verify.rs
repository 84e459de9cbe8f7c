//! Verifying a JWT assertion's signature with a JWK set: the header's `alg`
//! must be on the allowlist (never `none`, never HMAC: RFC 8725 §3.1-3.2), the
//! key is chosen by `kid` (or is the set's only key that fits the algorithm),
//! and the key's type, curve and `alg` must fit the algorithm too.
//! Registered claims are checked afterwards, with Tessera's clock, by
//! `oauth::assertion`; here only the signature.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

/// The signature algorithms an assertion may use.
pub const ALLOWED: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Their names, as metadata lists them
/// (`token_endpoint_auth_signing_alg_values_supported`).
pub const ALLOWED_NAMES: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];

/// The longest assertion read at all.
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// A JWT's header, read before its signature is checked (to find the key).
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Read the header of `jwt`, refusing an algorithm off the allowlist.
pub fn header(jwt: &str) -> Result<Header, String> {
    if jwt.len() > MAX_ASSERTION_BYTES {
        return Err(format!(
            "the assertion is longer than {MAX_ASSERTION_BYTES} bytes"
        ));
    }
    if jwt.split('.').count() != 3 {
        return Err("the assertion is not a signed JWT (JWS compact form)".into());
    }
    let h = decode_header(jwt).map_err(|_| {
        "the assertion's header is not readable, or names an unknown algorithm".to_owned()
    })?;
    if !ALLOWED.contains(&h.alg) {
        return Err(format!(
            "the signature algorithm {:?} is not accepted (ES256, RS256, PS256 or EdDSA)",
            h.alg
        ));
    }
    Ok(Header {
        alg: h.alg,
        kid: h.kid,
        typ: h.typ,
    })
}

/// Whether `key` (a JWK) can verify `alg` signatures.
fn fits(key: &Value, alg: Algorithm) -> bool {
    let member = |name: &str| key.get(name).and_then(Value::as_str);
    let alg_ok = member("alg").is_none_or(|a| a == format!("{alg:?}"));
    let use_ok = member("use").is_none_or(|u| u == "sig");
    let type_ok = match alg {
        Algorithm::ES256 => member("kty") == Some("EC") && member("crv") == Some("P-256"),
        Algorithm::RS256 | Algorithm::PS256 => member("kty") == Some("RSA"),
        Algorithm::EdDSA => member("kty") == Some("OKP") && member("crv") == Some("Ed25519"),
        _ => false,
    };
    alg_ok && use_ok && type_ok
}

/// The key of `set` that verifies a JWT with `header`: the one its `kid`
/// names, or without a `kid` the only one that fits the algorithm.
pub fn select<'a>(set: &'a Value, header: &Header) -> Result<&'a Value, String> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let fitting = keys.iter().filter(|k| fits(k, header.alg));
    let chosen: Vec<&Value> = match &header.kid {
        Some(kid) => fitting
            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .collect(),
        None => fitting.collect(),
    };
    match (chosen.as_slice(), &header.kid) {
        ([one], _) => Ok(one),
        ([], Some(kid)) => Err(format!("no registered key has kid '{}'", bounded(kid))),
        ([], None) => Err("no registered key fits the assertion's algorithm".into()),
        (_, _) => Err("several registered keys fit: the assertion must name one by kid".into()),
    }
}

/// Whether `set` holds a key with `kid`.
pub fn has_kid(set: &Value, kid: &str) -> bool {
    set.get("keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| {
            keys.iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
}

/// Verify `jwt`'s signature with `key`; its claims.
pub fn signature(jwt: &str, header: &Header, key: &Value) -> Result<Value, String> {
    let jwk: Jwk = serde_json::from_value(key.clone())
        .map_err(|_| "the registered key cannot be used".to_owned())?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the registered key cannot be used")?;
    let mut validation = Validation::new(header.alg);
    // Times and audience are `oauth::assertion`'s, on Tessera's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    decode::<Value>(jwt, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                "the signature does not verify with the registered key".to_owned()
            }
            _ => "the assertion is malformed".to_owned(),
        })
}

/// `s` cut short for an error description.
fn bounded(s: &str) -> String {
    s.chars().take(64).filter(|c| !c.is_control()).collect()
}
