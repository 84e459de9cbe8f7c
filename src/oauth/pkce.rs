//! PKCE (RFC 7636; OAuth 2.1 §4.1.1, §7.5.2).
//!
//! Tessera requires `S256` from every client: `plain` and a missing challenge
//! are refused at the authorization endpoint, so the downgrade of RFC 9700
//! §2.1.1 cannot happen. The verifier is 43–128 unreserved characters (§4.1);
//! the check is `BASE64URL(SHA256(verifier)) == challenge`, compared in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Is `c` a valid S256 challenge: 43 base64url characters (a SHA-256 digest)?
pub fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`, 43–128 long.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge for a verifier.
pub fn s256(verifier: &str) -> String {
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Does `verifier` answer `challenge`?
pub fn verify(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let computed = s256(verifier);
    // Constant-time: compare HMACs of both under a throwaway key.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"pkce-compare");
    let tag = ring::hmac::sign(&key, computed.as_bytes());
    ring::hmac::verify(&key, challenge.as_bytes(), tag.as_ref()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(verify(verifier, challenge));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
    }

    #[test]
    fn verifiers_and_challenges_must_have_the_rfc_shape() {
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}!", "a".repeat(43))));
        assert!(valid_verifier(&"a~._-".repeat(9)));
        assert!(!valid_challenge("plain-challenge"));
        assert!(valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
