//! Persisted audit records.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use sqlx::Row;

use super::Store;
use crate::audit::chain::{GENESIS, Record, link};

impl Store {
    /// Append events (`(at, json)`) as one transaction, extending the chain
    /// from its current tip. `BEGIN IMMEDIATE` takes the write lock before
    /// reading the tip, so two writers (server and CLI) cannot fork the chain.
    /// Shared, so a retry reuses the batch instead of copying every event.
    pub async fn append_audit(&self, events: Arc<Vec<(i64, String)>>) -> Result<(), sqlx::Error> {
        self.write(events, |events, conn| append(conn, events))
            .await
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

/// Inside the batch's `BEGIN IMMEDIATE`, which took the write lock before the
/// tip is read. One prepared `INSERT` per event: the writer runs statements
/// in its own thread, so a statement costs no round trip to batch away.
fn append(conn: &rusqlite::Connection, events: &[(i64, String)]) -> rusqlite::Result<()> {
    let tip: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (mut seq, mut prev) = tip.unwrap_or((0, GENESIS.to_vec()));
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, event, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
    )?;
    for (at, event) in events {
        seq += 1;
        let hash = link(&prev, seq, *at, event);
        insert.execute(params![seq, at, event, prev, hash])?;
        prev = hash;
    }
    Ok(())
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
