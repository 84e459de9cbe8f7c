//! One encoding per ECDSA signature (the "low-S" rule, as in BIP 62 and
//! RFC 6979's users): for a signature (r, s), (r, n − s) verifies too, so a
//! token signed with ES256 or ES384 has two valid encodings, and anything that
//! keys on a token's bytes (a cache, a revocation list, a replay check) would
//! see two tokens. The kit refuses the high form (s > n/2), and the issuer
//! signs only the low one ([`normalize`]), so each token has one encoding.
//!
//! Signatures are JWS's fixed-size `r || s` (RFC 7518 §3.4), big-endian.

use jsonwebtoken::Algorithm;

/// The order n of the P-256 group (FIPS 186-4 D.1.2.3).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order n of the P-384 group (FIPS 186-4 D.1.2.4).
const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// The group order of an ECDSA algorithm (`None`: not ECDSA, nothing to check).
fn order(alg: Algorithm) -> Option<&'static [u8]> {
    match alg {
        Algorithm::ES256 => Some(&P256_ORDER),
        Algorithm::ES384 => Some(&P384_ORDER),
        _ => None,
    }
}

/// `a − b` for big-endian numbers of one length, `a ≥ b`.
fn minus(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + (borrow << 8)) as u8;
    }
    out
}

/// The `s` half of `signature`, with the order, if the signature is ECDSA of
/// the right size.
fn split(alg: Algorithm, signature: &[u8]) -> Option<(&'static [u8], usize)> {
    let n = order(alg)?;
    (signature.len() == 2 * n.len()).then_some((n, n.len()))
}

/// Whether an `alg` signature is in the refused form: ECDSA with s > n/2 (or
/// s ≥ n, never valid). Non-ECDSA signatures, and ECDSA ones of the wrong
/// size (which fail verification anyway), are not.
pub fn is_high_s(alg: Algorithm, signature: &[u8]) -> bool {
    let Some((n, half)) = split(alg, signature) else {
        return false;
    };
    let s = &signature[half..];
    // n is odd, so s > n/2 exactly when s > n − s.
    s >= n || s > minus(n, s).as_slice()
}

/// Turn an `alg` signature into its low-S form in place (s := n − s when
/// s > n/2): the signature the kit accepts, for the same key and message.
pub fn normalize(alg: Algorithm, signature: &mut [u8]) {
    if !is_high_s(alg, signature) {
        return;
    }
    let Some((n, half)) = split(alg, signature) else {
        return;
    };
    if signature[half..] < *n {
        let low = minus(n, &signature[half..]);
        signature[half..].copy_from_slice(&low);
    }
}

/// Refuse a compact JWS (`header.payload.signature`) whose `alg` signature
/// is high-S, before the signature itself is checked.
pub fn check_token(token: &str, alg: Algorithm) -> Result<(), String> {
    use base64::Engine;
    if order(alg).is_none() {
        return Ok(());
    }
    let encoded = token.rsplit('.').next().unwrap_or_default();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| "the token's signature is not base64url".to_owned())?;
    if is_high_s(alg, &signature) {
        return Err(
            "the token's ECDSA signature is in high-S form; only the low-S encoding is accepted"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_s(n: &[u8], s: &[u8]) -> Vec<u8> {
        let mut sig = vec![1u8; n.len()];
        sig.extend_from_slice(s);
        sig
    }

    #[test]
    fn s_above_half_the_order_is_high_and_normalizes_to_n_minus_s() {
        for n in [&P256_ORDER[..], &P384_ORDER[..]] {
            let alg = if n.len() == 32 {
                Algorithm::ES256
            } else {
                Algorithm::ES384
            };
            // n − 1 is high, 1 is low, and n − (n − 1) = 1.
            let mut one = vec![0u8; n.len()];
            *one.last_mut().unwrap() = 1;
            let mut sig = with_s(n, &minus(n, &one));
            assert!(is_high_s(alg, &sig));
            normalize(alg, &mut sig);
            assert_eq!(&sig[n.len()..], one.as_slice());
            assert!(!is_high_s(alg, &sig));
            // (n − 1)/2 is the largest low s; one more is high.
            let mut half = minus(n, &one);
            half.iter_mut().fold(0u8, |carry, b| {
                let next = *b & 1;
                *b = (*b >> 1) | (carry << 7);
                next
            });
            assert!(!is_high_s(alg, &with_s(n, &half)));
            let mut above = half.clone();
            *above.last_mut().unwrap() += 1;
            assert!(is_high_s(alg, &with_s(n, &above)));
            assert!(is_high_s(alg, &with_s(n, n)), "s = n is never valid");
        }
    }

    #[test]
    fn other_algorithms_and_sizes_are_left_alone() {
        let sig = vec![0xffu8; 64];
        assert!(!is_high_s(Algorithm::EdDSA, &sig));
        assert!(!is_high_s(Algorithm::RS256, &sig));
        assert!(!is_high_s(Algorithm::ES256, &sig[..63]));
        assert!(check_token("a.b.c", Algorithm::RS256).is_ok());
    }
}
