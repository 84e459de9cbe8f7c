//! Time-based one-time passwords (RFC 6238 over HOTP, RFC 4226) and the
//! sealing of their shared secrets at rest.
//!
//! The secret is 160 random bits (RFC 4226 §4 R6), shown once as base32 and
//! as an `otpauth://` URI (the Key Uri Format authenticator apps read):
//! HMAC-SHA-1, 6 digits, 30-second steps, which every authenticator supports.
//! A code is accepted for the current step and one step either side (clock
//! drift, RFC 6238 §6); the caller then spends the step that matched, so the
//! same code, or an older one, never works twice (RFC 6238 §5.2).
//!
//! Secrets are sealed with AES-256-GCM, the person's id as associated data
//! (a sealed secret cannot be moved to another person), under a key derived
//! with HKDF from `TESSERA_KEY_ENCRYPTION_KEY` when the operator set one,
//! else from the client-secret pepper. The first byte of a sealed secret says
//! which, so setting a key encryption key later does not lock anyone out.

use anyhow::anyhow;
use data_encoding::BASE32_NOPAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step (RFC 6238 §4.1, X).
pub const STEP: i64 = 30;
const SECRET_BYTES: usize = 20;

/// A TOTP shared secret; `Debug` never prints it.
pub struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; SECRET_BYTES];
        fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let bytes: [u8; SECRET_BYTES] = bytes
            .try_into()
            .map_err(|_| anyhow!("a TOTP secret has 20 bytes"))?;
        Ok(Self(bytes))
    }

    /// The secret as people type it into an authenticator: base32, in
    /// groups of four.
    pub fn base32(&self) -> String {
        let plain = BASE32_NOPAD.encode(&self.0);
        let groups: Vec<&str> = plain
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        groups.join(" ")
    }

    /// The Key Uri Format URI (`otpauth://totp/ISSUER:ACCOUNT?...`).
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            enc(issuer),
            enc(account),
            BASE32_NOPAD.encode(&self.0),
            enc(issuer),
        )
    }

    /// The code for time step `step` (RFC 4226 §5.3 dynamic truncation).
    pub fn code_at(&self, step: i64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let h = tag.as_ref();
        let offset = usize::from(h[h.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes([
            h[offset] & 0x7f,
            h[offset + 1],
            h[offset + 2],
            h[offset + 3],
        ]);
        format!("{:06}", bin % 1_000_000)
    }

    /// The step whose code `code` is, within one step of `now`'s and after
    /// `last_step` (the last one accepted); `None` when it is none of them.
    /// Every candidate is compared, each in constant time.
    pub fn matching_step(&self, code: &str, now: i64, last_step: i64) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(STEP);
        let mut found = None;
        for step in [current - 1, current, current + 1] {
            let equal = same(self.code_at(step).as_bytes(), code.as_bytes());
            if equal && step > last_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

fn fill(buf: &mut [u8]) -> anyhow::Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| anyhow!("the system random generator failed"))
}

/// Constant-time equality of two codes of the same length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Seals and opens TOTP secrets at rest.
pub struct FactorSeal {
    /// From the client-secret pepper: always there.
    pepper: LessSafeKey,
    /// From the key encryption key, when configured: used to seal.
    kek: Option<LessSafeKey>,
}

impl std::fmt::Debug for FactorSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FactorSeal(..)")
    }
}

const BY_PEPPER: u8 = 1;
const BY_KEK: u8 = 2;

