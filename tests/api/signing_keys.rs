//! Test scaffolding for JWT assertions: keys a test client or a test identity
//! provider holds (ES256 from ring, RS256 from the `rsa` crate), their public
//! JWKs, signing with jsonwebtoken, and a loopback HTTP server publishing a
//! JWK set that a test can change and whose fetches it can count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A private key and its public JWK.
pub struct TestKey {
    alg: Algorithm,
    encoding: EncodingKey,
    pub kid: String,
    pub jwk: Value,
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
        Self {
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            kid: kid.to_owned(),
            jwk,
        }
    }

    pub fn rs256(kid: &str) -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let der = key.to_pkcs1_der().unwrap();
        let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                         "n": B64.encode(key.n().to_bytes_be()), "e": B64.encode(key.e().to_bytes_be())});
        Self {
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            kid: kid.to_owned(),
            jwk,
        }
    }

    /// `{"keys": [this key]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// A JWT of `claims` signed with this key, its `kid` in the header, and `typ`.
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// [`Self::sign`] with a header the test writes itself (e.g. another `alg`).
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }
}

/// An unsigned JWT (`alg: none`) of `claims`.
pub fn unsigned(claims: &Value) -> String {
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", B64.encode(claims.to_string()))
}

/// An HS256 JWT of `claims` keyed with `secret`.
pub fn hmac_signed(claims: &Value, secret: &[u8]) -> String {
    let header = Header::new(Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// A JWK set served on loopback at [`JwksServer::url`].
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    set: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(set: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Self {
            url: format!("{base}/jwks.json"),
            set: Arc::new(Mutex::new(set)),
            hits: Arc::default(),
        };
        let state = server.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let s = state.clone();
                async move {
                    s.hits.fetch_add(1, Ordering::SeqCst);
                    let body = s.set.lock().unwrap().clone();
                    (
                        [(axum::http::header::CACHE_CONTROL, "max-age=600")],
                        axum::Json(body),
                    )
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    /// Publish another set (a key rotation).
    pub fn publish(&self, set: Value) {
        *self.set.lock().unwrap() = set;
    }

    /// How often the set was fetched.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The current unix time.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
