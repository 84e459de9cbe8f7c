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
pub mod line;
pub mod retention;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use serde::Serialize;
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

/// Append RFC 3339 for a unix time, formatted once per second per thread: at
/// thousands of events a second, nearly all share the previous one's second.
fn push_rfc3339(at: i64, out: &mut Vec<u8>) {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with_borrow_mut(|(second, text)| {
        if *second != at {
            *text = time::OffsetDateTime::from_unix_timestamp(at)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            *second = at;
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// Serialize an event: `{"event": kind, "timestamp": RFC 3339, …fields}`,
/// where `fields` is a JSON object (anything else adds no fields). Written
/// straight into one buffer: no intermediate `Value` maps on the token path.
pub fn event_json<F: Serialize + ?Sized>(kind: &str, at: i64, fields: &F) -> String {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"event\":");
    // Serializing a `&str` or a derived `Serialize` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, kind);
    out.extend_from_slice(b",\"timestamp\":\"");
    push_rfc3339(at, &mut out);
    out.push(b'"');
    let start = out.len();
    let wrote = serde_json::to_writer(&mut out, fields).is_ok();
    // `{"a":1}` continues the event as `,"a":1}`; `{}` or a non-object closes it.
    if wrote && out.len() - start > 2 && out[start] == b'{' {
        out[start] = b',';
    } else {
        out.truncate(start);
        out.push(b'}');
    }
    line::terminal_safe(String::from_utf8(out).unwrap_or_default())
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

    async fn enqueue<F: Serialize + ?Sized>(
        &self,
        kind: &str,
        at: i64,
        fields: &F,
        ack: Option<oneshot::Sender<bool>>,
    ) -> bool {
        let json = event_json(kind, at, fields);
        tracing::info!(target: "tessera::audit", "{json}");
        let Some(sender) = self.tx.load_full() else {
            return false;
        };
        if let Some(m) = &self.metrics {
            m.add_audit_backlog(1);
        }
        let queued = sender.send(Entry { at, json, ack }).await.is_ok();
        if let (false, Some(m)) = (queued, &self.metrics) {
            // The writer has stopped: this event will never leave the backlog.
            m.add_audit_backlog(-1);
        }
        queued
    }

    /// Record an event; it is written with the next batch.
    pub async fn record<F: Serialize>(&self, kind: &str, at: i64, fields: F) {
        self.enqueue(kind, at, &fields, None).await;
    }

    /// Record an event and wait until it is committed to the database.
    pub async fn record_durably<F: Serialize>(
        &self,
        kind: &str,
        at: i64,
        fields: F,
    ) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        if !self.enqueue(kind, at, &fields, Some(ack)).await {
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

#[cfg(test)]
mod tests {
    use super::event_json;
    use serde_json::{Value, json};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("an event is valid JSON")
    }

    #[test]
    fn fields_follow_the_event_name_and_timestamp() {
        let e = parse(&event_json(
            "oauth_token_request",
            1_760_000_000,
            &json!({"client_id": "a\"b", "success": true}),
        ));
        assert_eq!(e["event"], "oauth_token_request");
        assert_eq!(e["timestamp"], "2025-10-09T08:53:20Z");
        assert_eq!(e["client_id"], "a\"b");
        assert_eq!(e["success"], true);
        assert_eq!(e.as_object().map(|o| o.len()), Some(4));
    }

    #[test]
    fn empty_or_non_object_fields_add_nothing() {
        for fields in [json!({}), json!(null), json!(["x"]), json!("x")] {
            let e = parse(&event_json("key_rotated", 0, &fields));
            assert_eq!(e["timestamp"], "1970-01-01T00:00:00Z");
            assert_eq!(e.as_object().map(|o| o.len()), Some(2), "{fields}");
        }
    }

    #[test]
    fn the_cached_timestamp_follows_the_second() {
        let a = parse(&event_json("x", 100, &json!({})));
        let b = parse(&event_json("x", 101, &json!({})));
        let c = parse(&event_json("x", 100, &json!({})));
        assert_eq!(a["timestamp"], "1970-01-01T00:01:40Z");
        assert_eq!(b["timestamp"], "1970-01-01T00:01:41Z");
        assert_eq!(a, c);
    }
}
