//! Client identifiers, client secrets and their keyed hash.
//!
//! Secrets are 256 random bits, base64url (unreserved characters only, so
//! Basic authentication decodes the same whether or not the client
//! form-encodes them, RFC 6749 §2.3.1). Only HMAC-SHA-256(pepper, secret) is
//! stored; verification is ring's constant-time `hmac::verify`. A slow KDF is
//! pointless for 256-bit random secrets and would cost the token endpoint
//! dearly, so argon2 is kept for human passwords.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// A freshly generated secret, shown once; `Debug` never prints it.
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(B64.encode(&buf))
}

/// A new client identifier: 128 random bits. Never an `https://` URL, so it
/// cannot collide with Client ID Metadata Document identifiers.
pub fn new_client_id() -> anyhow::Result<String> {
    // Ids are typed into command lines (`tessera client show ID`): one starting
    // with '-' would read as an option, so draw again (1 in 32 draws).
    loop {
        let id = random_token(16)?;
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok(id);
        }
    }
}

pub fn new_client_secret() -> anyhow::Result<ClientSecret> {
    random_token(32).map(ClientSecret)
}

/// Keyed hashing of client secrets.
#[derive(Clone)]
pub struct SecretHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

impl SecretHasher {
    pub fn new(pepper: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, pepper),
        }
    }

    pub fn hash(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.key, secret.as_bytes()).as_ref().to_vec()
    }

    /// Constant-time comparison of `secret` against a stored tag.
    pub fn verify(&self, secret: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), stored).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_only_against_its_own_hash_and_pepper() {
        let h = SecretHasher::new(b"pepper-pepper-pepper-pepper-pepper");
        let s = new_client_secret().unwrap();
        let tag = h.hash(s.expose());
        assert!(h.verify(s.expose(), &tag));
        assert!(!h.verify("wrong", &tag));
        assert!(!SecretHasher::new(b"another pepper").verify(s.expose(), &tag));
        assert_eq!(s.expose().len(), 43, "256 bits in base64url");
        assert_eq!(format!("{s:?}"), "ClientSecret(..)");
    }

    #[test]
    fn identifiers_use_unreserved_characters_only() {
        for _ in 0..200 {
            let id = new_client_id().unwrap();
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
            assert!(
                id.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "never read as a CLI option: {id}"
            );
        }
    }
}
