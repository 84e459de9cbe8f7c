//! Persisted signing keys.

use sqlx::Row;

use super::Store;
use crate::keys::{Algorithm, KeyMaterial};

/// A key as listed by `tessera keys list`.
#[derive(Debug, serde::Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
}

impl Store {
    /// The newest key of `alg`, if any.
    pub async fn newest_key(&self, alg: Algorithm) -> anyhow::Result<Option<KeyMaterial>> {
        let row = sqlx::query(
            "SELECT private_der FROM signing_keys WHERE alg = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(alg.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| KeyMaterial::from_private_der(alg, r.get("private_der")))
            .transpose()
    }

    pub async fn insert_key(&self, key: &KeyMaterial, now: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_der)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_keys(&self) -> anyhow::Result<Vec<KeySummary>> {
        let rows =
            sqlx::query("SELECT kid, alg, created_at FROM signing_keys ORDER BY created_at, rowid")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| KeySummary {
                kid: r.get("kid"),
                alg: r.get("alg"),
                created_at: r.get("created_at"),
            })
            .collect())
    }
}

impl Store {
    /// Every stored key, oldest first: all are published in the JWKS so tokens
    /// signed before an algorithm change still verify.
    pub async fn all_keys(&self) -> anyhow::Result<Vec<KeyMaterial>> {
        let rows =
            sqlx::query("SELECT alg, private_der FROM signing_keys ORDER BY created_at, rowid")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|r| {
                let alg_name: String = r.get("alg");
                let alg = Algorithm::parse(&alg_name).ok_or_else(|| {
                    anyhow::anyhow!("stored key has unknown algorithm {alg_name}")
                })?;
                KeyMaterial::from_private_der(alg, r.get("private_der"))
            })
            .collect()
    }
}
