//! Persisted audit records.

use std::sync::{Arc, LazyLock};

use sqlx::Row;

use super::Store;
use crate::audit::chain::{GENESIS, Record, link};

impl Store {
    /// Append events (`(at, json)`) as one transaction, extending the chain
    /// from its current tip. `BEGIN IMMEDIATE` takes the write lock before
    /// reading the tip, so two writers (server and CLI) cannot fork the chain.
    /// Shared, so a retry reuses the batch instead of copying every event.
    pub async fn append_audit(&self, events: Arc<Vec<(i64, String)>>) -> Result<(), sqlx::Error> {
        self.write(events, |events, conn| Box::pin(append(conn, events)))
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

/// Rows per multi-row `INSERT`: a batch is written in chunks of these sizes,
/// so a handful of statements (each prepared once) serve any batch, in a few
/// round trips to the connection's thread instead of one per event.
const CHUNKS: [usize; 3] = [64, 8, 1];

/// Inside the batch's `BEGIN IMMEDIATE`, which took the write lock before the
/// tip is read.
async fn append(
    conn: &mut sqlx::SqliteConnection,
    events: &[(i64, String)],
) -> Result<(), sqlx::Error> {
    let tip: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (mut seq, mut prev) = tip.unwrap_or((0, GENESIS.to_vec()));
    let mut rest = events;
    while !rest.is_empty() {
        let size = CHUNKS.into_iter().find(|&n| n <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        let mut query = sqlx::query(insert_sql(size));
        for (at, event) in chunk {
            seq += 1;
            let hash = link(&prev, seq, *at, event);
            query = query
                .bind(seq)
                .bind(at)
                .bind(event)
                .bind(prev)
                .bind(hash.clone());
            prev = hash;
        }
        query.execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// The `INSERT` for `rows` rows (one of [`CHUNKS`]), built once.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: LazyLock<Vec<(usize, String)>> = LazyLock::new(|| {
        CHUNKS
            .iter()
            .map(|&n| {
                let values = vec!["(?, ?, ?, ?, ?)"; n].join(", ");
                (
                    n,
                    format!(
                        "INSERT INTO audit_log (seq, at, event, prev_hash, hash) VALUES {values}"
                    ),
                )
            })
            .collect()
    });
    SQL.iter()
        .find(|(n, _)| *n == rows)
        .map_or("", |(_, sql)| sql.as_str())
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
