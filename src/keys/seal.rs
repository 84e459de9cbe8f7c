//! Encryption of private keys at rest with an operator-supplied secret
//! (`TESSERA_KEY_ENCRYPTION_KEY`).
//!
//! The secret is stretched with HKDF-SHA-256 into an AES-256-GCM key; each
//! private key is sealed as `nonce (12) || ciphertext || tag (16)` with a fresh
//! random nonce and the key id as associated data, so a sealed key cannot be
//! moved to another row. Without the secret the database file itself is the
//! secret to protect.

use anyhow::anyhow;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};

pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(secret: &str) -> anyhow::Result<Self> {
        let prk = Salt::new(HKDF_SHA256, b"tessera key encryption v1").extract(secret.as_bytes());
        let okm = prk
            .expand(&[b"aes-256-gcm"], &AES_256_GCM)
            .map_err(|_| anyhow!("key derivation failed"))?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow!("the system random generator failed"))?;
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut out,
            )
            .map_err(|_| anyhow!("sealing a private key failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend(out);
        Ok(sealed)
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(anyhow!("sealed key {kid} is truncated"));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| {
                anyhow!("cannot decrypt signing key {kid}: wrong TESSERA_KEY_ENCRYPTION_KEY?")
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_secret_and_kid() {
        let s = Sealer::new("an operator secret of enough length!!").unwrap();
        let sealed = s.seal("kid-1", b"private key bytes").unwrap();
        assert_ne!(&sealed[12..], b"private key bytes");
        assert_eq!(s.open("kid-1", &sealed).unwrap(), b"private key bytes");
        assert!(s.open("kid-2", &sealed).is_err(), "bound to its kid");
        assert!(
            Sealer::new("another secret of enough length!!!!!")
                .unwrap()
                .open("kid-1", &sealed)
                .is_err()
        );
    }
}
