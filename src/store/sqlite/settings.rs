//! Settings' SQL.

use rusqlite::OptionalExtension;

use super::Sqlite;
use crate::store::Result;

impl Sqlite {
    pub async fn generated_setting(&self, name: &'static str, candidate: &[u8]) -> Result<Vec<u8>> {
        self.write((name, candidate.to_vec()), |(name, fresh), conn| {
            conn.prepare_cached("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")?
                .execute(rusqlite::params![name, fresh])?;
            conn.prepare_cached("SELECT value FROM settings WHERE name = ?")?
                .query_row([name], |r| r.get(0))
        })
        .await
    }

    pub async fn setting(&self, name: &'static str) -> Result<Option<Vec<u8>>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE name = ?")?
                .query_row([name], |r| r.get(0))
                .optional()
        })
    }
}
