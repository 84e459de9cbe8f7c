//! Persisted audit records, and their pruning by retention: the oldest
//! records go as a prefix of the chain, and `audit_anchor` keeps the hash the
//! first remaining record links to.

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
    // With every record pruned, the chain continues from the anchor.
    let tip = match tip {
        Some(tip) => Some(tip),
        None => anchor(conn)?,
    };
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

/// Records pruned from the front of the chain by one call of
/// [`Store::prune_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    /// The last pruned record: the chain now starts after it.
    pub through_seq: i64,
}

/// Records deleted per transaction: each step holds the write lock (and the
/// group-committed batch it runs in) for milliseconds, not for a whole
/// backlog of months.
const PRUNE_STEP: i64 = 5_000;

impl Store {
    /// Delete the oldest records, those from before `before` (unix seconds),
    /// as a prefix of the chain: pruning stops at the first record that is
    /// not old enough, even if later ones are. The anchor moves to the last
    /// record deleted, in the same transaction, so the rest still verifies.
    /// `None` when nothing was old enough.
    pub async fn prune_audit(&self, before: i64, now: i64) -> Result<Option<Pruned>, sqlx::Error> {
        let mut total: Option<Pruned> = None;
        loop {
            let step = self.write((before, now), prune_step).await?;
            let Some(step) = step else { break };
            total = Some(Pruned {
                records: total.map_or(0, |t| t.records) + step.records,
                through_seq: step.through_seq,
            });
            if step.records < PRUNE_STEP as u64 {
                break;
            }
        }
        Ok(total)
    }

    /// The anchor the retained chain starts from (`None`: never pruned, the
    /// chain starts at the genesis hash).
    pub async fn audit_anchor(&self) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
        self.read(anchor)
    }
}

fn anchor(conn: &rusqlite::Connection) -> rusqlite::Result<Option<(i64, Vec<u8>)>> {
    conn.prepare_cached("SELECT seq, hash FROM audit_anchor WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// One transaction of [`Store::prune_audit`]: up to [`PRUNE_STEP`] records.
fn prune_step(
    &(before, now): &(i64, i64),
    conn: &rusqlite::Connection,
) -> rusqlite::Result<Option<Pruned>> {
    // The oldest records in chain order; the prefix ends at the first one
    // that is recent enough (times may interleave slightly across batches).
    let mut oldest = conn.prepare_cached("SELECT seq, at FROM audit_log ORDER BY seq LIMIT ?")?;
    let mut rows = oldest.query([PRUNE_STEP])?;
    let mut last: Option<i64> = None;
    let mut records = 0u64;
    while let Some(row) = rows.next()? {
        if row.get::<_, i64>(1)? >= before {
            break;
        }
        last = Some(row.get(0)?);
        records += 1;
    }
    drop(rows);
    let Some(through_seq) = last else {
        return Ok(None);
    };
    let hash: Vec<u8> = conn
        .prepare_cached("SELECT hash FROM audit_log WHERE seq = ?")?
        .query_row([through_seq], |r| r.get(0))?;
    conn.prepare_cached("DELETE FROM audit_log WHERE seq <= ?")?
        .execute([through_seq])?;
    conn.prepare_cached(
        "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at",
    )?
    .execute(params![through_seq, hash, now])?;
    Ok(Some(Pruned {
        records,
        through_seq,
    }))
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
