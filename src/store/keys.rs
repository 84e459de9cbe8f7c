//! Persisted signing keys, sealed at rest when an encryption key is configured.

use anyhow::{Context, bail};
use sqlx::Row;

use super::Store;
use crate::keys::schedule::StoredKey;
use crate::keys::seal::Sealer;
use crate::keys::{Algorithm, KeyMaterial};

/// A key as listed by `tessera keys list`.
#[derive(Debug, serde::Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub encrypted: bool,
}

impl Store {
    /// Store a key; sealed when `sealer` is given.
    pub async fn insert_key(
        &self,
        key: &KeyMaterial,
        created_at: i64,
        activates_at: i64,
        sealer: Option<&Sealer>,
    ) -> anyhow::Result<()> {
        let stored = match sealer {
            Some(s) => s.seal(&key.kid, &key.private_der)?,
            None => key.private_der.clone(),
        };
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, encrypted) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(stored)
        .bind(created_at)
        .bind(activates_at)
        .bind(sealer.is_some())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Every stored key, opened. Plaintext keys are sealed in place when a
    /// sealer is configured, so turning encryption on needs no extra step.
    pub async fn signing_keys(&self, sealer: Option<&Sealer>) -> anyhow::Result<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_der, created_at, activates_at, encrypted FROM signing_keys",
        )
        .fetch_all(self.pool())
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            let kid: String = r.get("kid");
            let alg_name: String = r.get("alg");
            let alg = Algorithm::parse(&alg_name)
                .with_context(|| format!("key {kid} has unknown algorithm {alg_name}"))?;
            let stored: Vec<u8> = r.get("private_der");
            let der = match (r.get::<bool, _>("encrypted"), sealer) {
                (true, Some(s)) => s.open(&kid, &stored)?,
                (true, None) => {
                    bail!("the signing keys are encrypted: set TESSERA_KEY_ENCRYPTION_KEY")
                }
                (false, Some(s)) => {
                    self.seal_in_place(&kid, &s.seal(&kid, &stored)?).await?;
                    stored
                }
                (false, None) => stored,
            };
            keys.push(StoredKey {
                material: KeyMaterial::from_private_der(alg, der)?,
                created_at: r.get("created_at"),
                activates_at: r.get("activates_at"),
            });
        }
        Ok(keys)
    }

    async fn seal_in_place(&self, kid: &str, sealed: &[u8]) -> anyhow::Result<()> {
        sqlx::query("UPDATE signing_keys SET private_der = ?, encrypted = 1 WHERE kid = ?")
            .bind(sealed)
            .bind(kid)
            .execute(self.writer())
            .await?;
        tracing::info!(
            kid,
            "sealed a plaintext signing key with the key-encryption key"
        );
        Ok(())
    }

    pub async fn delete_key(&self, kid: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn list_keys(&self) -> anyhow::Result<Vec<KeySummary>> {
        let rows = sqlx::query(
            "SELECT kid, alg, created_at, activates_at, encrypted FROM signing_keys ORDER BY activates_at, created_at",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| KeySummary {
                kid: r.get("kid"),
                alg: r.get("alg"),
                created_at: r.get("created_at"),
                activates_at: r.get("activates_at"),
                encrypted: r.get("encrypted"),
            })
            .collect())
    }
}
