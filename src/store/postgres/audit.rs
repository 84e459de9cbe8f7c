//! The audit trail on PostgreSQL: records appended to the hash chain (keyed:
//! `store::chain`) in batches, each batch one transaction that first takes a transaction-scoped
//! advisory lock, so that however many replicas append at once the chain
//! never forks (each reads the tip only once it holds the lock).
//!
//! As on SQLite, records nobody waits for linger up to [`LINGER`] for company
//! (a transaction costs the same for one record as for hundreds), and a
//! durable record ends the wait: its caller hears back after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::{PgConnection, Row};
use tokio::sync::{Notify, mpsc, oneshot};

use super::pool::Pool;
use super::{Postgres, database};
use crate::store::audit::Pruned;
use crate::store::chain::{
    ChainKey, GENESIS, KEYED_FROM, KeySlot, Linker, Record, seq_bytes, seq_of,
};
use crate::store::{Error, Result};

/// The advisory lock every appender and pruner takes (an arbitrary constant,
/// the same in every replica).
const CHAIN_LOCK: i64 = 0x7e55_e2a0_a0d1_7001;
const MAX_BATCH: usize = 512;
const QUEUE: usize = 65_536;
const LINGER: Duration = Duration::from_millis(2);
/// Records deleted per transaction while pruning.
const PRUNE_STEP: i64 = 5_000;

struct Queued {
    at: i64,
    json: String,
    ack: Option<oneshot::Sender<bool>>,
}

enum Item {
    Record(Queued),
    Close(oneshot::Sender<()>),
}

/// The process's queue of records for the chain.
#[derive(Debug)]
pub struct Queue {
    items: mpsc::Sender<Item>,
    backlog: Arc<AtomicI64>,
    waiting: Arc<Notify>,
    /// The chain key, once loaded (`Store::key_audit_chain`).
    key: KeySlot,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit queue item")
    }
}

impl Queue {
    pub fn start(pool: Arc<Pool>) -> Self {
        let (items, rx) = mpsc::channel(QUEUE);
        let backlog = Arc::new(AtomicI64::new(0));
        let waiting = Arc::new(Notify::new());
        let key = KeySlot::default();
        tokio::spawn(run(pool, key.clone(), rx, backlog.clone(), waiting.clone()));
        Self {
            items,
            backlog,
            waiting,
            key,
        }
    }

    pub fn key(&self) -> &KeySlot {
        &self.key
    }

    pub async fn append(&self, at: i64, json: String, durable: bool) -> Result<()> {
        let item = |ack| Item::Record(Queued { at, json, ack });
        let failed = || Error::Unavailable("the audit record could not be written".into());
        let (items, backlog, waiting) = (&self.items, &self.backlog, &self.waiting);
        crate::store::audit::hand_over(items, backlog, waiting, durable, item, failed).await
    }

    pub fn backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }

    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.items.send(Item::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

async fn run(
    pool: Arc<Pool>,
    key: KeySlot,
    mut items: mpsc::Receiver<Item>,
    backlog: Arc<AtomicI64>,
    waiting: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while items.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if lingers(&batch) {
            linger(&mut items, &mut batch, &waiting).await;
        }
        let mut records = Vec::with_capacity(batch.len());
        let mut close = None;
        for item in batch.drain(..) {
            match item {
                Item::Record(r) => records.push(r),
                Item::Close(done) => close = Some(done),
            }
        }
        let committed = write(&pool, key.get(), &records).await;
        backlog.fetch_sub(records.len() as i64, Ordering::Relaxed);
        for r in records {
            if let Some(ack) = r.ack {
                let _ = ack.send(committed);
            }
        }
        if let Some(done) = close {
            items.close();
            let _ = done.send(());
            return;
        }
    }
}

/// Only records nobody waits for, and room for more.
fn lingers(batch: &[Item]) -> bool {
    batch.len() < MAX_BATCH
        && batch
            .iter()
            .all(|i| matches!(i, Item::Record(Queued { ack: None, .. })))
}

async fn linger(items: &mut mpsc::Receiver<Item>, batch: &mut Vec<Item>, waiting: &Notify) {
    let woken = waiting.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    if !take_queued(items, batch) {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(LINGER) => {}
        () = woken => {}
    }
    take_queued(items, batch);
}

fn take_queued(items: &mut mpsc::Receiver<Item>, batch: &mut Vec<Item>) -> bool {
    while batch.len() < MAX_BATCH {
        match items.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    lingers(batch)
}

/// Append `records` in one transaction, retried once if it failed at once
/// (a connection a database restart broke); `false` if they could not be
/// written. A failure that took its time is not retried: a request waits.
async fn write(pool: &Pool, key: Option<&ChainKey>, records: &[Queued]) -> bool {
    if records.is_empty() {
        return true;
    }
    let Some(key) = key else {
        tracing::error!(
            events = records.len(),
            "audit records could not be written: the audit chain key is not loaded"
        );
        return false;
    };
    let rows: Vec<(i64, &str)> = records.iter().map(|r| (r.at, r.json.as_str())).collect();
    let started = std::time::Instant::now();
    let mut result = append_all(pool, key, &rows).await;
    if result.is_err() && started.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        result = append_all(pool, key, &rows).await;
    }
    if let Err(e) = &result {
        tracing::error!(error = %e, events = rows.len(), "audit records could not be written");
    }
    result.is_ok()
}

