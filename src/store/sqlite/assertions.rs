//! The assertion replay cache's SQL, and the ID-JAG grant's link lookup.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;

impl Sqlite {
    pub async fn spend_assertion(&self, key: &str, expires_at: i64, now: i64) -> Result<bool> {
        self.write(
            (key.to_owned(), expires_at, now),
            |(key, exp, now), conn| {
                conn.prepare_cached(
                    "INSERT INTO assertion_jtis (key, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE assertion_jtis.expires_at <= ?3",
                )?
                .execute(params![key, exp, now])
                .map(|n| n == 1)
            },
        )
        .await
    }

    pub async fn linked_person(&self, provider: &str, subject: &str) -> Result<Option<String>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT user_id FROM user_identities WHERE provider = ? AND subject = ?",
            )?
            .query_row(params![provider, subject], |r| r.get(0))
            .optional()
        })
    }
}
