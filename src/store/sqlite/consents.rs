//! Consents' SQL.

use rusqlite::params;

use super::Sqlite;
use crate::store::Result;
use crate::store::consents::{AtResource, Consent};

impl Sqlite {
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Vec<AtResource>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT resource, scope FROM consents WHERE user_id = ? AND client_id = ?",
            )?
            .query_map([user_id, client_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
        })
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        rows: Vec<AtResource>,
        now: i64,
    ) -> Result<()> {
        let job = (user_id.to_owned(), client_id.to_owned(), rows, now);
        self.write(job, |(user, client, rows, now), conn| {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO consents (user_id, client_id, resource, scope, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, \
                 updated_at = excluded.updated_at",
            )?;
            for (resource, scope) in rows {
                upsert.execute(params![user, client, resource, scope, now])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool> {
        self.write(
            (user_id.to_owned(), client_id.to_owned()),
            |(user, client), conn| {
                let gone = conn
                    .prepare_cached("DELETE FROM consents WHERE user_id = ? AND client_id = ?")?
                    .execute([user, client])?;
                conn.prepare_cached(
                    "DELETE FROM refresh_families WHERE user_id = ? AND client_id = ?",
                )?
                .execute([user, client])?;
                Ok(gone > 0)
            },
        )
        .await
    }

    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<Consent>> {
        let user_id = user_id.to_owned();
        self.scan(move |conn| {
            conn.prepare(
                "SELECT client_id, resource, scope, updated_at FROM consents WHERE user_id = ? \
                 ORDER BY updated_at DESC, client_id, resource",
            )?
            .query_map([user_id], |r| {
                Ok(Consent {
                    client_id: r.get(0)?,
                    resource: r.get(1)?,
                    scope: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }
}
