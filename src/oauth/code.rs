//! Redeeming an authorization code (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3,
//! RFC 7636 §4.6): what the token request must prove of the code it
//! presents. The code itself is bound to its client by the store, which
//! finds a code only for the client it was issued to.

use crate::error::{Error, Result};
use crate::oauth::pkce;

/// What a code was issued for, as stored with it.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The S256 challenge of the authorization request.
    pub code_challenge: &'a str,
    /// The redirect URI the code was sent to.
    pub redirect_uri: &'a str,
    /// Whether the authorization request named it (then the token request
    /// must repeat it).
    pub redirect_uri_sent: bool,
}

/// Check the token request's `code_verifier` and `redirect_uri` against the
/// code's binding.
pub fn check(bound: &Binding<'_>, code_verifier: &str, redirect_uri: Option<&str>) -> Result<()> {
    if !pkce::verify(code_verifier, bound.code_challenge) {
        return Err(Error::invalid_grant(
            "the code_verifier does not match the code_challenge",
        ));
    }
    match redirect_uri {
        Some(uri) if uri != bound.redirect_uri => Err(Error::invalid_grant(
            "redirect_uri differs from the one in the authorization request",
        )),
        None if bound.redirect_uri_sent => Err(Error::invalid_request(
            "redirect_uri is required: the authorization request included it",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CALLBACK: &str = "http://127.0.0.1:5555/cb";

    #[test]
    fn a_redemption_must_prove_the_verifier_and_repeat_the_redirect_uri() {
        // (verifier, redirect_uri sent now, sent in the authorization request, outcome)
        let cases: [(&str, Option<&str>, bool, Option<ErrorCode>); 7] = [
            (VERIFIER, Some(CALLBACK), true, None),
            (VERIFIER, None, false, None),
            (VERIFIER, Some(CALLBACK), false, None),
            (VERIFIER, None, true, Some(ErrorCode::InvalidRequest)),
            (
                VERIFIER,
                Some("http://127.0.0.1:5555/other"),
                true,
                Some(ErrorCode::InvalidGrant),
            ),
            (
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
                Some(CALLBACK),
                true,
                Some(ErrorCode::InvalidGrant),
            ),
            ("short", Some(CALLBACK), true, Some(ErrorCode::InvalidGrant)),
        ];
        for (verifier, redirect, sent, outcome) in cases {
            let bound = Binding {
                code_challenge: CHALLENGE,
                redirect_uri: CALLBACK,
                redirect_uri_sent: sent,
            };
            let got = check(&bound, verifier, redirect).err().map(|e| e.code);
            assert_eq!(got, outcome, "{verifier} {redirect:?} {sent}");
        }
    }
}
