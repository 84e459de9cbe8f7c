//! The change feed's SQL.

use rusqlite::params;

use super::Sqlite;
use crate::store::Result;

impl Sqlite {
    pub async fn note_change(&self, kind: &'static str, key: &str) -> Result<()> {
        self.write((kind, key.to_owned()), |(kind, key), conn| {
            conn.prepare_cached("INSERT INTO changes (kind, key) VALUES (?, ?)")?
                .execute(params![kind, key])
                .map(|_| ())
        })
        .await
    }

    pub async fn changes_after(&self, seq: i64) -> Result<Vec<(i64, String, String)>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT seq, kind, key FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000",
            )?
            .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })
    }

    pub async fn last_change(&self) -> Result<i64> {
        self.read(|conn| {
            conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?
                .query_row([], |r| r.get(0))
        })
    }
}
