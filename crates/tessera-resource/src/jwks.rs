//! The issuer's verification keys, cached (RFC 7517 key set, RFC 8414 `jwks_uri`).
//!
//! Each key is kept with the algorithm its JWK declares (`alg`, RFC 7517
//! §4.4), which is the only algorithm a token signed with it may use: the
//! token's own `alg` is never trusted alone (RFC 8725 §3.1). Keys without
//! `kid` or `alg`, symmetric (`HS*`) keys and `use` other than `sig` are
//! skipped.
//!
//! The set is refetched when it is older than its max age, or when a token
//! names an unknown `kid` (a rotation the kit has not seen), but never more
//! often than the refetch interval: unknown `kid`s are free for an attacker to
//! send. A failed fetch keeps the previous set.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::RwLock;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::clock::UnixTime;

use crate::discovery::Discovery;

/// Verification keys by `kid`.
pub type KeySet = HashMap<String, (Algorithm, DecodingKey)>;

/// Parse a JWKS document into the keys the kit will verify with.
pub fn parse_key_set(doc: &Value) -> KeySet {
    let keys = doc["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    keys.iter().filter_map(parse_key).collect()
}

fn parse_key(jwk: &Value) -> Option<(String, (Algorithm, DecodingKey))> {
    let kid = jwk["kid"].as_str()?;
    if jwk.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = Algorithm::from_str(jwk["alg"].as_str()?).ok()?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return None;
    }
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).ok()?;
    let key = DecodingKey::from_jwk(&parsed).ok()?;
    Some((kid.to_owned(), (alg, key)))
}

#[derive(Default)]
struct State {
    keys: KeySet,
    fetched_at: Option<UnixTime>,
    attempted_at: Option<UnixTime>,
}

impl State {
    fn lookup(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        self.keys.get(kid).cloned()
    }

    fn fresh(&self, now: UnixTime, max_age: i64) -> bool {
        self.fetched_at.is_some_and(|t| now - t < max_age)
    }

    fn may_fetch(&self, now: UnixTime, interval: i64) -> bool {
        self.attempted_at.is_none_or(|t| now - t >= interval)
    }
}

pub struct JwksCache {
    state: RwLock<State>,
    /// Serialises fetches so a burst of unknown `kid`s makes one request.
    fetching: tokio::sync::Mutex<()>,
    refetch_interval: i64,
    max_age: i64,
}

impl JwksCache {
    pub fn new(refetch_interval: i64, max_age: i64) -> Self {
        Self {
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            refetch_interval,
            max_age,
        }
    }

    /// Has a key set ever been fetched?
    pub fn loaded(&self) -> bool {
        self.state.read().is_ok_and(|s| s.fetched_at.is_some())
    }

    /// Should we go to the network before answering for `kid`? Returns the
    /// cached key too.
    fn consult(&self, kid: &str, now: UnixTime) -> (Option<(Algorithm, DecodingKey)>, bool) {
        let Ok(state) = self.state.read() else {
            return (None, false);
        };
        let key = state.lookup(kid);
        let wanted = key.is_none() || !state.fresh(now, self.max_age);
        (key, wanted && state.may_fetch(now, self.refetch_interval))
    }

    /// The key and algorithm for `kid`, fetching the set when needed and
    /// allowed; `fetches` counts network fetches (for [`crate::Stats`]).
    pub async fn key(
        &self,
        kid: &str,
        now: UnixTime,
        discovery: &Discovery,
        on_fetch: impl FnOnce(),
    ) -> Option<(Algorithm, DecodingKey)> {
        let (key, fetch) = self.consult(kid, now);
        if !fetch {
            return key;
        }
        let _guard = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        let (key, fetch) = self.consult(kid, now);
        if !fetch {
            return key;
        }
        if let Ok(mut state) = self.state.write() {
            state.attempted_at = Some(now);
        }
        on_fetch();
        match discovery.jwks().await {
            Ok(doc) => {
                let keys = parse_key_set(&doc);
                let found = keys.get(kid).cloned();
                if let Ok(mut state) = self.state.write() {
                    state.keys = keys;
                    state.fetched_at = Some(now);
                }
                found
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the issuer's key set failed; keeping the cached set");
                key
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use serde_json::json;

    /// A new P-256 key's public JWK, as an issuer publishes it.
    fn es256_jwk(kid: &str) -> Value {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
               "kid": kid, "use": "sig", "alg": "ES256"})
    }

    /// A new Ed25519 key's public JWK.
    fn ed25519_jwk(kid: &str) -> Value {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(pair.public_key().as_ref()),
               "kid": kid, "use": "sig", "alg": "EdDSA"})
    }

    #[test]
    fn published_keys_parse_with_their_declared_algorithm() {
        let set = parse_key_set(&json!({"keys": [es256_jwk("es"), ed25519_jwk("ed")]}));
        assert_eq!(set["es"].0, Algorithm::ES256);
        assert_eq!(set["ed"].0, Algorithm::EdDSA);
    }

    #[test]
    fn keys_without_kid_or_alg_symmetric_keys_and_encryption_keys_are_skipped() {
        let es = es256_jwk("es");
        let mut no_alg = es.clone();
        no_alg.as_object_mut().unwrap().remove("alg");
        let mut no_kid = es.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut enc = es.clone();
        enc["use"] = json!("enc");
        let hs = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"});
        let none = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "none", "kid": "n"});
        let set = parse_key_set(&json!({"keys": [no_alg, no_kid, enc, hs, none]}));
        assert!(set.is_empty(), "{:?}", set.keys().collect::<Vec<_>>());
        assert!(parse_key_set(&json!({"nope": 1})).is_empty());
    }

    #[test]
    fn refetching_is_gated_by_the_interval_and_max_age() {
        let cache = JwksCache::new(30, 300);
        assert!(cache.consult("k", 0).1, "nothing fetched yet");
        if let Ok(mut s) = cache.state.write() {
            s.attempted_at = Some(100);
            s.fetched_at = Some(100);
        }
        assert!(
            !cache.consult("k", 110).1,
            "unknown kid, but fetched 10s ago"
        );
        assert!(cache.consult("k", 130).1, "unknown kid, 30s later");
    }
}
