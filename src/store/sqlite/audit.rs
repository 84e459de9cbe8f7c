//! The audit trail's SQL: appending to the chain inside the writer's batch
//! (keyed: `store::chain`), reading it back, pruning a prefix.

use rusqlite::{Connection, OptionalExtension, params};

use super::Sqlite;
use crate::store::Result;
use crate::store::audit::Pruned;
use crate::store::chain::{ChainKey, GENESIS, KEYED_FROM, Linker, Record, seq_bytes, seq_of};

/// Inside the batch's `BEGIN IMMEDIATE`, which took the write lock before the
/// tip is read, so two writers (server and CLI) cannot fork the chain. The
/// first records a keyed build appends mark where keying starts.
pub(super) fn append(
    conn: &Connection,
    key: Option<&ChainKey>,
    records: &[(i64, &str)],
) -> rusqlite::Result<()> {
    let Some(key) = key else {
        return Err(rusqlite::Error::InvalidParameterName(
            "the audit chain key is not loaded".into(),
        ));
    };
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
    let linker = Linker {
        key: key.clone(),
        keyed_from: keyed_from(conn, seq + 1)?,
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, event, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
    )?;
    for (at, event) in records {
        seq += 1;
        let hash = linker.link(&prev, seq, *at, event);
        insert.execute(params![seq, at, event, prev, hash])?;
        prev = hash;
    }
    Ok(())
}

/// The first keyed record's `seq`; `next` (the record about to be
/// appended) when no record was keyed yet.
fn keyed_from(conn: &Connection, next: i64) -> rusqlite::Result<i64> {
    let stored: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM settings WHERE name = ?")?
        .query_row([KEYED_FROM], |r| r.get(0))
        .optional()?;
    if let Some(seq) = stored.as_deref().and_then(seq_of) {
        return Ok(seq);
    }
    conn.prepare_cached("INSERT INTO settings (name, value) VALUES (?, ?)")?
        .execute(params![KEYED_FROM, seq_bytes(next)])?;
    Ok(next)
}

fn anchor(conn: &Connection) -> rusqlite::Result<Option<(i64, Vec<u8>)>> {
    conn.prepare_cached("SELECT seq, hash FROM audit_anchor WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

fn records(
    conn: &Connection,
    sql: &str,
    bind: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Record>> {
    conn.prepare(sql)?
        .query_map(bind, |r| {
            Ok(Record {
                seq: r.get(0)?,
                at: r.get(1)?,
                event: r.get(2)?,
                prev_hash: r.get(3)?,
                hash: r.get(4)?,
            })
        })?
        .collect()
}

/// Records deleted per transaction: each step holds the write lock (and the
/// batch it runs in) for milliseconds, not for a whole backlog of months.
const PRUNE_STEP: i64 = 5_000;

impl Sqlite {
    pub async fn audit_since(&self, since: i64, limit: i64) -> Result<Vec<Record>> {
        self.scan(move |conn| {
            records(
                conn,
                "SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE at >= ? ORDER BY seq LIMIT ?",
                [since, limit],
            )
        })
        .await
    }

    /// Records: the span of `seq` (the chain has no gaps; pruning removes a
    /// prefix). Bytes: the newest 1,000 records' average size (their columns,
    /// and the `at` index entry and row overhead, about 24 bytes) times the
    /// records.
    pub async fn audit_size(&self) -> Result<crate::store::audit::AuditSize> {
        self.scan(|conn| {
            let records: i64 = conn.query_row(
                "SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM audit_log",
                [],
                |r| r.get(0),
            )?;
            let average: f64 = conn.query_row(
                "SELECT COALESCE(AVG(length(CAST(event AS BLOB)) + length(prev_hash) + length(hash) + 40), 0) \
                 FROM (SELECT event, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT 1000)",
                [],
                |r| r.get(0),
            )?;
            Ok(crate::store::audit::AuditSize {
                records,
                bytes: (average * records as f64) as i64,
            })
        })
        .await
    }

    pub async fn audit_time_of(&self, offset: i64) -> Result<Option<i64>> {
        self.scan(move |conn| {
            conn.query_row(
                "SELECT at FROM audit_log WHERE seq >= (SELECT MIN(seq) FROM audit_log) + ? \
                 ORDER BY seq LIMIT 1",
                [offset],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    pub async fn audit_tail(&self, n: i64) -> Result<Vec<Record>> {
        self.scan(move |conn| {
            records(
                conn,
                "SELECT * FROM (SELECT seq, at, event, prev_hash, hash FROM audit_log \
                 ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                [n],
            )
        })
        .await
    }

    pub async fn audit_page(&self, after_seq: i64, page: i64) -> Result<Vec<Record>> {
        self.scan(move |conn| {
            records(
                conn,
                "SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                [after_seq, page],
            )
        })
        .await
    }

    pub async fn audit_anchor(&self) -> Result<Option<(i64, Vec<u8>)>> {
        self.read(anchor)
    }

    pub async fn prune_audit(&self, before: i64, now: i64) -> Result<Option<Pruned>> {
        let mut total: Option<Pruned> = None;
        loop {
            let Some(step) = self.write((before, now), prune_step).await? else {
                break;
            };
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
}

/// One transaction of [`Sqlite::prune_audit`]: up to [`PRUNE_STEP`] records.
fn prune_step(&(before, now): &(i64, i64), conn: &Connection) -> rusqlite::Result<Option<Pruned>> {
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
