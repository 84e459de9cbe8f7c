//! JWT assertions presented to Tessera (RFC 7521, RFC 7523): a client's
//! `private_key_jwt` authentication (§2.2) and an identity provider's ID-JAG
//! (§2.1, SEP-990). This module verifies a signature with the right public
//! keys ([`verify`]: algorithm allowlist, key choice), fetches and caches the
//! keys published at a URL ([`remote`]), and names an assertion in the
//! shared replay cache ([`replay_key`]). What the claims must say is
//! `oauth::assertion`'s and `oauth::id_jag`'s, which are pure.

pub mod remote;
pub mod verify;

use std::sync::Arc;

use serde_json::Value;

/// Where the keys that verify an assertion are.
pub enum KeySource<'a> {
    /// A key set held by value (a client's registered `jwks`).
    Inline(Arc<Value>),
    /// A key set published at a URL; `allow_loopback` lets it be on a
    /// loopback address (for an operator's URL, or in development).
    Remote { url: &'a str, allow_loopback: bool },
}

/// An assertion whose signature verified: its header's `typ` and its claims.
pub struct Verified {
    pub typ: Option<String>,
    pub claims: Value,
}

/// The issuer's verifier, with its cache of published key sets.
#[derive(Default)]
pub struct Assertions {
    remote: remote::RemoteKeys,
}

impl Assertions {
    /// Verify `jwt`'s signature with a key from `source`. The error says why,
    /// for the caller's error description.
    pub async fn verify(&self, jwt: &str, source: KeySource<'_>) -> Result<Verified, String> {
        let header = verify::header(jwt)?;
        let set = match source {
            KeySource::Inline(set) => set,
            KeySource::Remote {
                url,
                allow_loopback,
            } => {
                self.remote
                    .get(url, header.kid.as_deref(), allow_loopback)
                    .await?
            }
        };
        let key = verify::select(&set, &header)?;
        let claims = verify::signature(jwt, &header, key)?;
        Ok(Verified {
            typ: header.typ,
            claims,
        })
    }
}

/// The replay cache's key for the assertion `jti` of `issuer` (a client id or
/// an identity provider), of the `kind` given: a digest, so the row is
/// bounded and says nothing by itself.
pub fn replay_key(kind: &str, issuer: &str, jti: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [kind, issuer, jti] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A claim of `jwt` read without verifying it: only to find out which
/// client or issuer claims to have signed it, whose keys then verify it.
pub fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    use base64::Engine;
    if jwt.len() > verify::MAX_ASSERTION_BYTES {
        return None;
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keys_separate_kinds_issuers_and_jtis() {
        let k = replay_key("client", "a", "b");
        assert_eq!(k.len(), 64);
        assert_ne!(k, replay_key("idp", "a", "b"));
        assert_ne!(k, replay_key("client", "ab", ""));
        assert_eq!(k, replay_key("client", "a", "b"));
    }
}
