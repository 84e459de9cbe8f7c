//! Which keys sign and which are published, at a given moment.
//!
//! A key is published from the moment it is stored; it signs from its
//! `activates_at` until the next key activates (its retirement), and stays
//! published until every token it could have signed has expired: retirement +
//! the longest access-token lifetime + a minute of clock leeway. A new key is
//! stored with `activates_at` at least one JWKS cache lifetime in the future,
//! so a resource server that cached the JWKS never meets a valid token signed
//! by a key it has not seen. Nothing here is stored that can be derived.

use bytes::Bytes;

use super::{KeyMaterial, Signer, jwks_document};

/// Allowance for resource servers' clocks running behind ours.
pub const LEEWAY: i64 = 60;

/// A key as stored, with its schedule.
#[derive(Debug)]
pub struct StoredKey {
    pub material: KeyMaterial,
    pub created_at: i64,
    pub activates_at: i64,
}

/// The keys' roles at one moment.
#[derive(Debug)]
pub struct Plan<'a> {
    pub signing: &'a StoredKey,
    pub published: Vec<&'a StoredKey>,
    /// Keys no token can need any more: safe to delete.
    pub spent: Vec<&'a StoredKey>,
    /// Pending keys (published, not yet signing).
    pub pending: Vec<&'a StoredKey>,
}

/// `keys` in any order. `None` if no key has activated yet.
pub fn plan(keys: &[StoredKey], now: i64, max_token_ttl: i64) -> Option<Plan<'_>> {
    let mut active: Vec<&StoredKey> = keys.iter().filter(|k| k.activates_at <= now).collect();
    // A stable sort of the store's order (keys created in the same second
    // stay in the order they were stored), so that every replica picks the
    // same signer, even of two first keys created at once on a new database.
    active.sort_by_key(|k| (k.activates_at, k.created_at));
    let signing = *active.last()?;
    let pending: Vec<&StoredKey> = keys.iter().filter(|k| k.activates_at > now).collect();
    let mut published = Vec::new();
    let mut spent = Vec::new();
    for (i, key) in active.iter().enumerate() {
        match active.get(i + 1) {
            Some(next) if now >= next.activates_at + max_token_ttl + LEEWAY => spent.push(*key),
            _ => published.push(*key),
        }
    }
    published.extend(pending.iter().copied());
    Some(Plan {
        signing,
        published,
        spent,
        pending,
    })
}

/// What the token path reads: the signer and the pre-rendered JWKS; and what
/// revocation and introspection verify our own tokens with.
pub struct KeyRing {
    pub signer: Signer,
    pub jwks: Bytes,
    /// The published kids, in JWKS order: with the signer's kid they decide
    /// the whole ring (a kid is the thumbprint of its key).
    published: Vec<String>,
    verifiers: Vec<(String, jsonwebtoken::Algorithm, jsonwebtoken::DecodingKey)>,
}

impl KeyRing {
    pub fn from_plan(plan: &Plan<'_>) -> anyhow::Result<Self> {
        let published: Vec<&KeyMaterial> = plan.published.iter().map(|k| &k.material).collect();
        let verifiers = plan
            .published
            .iter()
            .filter_map(|k| {
                let jwk: jsonwebtoken::jwk::Jwk =
                    serde_json::from_value(k.material.public_jwk.clone()).ok()?;
                let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
                Some((k.material.kid.clone(), k.material.alg.jwt(), key))
            })
            .collect();
        Ok(Self {
            signer: Signer::new(&plan.signing.material)?,
            jwks: Bytes::from(jwks_document(&published)),
            published: published.iter().map(|k| k.kid.clone()).collect(),
            verifiers,
        })
    }

    /// Whether `plan` would build this same ring, so a periodic reload that
    /// finds nothing new keeps it instead of parsing every key again.
    pub fn matches(&self, plan: &Plan<'_>) -> bool {
        self.signer.kid() == plan.signing.material.kid
            && self
                .published
                .iter()
                .eq(plan.published.iter().map(|k| &k.material.kid))
    }

    /// The verification key and algorithm of a published `kid`.
    pub fn verifier(
        &self,
        kid: &str,
    ) -> Option<(jsonwebtoken::Algorithm, &jsonwebtoken::DecodingKey)> {
        self.verifiers
            .iter()
            .find(|(k, _, _)| k == kid)
            .map(|(_, alg, key)| (*alg, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    fn key(created_at: i64, activates_at: i64) -> StoredKey {
        StoredKey {
            material: KeyMaterial::generate(Algorithm::EdDsa).unwrap(),
            created_at,
            activates_at,
        }
    }

    #[test]
    fn a_pending_key_is_published_before_it_signs() {
        let keys = vec![key(0, 0), key(1000, 1600)];
        let p = plan(&keys, 1200, 900).unwrap();
        assert_eq!(p.signing.material.kid, keys[0].material.kid);
        assert_eq!(p.published.len(), 2);
        assert_eq!(p.pending.len(), 1);
    }

    #[test]
    fn a_retired_key_stays_published_until_its_tokens_have_expired() {
        let keys = vec![key(0, 0), key(1000, 1600)];
        let p = plan(&keys, 1700, 900).unwrap();
        assert_eq!(
            p.signing.material.kid, keys[1].material.kid,
            "the new key signs once active"
        );
        assert_eq!(
            p.published.len(),
            2,
            "the old key still verifies tokens in flight"
        );
        let p = plan(&keys, 1600 + 900 + LEEWAY - 1, 900).unwrap();
        assert_eq!(p.published.len(), 2);
        let p = plan(&keys, 1600 + 900 + LEEWAY, 900).unwrap();
        assert_eq!(p.published.len(), 1);
        assert_eq!(p.spent.len(), 1);
        assert_eq!(p.spent[0].material.kid, keys[0].material.kid);
    }

    #[test]
    fn a_ring_matches_its_own_plan_until_a_key_is_added_or_activates() {
        let mut keys = vec![key(0, 0)];
        let ring = KeyRing::from_plan(&plan(&keys, 100, 900).unwrap()).unwrap();
        assert!(ring.matches(&plan(&keys, 200, 900).unwrap()));
        keys.push(key(300, 1000));
        assert!(
            !ring.matches(&plan(&keys, 400, 900).unwrap()),
            "a pending key is published"
        );
        let pending = KeyRing::from_plan(&plan(&keys, 400, 900).unwrap()).unwrap();
        assert!(pending.matches(&plan(&keys, 500, 900).unwrap()));
        assert!(
            !pending.matches(&plan(&keys, 1000, 900).unwrap()),
            "the pending key starts signing"
        );
    }

    #[test]
    fn nothing_signs_before_the_first_key_activates() {
        assert!(plan(&[key(0, 10)], 5, 900).is_none());
    }
}
