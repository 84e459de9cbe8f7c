//! The life of signing keys: the first key, scheduled rotation (manual and
//! automatic), algorithm changes, reloading the key ring, and deleting keys no
//! token can need. The pure schedule lives in [`crate::keys::schedule`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::{ArcSwap, Guard};

use crate::keys::schedule::{KeyRing, StoredKey, plan};
use crate::keys::seal::Sealer;
use crate::keys::{Algorithm, KeyMaterial};
use crate::store::Store;
use crate::store::keys::KeyRow;

/// How keys are made and rotated (from the `[signing]` configuration).
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub algorithm: Algorithm,
    /// Seconds a new key is published before it signs.
    pub publish_lead: i64,
    /// Seconds a key signs before the next is scheduled (`None`: manual only).
    pub rotation_period: Option<i64>,
    /// The longest lifetime of an access token, in seconds: a retired key
    /// stays published that long.
    pub max_token_ttl: i64,
}

/// The issuer's signing keys: the ring in use, and how it changes.
pub struct SigningKeys {
    ring: ArcSwap<KeyRing>,
    sealer: Option<Sealer>,
    policy: KeyPolicy,
}

async fn generate(alg: Algorithm) -> anyhow::Result<KeyMaterial> {
    tokio::task::spawn_blocking(move || KeyMaterial::generate(alg))
        .await
        .context("key generation task failed")?
}

impl SigningKeys {
    /// Load the keys, creating the first one (active at once: nothing can have
    /// cached a key set yet) or scheduling a switch to a newly configured
    /// algorithm. `key_encryption_key` seals private keys at rest. A
    /// read-only store's keys are taken as they are: nothing is created or
    /// scheduled.
    pub async fn load(
        store: &Store,
        policy: KeyPolicy,
        key_encryption_key: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Self> {
        let sealer = key_encryption_key.map(Sealer::new).transpose()?;
        let mut stored = stored_keys(store, sealer.as_ref()).await?;
        let writable = !store.is_read_only();
        if stored.is_empty() && !writable {
            bail!("the database has no signing key yet: `tessera serve` creates the first one");
        }
        if stored.is_empty() {
            let key = generate(policy.algorithm).await?;
            insert(store, &key, now, now, sealer.as_ref()).await?;
            tracing::info!(kid = %key.kid, alg = key.alg.as_str(), "generated the first signing key");
            stored = stored_keys(store, sealer.as_ref()).await?;
        }
        let ring = build(&stored, now, policy.max_token_ttl)?;
        let keys = Self {
            ring: ArcSwap::from_pointee(ring),
            sealer,
            policy,
        };
        let newest = stored.iter().max_by_key(|k| (k.activates_at, k.created_at));
        if writable && newest.is_some_and(|k| k.material.alg != policy.algorithm) {
            let key = keys.rotate(store, now, false).await?;
            tracing::info!(kid = %key.kid, alg = key.alg.as_str(), "signing algorithm changed: new key scheduled");
        }
        Ok(keys)
    }

    /// The current signer and JWKS (a lock-free read).
    pub fn ring(&self) -> Guard<Arc<KeyRing>> {
        self.ring.load()
    }

    /// Rebuild the ring from the database (keys rotated by another process or
    /// activated since), and delete keys that no token can need any more.
    pub async fn reload(&self, store: &Store, now: i64) -> anyhow::Result<()> {
        let stored = stored_keys(store, self.sealer.as_ref()).await?;
        if let Some(p) = plan(&stored, now, self.policy.max_token_ttl) {
            for spent in &p.spent {
                store.delete_key(&spent.material.kid).await?;
                tracing::info!(kid = %spent.material.kid, "retired signing key removed from the key set");
            }
            if !self.ring.load().matches(&p) {
                self.ring.store(Arc::new(KeyRing::from_plan(&p)?));
            }
        }
        Ok(())
    }

    /// Store a new key that starts signing after the publish lead (or at once,
    /// for emergencies, when `immediately`), and reload.
    pub async fn rotate(
        &self,
        store: &Store,
        now: i64,
        immediately: bool,
    ) -> anyhow::Result<KeyMaterial> {
        let key = generate(self.policy.algorithm).await?;
        let activates_at = if immediately {
            now
        } else {
            now + self.policy.publish_lead
        };
        insert(store, &key, now, activates_at, self.sealer.as_ref()).await?;
        self.reload(store, now).await?;
        Ok(key)
    }

    /// Rotate when the signing key has served its period and nothing is
    /// pending; returns the key it scheduled, if any.
    pub async fn maintain(&self, store: &Store, now: i64) -> anyhow::Result<Option<KeyMaterial>> {
        if let Some(period) = self.policy.rotation_period {
            let stored = stored_keys(store, self.sealer.as_ref()).await?;
            let pending = stored.iter().any(|k| k.activates_at > now);
            let newest = stored.iter().map(|k| k.activates_at).max().unwrap_or(now);
            if !pending && now - newest >= period {
                return self.rotate(store, now, false).await.map(Some);
            }
        }
        self.reload(store, now).await?;
        Ok(None)
    }
}

/// Store a key; sealed when `sealer` is given.
async fn insert(
    store: &Store,
    key: &KeyMaterial,
    created_at: i64,
    activates_at: i64,
    sealer: Option<&Sealer>,
) -> anyhow::Result<()> {
    let private_der = match sealer {
        Some(s) => s.seal(&key.kid, &key.private_der)?,
        None => key.private_der.clone(),
    };
    store
        .insert_key(KeyRow {
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            private_der,
            created_at,
            activates_at,
            encrypted: sealer.is_some(),
        })
        .await?;
    Ok(())
}

/// Every stored key, opened. Plaintext keys are sealed in place when a
/// sealer is configured, so turning encryption on needs no extra step.
async fn stored_keys(store: &Store, sealer: Option<&Sealer>) -> anyhow::Result<Vec<StoredKey>> {
    let rows = store.signing_keys().await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let kid = row.kid;
        let alg = Algorithm::parse(&row.alg)
            .with_context(|| format!("key {kid} has unknown algorithm {}", row.alg))?;
        let der = match (row.encrypted, sealer) {
            (true, Some(s)) => s.open(&kid, &row.private_der)?,
            (true, None) => bail!("the signing keys are encrypted: set TESSERA_KEY_ENCRYPTION_KEY"),
            (false, Some(s)) => {
                store
                    .seal_key(&kid, s.seal(&kid, &row.private_der)?)
                    .await?;
                tracing::info!(
                    kid,
                    "sealed a plaintext signing key with the key-encryption key"
                );
                row.private_der
            }
            (false, None) => row.private_der,
        };
        keys.push(StoredKey {
            material: KeyMaterial::from_private_der(alg, der)?,
            created_at: row.created_at,
            activates_at: row.activates_at,
        });
    }
    Ok(keys)
}

fn build(stored: &[StoredKey], now: i64, max_ttl: i64) -> anyhow::Result<KeyRing> {
    let p = plan(stored, now, max_ttl).context("no signing key is active yet")?;
    KeyRing::from_plan(&p)
}

/// How often a running server looks for key changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);
