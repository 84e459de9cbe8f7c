//! Client identifiers, client secrets and their keyed hash; the audit
//! chain's MAC.
//!
//! Secrets are 256 random bits, base64url (unreserved characters only, so
//! Basic authentication decodes the same whether or not the client
//! form-encodes them, RFC 6749 §2.3.1). Only HMAC-SHA-256(pepper, secret) is
//! stored; verification is ring's constant-time `hmac::verify`. A slow KDF is
//! pointless for 256-bit random secrets and would cost the token endpoint
//! dearly, so argon2 is kept for human passwords.
//!
//! Refresh tokens and authorization codes are [`ordered_token`]s: their stored
//! key starts with their creation time, so the hot indexes grow at one end.

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
    fill_random(&mut buf)?;
    Ok(B64.encode(&buf))
}

/// `N` random bytes from the OS generator.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// Fill `buf` from the OS generator (ring's `SystemRandom`).
pub(crate) fn fill_random(buf: &mut [u8]) -> anyhow::Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))
}

/// Bytes of an ordered token's time prefix: milliseconds since 1970, 48 bits
/// (good until the year 10889), which base64url spells in exactly 8 characters.
const TIME_BYTES: usize = 6;
const TIME_CHARS: usize = 8;
/// Length of an ordered token: the time prefix, then 256 random bits (43 characters).
const ORDERED_LEN: usize = TIME_CHARS + 43;

/// A new refresh token or authorization code: 256 random bits behind the
/// time it was made. The secret is the random part; the prefix only makes the
/// stored key ([`SecretHasher::token_key`]) sort by creation time, so a new
/// row lands at the end of its index instead of on a random page of it (in a
/// large table, a random page is a cache miss and one more page written in
/// every commit). It tells the holder when the token was made, which
/// `iat`-like metadata already does.
pub fn ordered_token(now_millis: i64) -> anyhow::Result<String> {
    ordered(now_millis, [0u8; TIME_BYTES + 32])
}

/// `buf` filled with the 48-bit time prefix and random bytes, base64url.
fn ordered<const N: usize>(now_millis: i64, mut buf: [u8; N]) -> anyhow::Result<String> {
    let ms = u64::try_from(now_millis).unwrap_or(0);
    buf[..TIME_BYTES].copy_from_slice(&ms.to_be_bytes()[8 - TIME_BYTES..]);
    fill_random(&mut buf[TIME_BYTES..])?;
    Ok(B64.encode(buf))
}

/// A new client identifier (30 characters): the time prefix of an
/// [`ordered_token`] for `now` (seconds), then 128 random bits. Ids made
/// within minutes of each other share their first characters, so a
/// registration adds its row next to the other recent ones in the clients'
/// primary-key index instead of on a random page of it (base64url is not in
/// ASCII order, so the cluster moves now and then; it stays one cluster). The
/// prefix tells only what `client_id_issued_at` already says (RFC 7591
/// §3.2.1). Never an `https://` URL, so it cannot collide with Client ID
/// Metadata Document identifiers; its first character, the top 6 bits of the
/// time, is `A` until 2109 and never the `-` a command line would read as an
/// option before the year 10000.
pub fn new_client_id(now: i64) -> anyhow::Result<String> {
    ordered(now.saturating_mul(1000), [0u8; TIME_BYTES + 16])
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

    /// The stored key of a refresh token or authorization code: the time
    /// prefix of an [`ordered_token`], then the keyed hash of the whole token.
    /// Tokens made before ordered tokens existed (43 characters) have no
    /// prefix and keep their old key, the hash alone, so they still resolve.
    /// The key is looked up by equality: knowing the prefix, which the token
    /// itself shows, does not help to forge the hash behind it.
    pub fn token_key(&self, token: &str) -> Vec<u8> {
        let tag = hmac::sign(&self.key, token.as_bytes());
        let mut key = Vec::with_capacity(TIME_BYTES + tag.as_ref().len());
        if token.len() == ORDERED_LEN {
            let mut prefix = [0u8; TIME_BYTES];
            let time = &token.as_bytes()[..TIME_CHARS];
            if matches!(B64.decode_slice(time, &mut prefix), Ok(TIME_BYTES)) {
                key.extend_from_slice(&prefix);
            }
        }
        key.extend_from_slice(tag.as_ref());
        key
    }

    /// Constant-time comparison of `secret` against a stored tag.
    pub fn verify(&self, secret: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), stored).is_ok()
    }
}

/// The audit chain's MAC (`store::chain::ChainKey`): HMAC-SHA-256 under the
/// chain key.
pub fn audit_chain_mac(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    move |input| hmac::sign(&key, input).as_ref().to_vec()
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
    fn ordered_token_keys_sort_by_creation_time() {
        let h = SecretHasher::new(b"pepper-pepper-pepper-pepper-pepper");
        let first = ordered_token(1_800_000_000_000).unwrap();
        let second = ordered_token(1_800_000_000_001).unwrap();
        assert_eq!(first.len(), 51);
        assert!(
            first
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let (a, b) = (h.token_key(&first), h.token_key(&second));
        assert_eq!(a.len(), 38, "6-byte time prefix + 32-byte keyed hash");
        assert!(a < b, "a later token's key sorts after an earlier one's");
        assert_eq!(&a[6..], h.hash(&first).as_slice());
        let twin = ordered_token(1_800_000_000_000).unwrap();
        assert_ne!(first, twin, "same millisecond, different secret");
        assert_ne!(a, h.token_key(&twin));
        assert!(b > h.token_key(&twin));
    }

    #[test]
    fn legacy_and_malformed_tokens_key_by_their_hash_alone() {
        let h = SecretHasher::new(b"pepper-pepper-pepper-pepper-pepper");
        let legacy = random_token(32).unwrap();
        assert_eq!(h.token_key(&legacy), h.hash(&legacy));
        // 51 bytes that are not base64url (and would split a character if sliced as a str).
        let odd = format!("é{}", "x".repeat(49));
        assert_eq!(odd.len(), 51);
        assert_eq!(h.token_key(&odd), h.hash(&odd));
    }

    #[test]
    fn client_ids_made_close_together_share_their_first_characters() {
        let a = new_client_id(1_800_000_000).unwrap();
        let b = new_client_id(1_800_000_001).unwrap();
        assert_ne!(a, b);
        assert_eq!(a[..5], b[..5], "{a} {b}");
        assert_ne!(a[8..], b[8..], "the random part differs");
    }

    #[test]
    fn identifiers_use_unreserved_characters_only() {
        for _ in 0..200 {
            let id = new_client_id(1_800_000_000).unwrap();
            assert_eq!(id.len(), 30, "48-bit time prefix + 128 random bits");
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