fn derive(secret: &[u8]) -> anyhow::Result<LessSafeKey> {
    let prk = Salt::new(HKDF_SHA256, b"tessera second factor v1").extract(secret);
    let okm = prk
        .expand(&[b"totp aes-256-gcm"], &AES_256_GCM)
        .map_err(|_| anyhow!("key derivation failed"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

impl FactorSeal {
    pub fn new(pepper: &[u8], key_encryption_key: Option<&str>) -> anyhow::Result<Self> {
        Ok(Self {
            pepper: derive(pepper)?,
            kek: key_encryption_key
                .map(|k| derive(k.as_bytes()))
                .transpose()?,
        })
    }

    /// `marker || nonce || ciphertext || tag`, bound to `user_id`.
    pub fn seal(&self, user_id: &str, secret: &TotpSecret) -> anyhow::Result<Vec<u8>> {
        let (marker, key) = match &self.kek {
            Some(kek) => (BY_KEK, kek),
            None => (BY_PEPPER, &self.pepper),
        };
        let mut nonce = [0u8; NONCE_LEN];
        fill(&mut nonce)?;
        let mut out = secret.0.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(user_id.as_bytes()),
            &mut out,
        )
        .map_err(|_| anyhow!("sealing a TOTP secret failed"))?;
        let mut sealed = vec![marker];
        sealed.extend_from_slice(&nonce);
        sealed.extend(out);
        Ok(sealed)
    }

    pub fn open(&self, user_id: &str, sealed: &[u8]) -> anyhow::Result<TotpSecret> {
        let Some((&marker, rest)) = sealed.split_first() else {
            return Err(anyhow!("a sealed TOTP secret is empty"));
        };
        let key = match (marker, &self.kek) {
            (BY_PEPPER, _) => &self.pepper,
            (BY_KEK, Some(kek)) => kek,
            (BY_KEK, None) => {
                return Err(anyhow!(
                    "a TOTP secret was sealed with TESSERA_KEY_ENCRYPTION_KEY, which is not set"
                ));
            }
            _ => return Err(anyhow!("a sealed TOTP secret has an unknown format")),
        };
        if rest.len() < NONCE_LEN {
            return Err(anyhow!("a sealed TOTP secret is truncated"));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
        let mut buf = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut buf)
            .map_err(|_| anyhow!("a TOTP secret cannot be opened (wrong key?)"))?;
        TotpSecret::from_bytes(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (8 digits there; the last 6 here).
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(time / STEP), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_matches_within_one_step_and_only_after_the_last_accepted() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_800_000_015;
        let step = now / STEP;
        let code = secret.code_at(step);
        assert_eq!(secret.matching_step(&code, now, 0), Some(step));
        assert_eq!(secret.matching_step(&code, now + STEP, 0), Some(step));
        assert_eq!(secret.matching_step(&code, now + 2 * STEP, 0), None);
        assert_eq!(secret.matching_step(&code, now, step), None, "replay");
        assert_eq!(secret.matching_step("12345", now, 0), None);
        assert_eq!(secret.matching_step("abcdef", now, 0), None);
    }

    #[test]
    fn sealed_secrets_open_only_for_their_person_and_survive_a_new_kek() {
        let pepper = b"pepper-pepper-pepper-pepper-pepper";
        let plain = FactorSeal::new(pepper, None).unwrap();
        let secret = TotpSecret::generate().unwrap();
        let sealed = plain.seal("u1", &secret).unwrap();
        assert!(!sealed.windows(20).any(|w| w == secret.0), "sealed");
        assert_eq!(plain.open("u1", &sealed).unwrap().0, secret.0);
        assert!(plain.open("u2", &sealed).is_err(), "bound to its person");
        let with_kek = FactorSeal::new(pepper, Some("a key encryption key of 32 chars!!")).unwrap();
        assert_eq!(with_kek.open("u1", &sealed).unwrap().0, secret.0);
        let by_kek = with_kek.seal("u1", &secret).unwrap();
        assert_eq!(by_kek[0], BY_KEK);
        assert!(plain.open("u1", &by_kek).is_err());
        assert_eq!(format!("{secret:?}"), "TotpSecret(..)");
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let uri = secret.uri("auth.example.com", "alice@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/auth%2Eexample%2Ecom:alice%40example%2Ecom?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=auth%2Eexample%2Ecom&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(secret.base32(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
    }
}
