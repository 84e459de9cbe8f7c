//! Settings' SQL.

use super::Sqlite;
use crate::store::Result;

impl Sqlite {
    pub async fn client_secret_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>> {
        self.write(candidate.to_vec(), |fresh, conn| {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO settings (name, value) VALUES ('client_secret_pepper', ?)",
            )?
            .execute([fresh])?;
            conn.prepare_cached("SELECT value FROM settings WHERE name = 'client_secret_pepper'")?
                .query_row([], |r| r.get(0))
        })
        .await
    }
}
