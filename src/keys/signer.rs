//! The access-token signer: JWS Compact Serialization (RFC 7515 §7.1) of an
//! RFC 9068 `at+jwt` with the current key.
//!
//! The key is parsed into its ring key pair once, when the key ring is built.
//! jsonwebtoken 9 takes the key as DER and parses it again for every signature
//! (Keats/jsonwebtoken#357); for P-256 and Ed25519 that parse derives the
//! public key, a scalar multiplication as costly as the signature itself.
//! `min_jwt` does the base64url framing around a key we hold parsed. Tokens
//! are still verified with jsonwebtoken ([`crate::access_token::check`], the kit).
//!
//! ES256 signatures leave in their low-S form (`tessera_resource::low_s`):
//! ring's signatures are high-S half of the time, and the kit refuses those so
//! that a token has one encoding.

use std::convert::Infallible;

use anyhow::{Context, anyhow};
use min_jwt::algorithm::Rs256;
use min_jwt::sign::ring::RsaKeyPairSigner;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use serde::Serialize;

use super::{Algorithm, KeyMaterial};

/// Ed25519 signing is deterministic and needs no randomness; min_jwt has no
/// wrapper for it, so this one hands ring's signature over as is.
struct Ed25519(Ed25519KeyPair);

impl min_jwt::sign::Signer for Ed25519 {
    type Signature = signature::Signature;
    type Error = Infallible;

    fn sign(&self, bytes: &[u8]) -> Result<Self::Signature, Self::Error> {
        Ok(self.0.sign(bytes))
    }
}

/// ES256 with ring, the signature turned into its low-S form (s := n − s
/// when s > n/2), which verifies with the same key and is the one the kit
/// accepts.
struct Es256LowS {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl min_jwt::sign::Signer for Es256LowS {
    type Signature = Vec<u8>;
    type Error = ring::error::Unspecified;

    fn sign(&self, bytes: &[u8]) -> Result<Self::Signature, Self::Error> {
        let mut signature = self.pair.sign(&self.rng, bytes)?.as_ref().to_vec();
        tessera_resource::low_s::normalize(Algorithm::Es256.jwt(), &mut signature);
        Ok(signature)
    }
}

enum Key {
    Es256(Es256LowS),
    Rs256(RsaKeyPairSigner<RsaKeyPair, SystemRandom, Rs256>),
    EdDsa(Ed25519),
}

/// The protected header, serialized once per key.
#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    kid: &'a str,
}

/// Signs access tokens with one key.
pub struct Signer {
    kid: String,
    header: Vec<u8>,
    key: Key,
}

impl Signer {
    pub fn new(material: &KeyMaterial) -> anyhow::Result<Self> {
        let der = material.private_der.as_slice();
        let invalid = || {
            anyhow!(
                "stored {} key {} is invalid",
                material.alg.as_str(),
                material.kid
            )
        };
        let key = match material.alg {
            Algorithm::Es256 => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|_| invalid())?;
                Key::Es256(Es256LowS { pair, rng })
            }
            Algorithm::Rs256 => {
                let pair = RsaKeyPair::from_der(der).map_err(|_| invalid())?;
                Key::Rs256(RsaKeyPairSigner::with_rs256(pair, SystemRandom::new()))
            }
            Algorithm::EdDsa => Key::EdDsa(Ed25519(
                Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid())?,
            )),
        };
        let header = serde_json::to_vec(&Header {
            typ: "at+jwt",
            alg: material.alg.as_str(),
            kid: &material.kid,
        })?;
        Ok(Self {
            kid: material.kid.clone(),
            header,
            key,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let claims = serde_json::to_vec(claims).context("serializing token claims failed")?;
        self.sign_json(&claims)
    }

    /// Sign claims already serialized as a JSON object (the token path writes
    /// its claims itself: `access_token::json::claims`).
    pub fn sign_json(&self, claims: &[u8]) -> anyhow::Result<String> {
        let signed = match &self.key {
            Key::Es256(k) => min_jwt::encode_and_sign(&self.header, claims, k),
            Key::Rs256(k) => min_jwt::encode_and_sign(&self.header, claims, k),
            Key::EdDsa(k) => min_jwt::encode_and_sign(&self.header, claims, k),
        };
        signed.map_err(|e| anyhow!("signing an access token failed: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::Jwk};
    use serde_json::{Value, json};

    #[test]
    fn every_algorithm_signs_a_token_jsonwebtoken_verifies_with_the_published_key() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let key = KeyMaterial::generate(alg).unwrap();
            let signer = Signer::new(&key).unwrap();
            let claims =
                json!({"sub": "machine", "aud": "https://mcp.example", "exp": 4_000_000_000_i64});
            let token = signer.sign(&claims).unwrap();

            let header = decode_header(&token).unwrap();
            assert_eq!(header.alg, alg.jwt());
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));

            let jwk: Jwk = serde_json::from_value(key.public_jwk.clone()).unwrap();
            let mut validation = Validation::new(alg.jwt());
            validation.set_audience(&["https://mcp.example"]);
            let verified =
                decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
                    .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(verified.claims, claims);
        }
    }

    #[test]
    fn es256_tokens_carry_only_low_s_signatures() {
        use base64::Engine;
        let signer = Signer::new(&KeyMaterial::generate(Algorithm::Es256).unwrap()).unwrap();
        // ring's s is above n/2 half of the time: 64 tokens all low is no luck.
        for n in 0..64 {
            let token = signer.sign(&json!({"n": n})).unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.rsplit('.').next().unwrap())
                .unwrap();
            let alg = Algorithm::Es256.jwt();
            assert!(!tessera_resource::low_s::is_high_s(alg, &sig), "token {n}");
        }
    }

    #[test]
    fn a_signature_from_another_key_does_not_verify() {
        let (a, b) = (
            KeyMaterial::generate(Algorithm::Es256).unwrap(),
            KeyMaterial::generate(Algorithm::Es256).unwrap(),
        );
        let token = Signer::new(&a)
            .unwrap()
            .sign(&json!({"exp": 4_000_000_000_i64}))
            .unwrap();
        let jwk: Jwk = serde_json::from_value(b.public_jwk.clone()).unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.validate_aud = false;
        assert!(
            decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation).is_err()
        );
    }

    #[test]
    fn a_damaged_private_key_is_an_error_not_a_panic() {
        let mut key = KeyMaterial::generate(Algorithm::Es256).unwrap();
        key.private_der.truncate(10);
        let err = Signer::new(&key).err().expect("a truncated key is refused");
        assert!(err.to_string().contains("is invalid"), "{err}");
    }
}