async fn append_all(pool: &Pool, key: &ChainKey, rows: &[(i64, &str)]) -> Result<()> {
    pool.transaction(async |conn| append(conn, key, rows).await)
        .await
}

/// Extend the chain from its tip under the chain's lock; the first records a
/// keyed build appends mark where keying starts.
async fn append(conn: &mut PgConnection, key: &ChainKey, rows: &[(i64, &str)]) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    let tip: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let tip = match tip {
        Some(tip) => Some(tip),
        None => anchor(conn).await?,
    };
    let (mut seq, mut prev) = tip.unwrap_or((0, GENESIS.to_vec()));
    let linker = Linker {
        key: key.clone(),
        keyed_from: keyed_from(conn, seq + 1).await?,
    };
    let (mut seqs, mut ats, mut events, mut prevs, mut hashes) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (at, event) in rows {
        seq += 1;
        let hash = linker.link(&prev, seq, *at, event);
        seqs.push(seq);
        ats.push(*at);
        events.push(*event);
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    sqlx::query(
        "INSERT INTO audit_log (seq, at, event, prev_hash, hash) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[])",
    )
    .bind(seqs)
    .bind(ats)
    .bind(events)
    .bind(prevs)
    .bind(hashes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The first keyed record's `seq`; `next` (the record about to be
/// appended) when no record was keyed yet. Under the chain's lock.
async fn keyed_from(conn: &mut PgConnection, next: i64) -> sqlx::Result<i64> {
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(KEYED_FROM)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(seq) = stored.as_deref().and_then(seq_of) {
        return Ok(seq);
    }
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
        .bind(KEYED_FROM)
        .bind(seq_bytes(next))
        .execute(&mut *conn)
        .await?;
    Ok(next)
}

async fn anchor(conn: &mut PgConnection) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
    sqlx::query_as("SELECT seq, hash FROM audit_anchor WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await
}

fn records(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<Record>> {
    rows.iter()
        .map(|r| {
            Ok(Record {
                seq: r.try_get(0)?,
                at: r.try_get(1)?,
                event: r.try_get(2)?,
                prev_hash: r.try_get(3)?,
                hash: r.try_get(4)?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(database)
}

impl Postgres {
    pub async fn audit_since(&self, since: i64, limit: i64) -> Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE at >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        records(rows)
    }

    /// As SQLite's (`store::audit::AuditSize`): the span of `seq`, and the
    /// newest 1,000 records' average size times the records. Not the
    /// relation's size, which a DELETE does not shrink before a VACUUM.
    pub async fn audit_size(&self) -> Result<crate::store::audit::AuditSize> {
        let mut conn = self.pool.conn().await?;
        let (records,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0)::BIGINT FROM audit_log")
                .fetch_one(&mut *conn)
                .await
                .map_err(database)?;
        let (average,): (f64,) = sqlx::query_as(
            "SELECT COALESCE(AVG(octet_length(event) + octet_length(prev_hash) + octet_length(hash) + 40), 0)::FLOAT8 \
             FROM (SELECT event, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT 1000) t",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(database)?;
        Ok(crate::store::audit::AuditSize {
            records,
            bytes: (average * records as f64) as i64,
        })
    }

    pub async fn audit_time_of(&self, offset: i64) -> Result<Option<i64>> {
        let at: Option<(i64,)> = sqlx::query_as(
            "SELECT at FROM audit_log WHERE seq >= (SELECT MIN(seq) FROM audit_log) + $1 \
             ORDER BY seq LIMIT 1",
        )
        .bind(offset)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(at.map(|(at,)| at))
    }

    pub async fn audit_tail(&self, n: i64) -> Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT seq, at, event, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT $1) t \
             ORDER BY seq",
        )
        .bind(n)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        records(rows)
    }

    pub async fn audit_page(&self, after_seq: i64, page: i64) -> Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT seq, at, event, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(page)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        records(rows)
    }

    pub async fn audit_anchor(&self) -> Result<Option<(i64, Vec<u8>)>> {
        let mut conn = self.pool.conn().await?;
        anchor(&mut conn).await.map_err(database)
    }

    pub async fn prune_audit(&self, before: i64, now: i64) -> Result<Option<Pruned>> {
        let mut total: Option<Pruned> = None;
        loop {
            let Some(step) = self
                .transaction(async |conn| prune_step(conn, before, now).await)
                .await?
            else {
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

/// One transaction of pruning, under the chain's lock: up to [`PRUNE_STEP`]
/// of the oldest records, as long as they are older than `before`.
async fn prune_step(
    conn: &mut PgConnection,
    before: i64,
    now: i64,
) -> sqlx::Result<Option<Pruned>> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    let oldest: Vec<(i64, i64)> =
        sqlx::query_as("SELECT seq, at FROM audit_log ORDER BY seq LIMIT $1")
            .bind(PRUNE_STEP)
            .fetch_all(&mut *conn)
            .await?;
    let prefix: Vec<i64> = oldest
        .iter()
        .take_while(|(_, at)| *at < before)
        .map(|(seq, _)| *seq)
        .collect();
    let Some(&through_seq) = prefix.last() else {
        return Ok(None);
    };
    let hash: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(through_seq)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
        .bind(through_seq)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at",
    )
    .bind(through_seq)
    .bind(hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Some(Pruned {
        records: prefix.len() as u64,
        through_seq,
    }))
}
