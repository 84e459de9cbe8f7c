//! The audit trail: security-relevant events as JSON lines on the log target
//! `tessera::audit`, and persisted in the database in a hash chain
//! ([`chain`]) that `tessera audit verify` checks.
//!
//! Writes are batched by one writer task: while it commits a batch, new events
//! queue, and the next commit takes them all (group commit), so auditing every
//! token request costs the token path one channel send, not a disk write.
//! Events that record a security decision (consent, revocation, registration,
//! client removal, key rotation, detected reuse) are written with
//! [`Audit::record_durably`], which returns only after their batch has
//! committed, so the decision is acknowledged only once it is on disk. Other
//! events (token requests, sign-ins) wait up to 2 ms for company before their
//! batch is written, and can be lost by a crash within that last batch
//! (milliseconds); a graceful shutdown flushes everything.

pub mod chain;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::store::Store;

/// Most events written in one transaction.
const MAX_BATCH: usize = 512;

struct Entry {
    at: i64,
    json: String,
    ack: Option<oneshot::Sender<bool>>,
}

pub struct Audit {
    /// Swapped out at shutdown; a lock-free read on every event.
    tx: ArcSwapOption<mpsc::Sender<Entry>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    metrics: Option<Arc<Metrics>>,
}

/// Build an event: `{"event": kind, "timestamp": RFC 3339, …fields}`.
pub fn event(kind: &str, at: i64, fields: Value) -> Map<String, Value> {
    let timestamp = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert("event".into(), json!(kind));
    out.insert("timestamp".into(), json!(timestamp));
    if let Value::Object(f) = fields {
        out.extend(f);
    }
    out
}

impl Audit {
    pub fn start(store: Store, metrics: Option<Arc<Metrics>>) -> Self {
        let (tx, rx) = mpsc::channel(65_536);
        let writer = tokio::spawn(write_batches(store, rx, metrics.clone()));
        Self {
            tx: ArcSwapOption::from_pointee(tx),
            writer: Mutex::new(Some(writer)),
            metrics,
        }
    }

    async fn enqueue(
        &self,
        kind: &str,
        at: i64,
        fields: Value,
        ack: Option<oneshot::Sender<bool>>,
    ) -> bool {
        let json = Value::Object(event(kind, at, fields)).to_string();
        tracing::info!(target: "tessera::audit", "{json}");
        let Some(sender) = self.tx.load_full() else {
            return false;
        };
        if let Some(m) = &self.metrics {
            m.add_audit_backlog(1);
        }
        sender.send(Entry { at, json, ack }).await.is_ok()
    }

    /// Record an event; it is written with the next batch.
    pub async fn record(&self, kind: &str, at: i64, fields: Value) {
        self.enqueue(kind, at, fields, None).await;
    }

    /// Record an event and wait until it is committed to the database.
    pub async fn record_durably(&self, kind: &str, at: i64, fields: Value) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        if !self.enqueue(kind, at, fields, Some(ack)).await {
            anyhow::bail!("the audit trail is closed");
        }
        match done.await {
            Ok(true) => Ok(()),
            _ => anyhow::bail!("the audit record could not be written"),
        }
    }

    /// Stop accepting events and wait until every queued one is written.
    pub async fn shutdown(&self) {
        self.tx.store(None);
        if let Some(writer) = self.writer.lock().await.take() {
            let _ = writer.await;
        }
    }
}

/// How long a batch of best-effort events waits for company.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// Let a small batch of best-effort events gather more before it is written:
/// a batch costs a transaction and a handful of hand-offs between threads
/// whatever its size, and at thousands of token requests a second one event
/// per batch made auditing a tenth of the token endpoint's CPU. A batch that
/// carries a durable record (someone is waiting for its commit) goes at once.
async fn linger(rx: &mut mpsc::Receiver<Entry>, batch: &mut Vec<Entry>) {
    if batch.len() >= MAX_BATCH || batch.iter().any(|e| e.ack.is_some()) {
        return;
    }
    tokio::time::sleep(LINGER).await;
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(entry) => batch.push(entry),
            Err(_) => break,
        }
    }
}

async fn write_batches(store: Store, mut rx: mpsc::Receiver<Entry>, metrics: Option<Arc<Metrics>>) {
    let mut batch: Vec<Entry> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        linger(&mut rx, &mut batch).await;
        // The JSON moves into the batch: after the write only the acks are needed.
        let rows: Arc<Vec<(i64, String)>> = Arc::new(
            batch
                .iter_mut()
                .map(|e| (e.at, std::mem::take(&mut e.json)))
                .collect(),
        );
        let mut result = store.append_audit(rows.clone()).await;
        if result.is_err() {
            // One retry: a busy database (another process's write) is the usual cause.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            result = store.append_audit(rows.clone()).await;
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, events = rows.len(), "audit records could not be written");
        }
        if let Some(m) = &metrics {
            m.add_audit_backlog(-(batch.len() as i64));
        }
        for entry in batch.drain(..) {
            if let Some(ack) = entry.ack {
                let _ = ack.send(result.is_ok());
            }
        }
    }
}
