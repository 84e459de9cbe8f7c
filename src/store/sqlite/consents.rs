//! Consents' SQL.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::consents::Consent;

impl Sqlite {
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT scope FROM consents WHERE user_id = ? AND client_id = ?")?
                .query_row([user_id, client_id], |r| r.get(0))
                .optional()
        })
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        let row = (
            user_id.to_owned(),
            client_id.to_owned(),
            scope.to_owned(),
            now,
        );
        self.write(row, |r, conn| {
            conn.prepare_cached(
                "INSERT INTO consents (user_id, client_id, scope, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![r.0, r.1, r.2, r.3])
            .map(|_| ())
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
                "SELECT client_id, scope, updated_at FROM consents WHERE user_id = ? ORDER BY updated_at DESC",
            )?
            .query_map([user_id], |r| {
                Ok(Consent {
                    client_id: r.get(0)?,
                    scope: r.get(1)?,
                    updated_at: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }
}
