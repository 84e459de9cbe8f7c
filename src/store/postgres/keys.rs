//! Signing keys' SQL.

use sqlx::Row;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::keys::{KeyRow, KeySummary};

impl Postgres {
    pub async fn insert_key(&self, k: KeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, encrypted) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_der)
        .bind(k.created_at)
        .bind(k.activates_at)
        .bind(k.encrypted)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map(|_| ())
        .map_err(database)
    }

    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_der, created_at, activates_at, encrypted FROM signing_keys \
             ORDER BY activates_at, created_at, seq",
        )
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|r| {
                Ok(KeyRow {
                    kid: r.try_get(0)?,
                    alg: r.try_get(1)?,
                    private_der: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    activates_at: r.try_get(4)?,
                    encrypted: r.try_get(5)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }

    pub async fn seal_key(&self, kid: &str, sealed: Vec<u8>) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET private_der = $1, encrypted = TRUE WHERE kid = $2")
            .bind(sealed)
            .bind(kid)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    pub async fn delete_key(&self, kid: &str) -> Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    pub async fn list_keys(&self) -> Result<Vec<KeySummary>> {
        let rows = sqlx::query(
            "SELECT kid, alg, created_at, activates_at, encrypted FROM signing_keys ORDER BY activates_at, created_at, seq",
        )
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|r| {
                Ok(KeySummary {
                    kid: r.try_get(0)?,
                    alg: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    activates_at: r.try_get(3)?,
                    encrypted: r.try_get(4)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }
}
