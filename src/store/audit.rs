//! Persisted audit records.

use sqlx::Row;

use super::Store;
use crate::audit::chain::{GENESIS, Record, link};

impl Store {
    /// Append events (`(at, json)`) as one transaction, extending the chain
    /// from its current tip. `BEGIN IMMEDIATE` takes the write lock before
    /// reading the tip, so two writers (server and CLI) cannot fork the chain.
    pub async fn append_audit(&self, events: &[(i64, String)]) -> Result<(), sqlx::Error> {
        let events = events.to_vec();
        self.on_writer(move |pool| async move { append(&pool, &events).await })
            .await?;
        self.durable().await
    }

    /// Records from `since` (unix seconds) on, oldest first, at most `limit`.
    pub async fn audit_since(&self, since: i64, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE at >= ? ORDER BY seq LIMIT ?",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(record).collect())
    }

    /// The newest `n` records, oldest first.
    pub async fn audit_tail(&self, n: i64) -> Result<Vec<Record>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT seq, at, event, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?) \
             ORDER BY seq",
        )
        .bind(n)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(record).collect())
    }

    /// Every record in chain order, in pages (for verification).
    pub async fn audit_page(&self, after_seq: i64, page: i64) -> Result<Vec<Record>, sqlx::Error> {
        let rows = sqlx::query("SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(page)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(record).collect())
    }
}

async fn append(pool: &sqlx::SqlitePool, events: &[(i64, String)]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let tip: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (mut seq, mut prev) = tip.unwrap_or((0, GENESIS.to_vec()));
    for (at, event) in events {
        seq += 1;
        let hash = link(&prev, seq, *at, event);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, event, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(at)
        .bind(event)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        prev = hash;
    }
    tx.commit().await
}

fn record(r: &sqlx::sqlite::SqliteRow) -> Record {
    Record {
        seq: r.get("seq"),
        at: r.get("at"),
        event: r.get("event"),
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}
