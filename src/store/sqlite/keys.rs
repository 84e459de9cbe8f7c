//! Signing keys' SQL.

use rusqlite::params;

use super::Sqlite;
use crate::store::Result;
use crate::store::keys::{KeyRow, KeySummary};

impl Sqlite {
    pub async fn insert_key(&self, key: KeyRow) -> Result<()> {
        self.write(key, |k, conn| {
            conn.prepare_cached(
                "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, encrypted) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![k.kid, k.alg, k.private_der, k.created_at, k.activates_at, k.encrypted])
            .map(|_| ())
        })
        .await
    }

    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>> {
        self.scan(|conn| {
            conn.prepare(
                "SELECT kid, alg, private_der, created_at, activates_at, encrypted FROM signing_keys \
                 ORDER BY activates_at, created_at, rowid",
            )?
            .query_map([], |r| {
                Ok(KeyRow {
                    kid: r.get(0)?,
                    alg: r.get(1)?,
                    private_der: r.get(2)?,
                    created_at: r.get(3)?,
                    activates_at: r.get(4)?,
                    encrypted: r.get(5)?,
                })
            })?
            .collect()
        })
        .await
    }

    pub async fn seal_key(&self, kid: &str, sealed: Vec<u8>) -> Result<()> {
        self.write((kid.to_owned(), sealed), |(kid, sealed), conn| {
            conn.prepare_cached(
                "UPDATE signing_keys SET private_der = ?, encrypted = 1 WHERE kid = ?",
            )?
            .execute(params![sealed, kid])
            .map(|_| ())
        })
        .await
    }

    pub async fn delete_key(&self, kid: &str) -> Result<()> {
        self.write(kid.to_owned(), |kid, conn| {
            conn.prepare_cached("DELETE FROM signing_keys WHERE kid = ?")?
                .execute([kid])
                .map(|_| ())
        })
        .await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeySummary>> {
        self.scan(|conn| {
            conn.prepare(
                "SELECT kid, alg, created_at, activates_at, encrypted FROM signing_keys \
                 ORDER BY activates_at, created_at, rowid",
            )?
            .query_map([], |r| {
                Ok(KeySummary {
                    kid: r.get(0)?,
                    alg: r.get(1)?,
                    created_at: r.get(2)?,
                    activates_at: r.get(3)?,
                    encrypted: r.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }
}
