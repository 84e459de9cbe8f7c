//! The audit trail: security-relevant events as JSON lines on the log target
//! `tessera::audit`, and persisted in the database's keyed hash chain
//! (`store::chain`; the key: [`keying`]), which `tessera audit verify` checks
//! against its exported head ([`head`]).
//!
//! An event costs the request that records it one hand-over to the store's
//! write queue, where it joins the next group-committed batch. Events that
//! record a security decision (consent, revocation, registration, client
//! removal, key rotation, detected reuse) are written with
//! [`Audit::record_durably`], which returns only after their batch has
//! committed, so the decision is acknowledged only once it is on disk. Other
//! events (token requests, sign-ins) can be lost by a crash within the last
//! milliseconds before their batch commits; a graceful shutdown writes them.

pub mod head;
pub mod keying;
pub mod retention;

use serde::Serialize;

use crate::store::Store;

/// Records events; cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
}

/// Append RFC 3339 for a unix time, formatted once per second per thread: at
/// thousands of events a second, nearly all share the previous one's second.
fn push_rfc3339(at: i64, out: &mut Vec<u8>) {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with_borrow_mut(|(second, text)| {
        if *second != at {
            *text = tessera_resource::clock::rfc3339(at);
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
    tessera_resource::audit::terminal_safe(String::from_utf8(out).unwrap_or_default())
}

impl Audit {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Log the event and queue it for the chain.
    async fn enqueue<F: Serialize + ?Sized>(
        &self,
        kind: &str,
        at: i64,
        fields: &F,
        durable: bool,
    ) -> crate::store::Result<()> {
        let json = event_json(kind, at, fields);
        tracing::info!(target: crate::telemetry::AUDIT_TARGET, "{json}");
        // Stored without the time its `at` column holds (read back with
        // `Record::event_with_time`).
        let stored = crate::store::chain::compact(json);
        self.store.append_audit(at, stored, durable).await
    }

    /// Record an event; it is written with the next batch.
    pub async fn record<F: Serialize>(&self, kind: &str, at: i64, fields: F) {
        // Only a closed store refuses, at shutdown; the line above was logged.
        let _ = self.enqueue(kind, at, &fields, false).await;
    }

    /// Record an event and wait until it is committed to the database.
    pub async fn record_durably<F: Serialize>(
        &self,
        kind: &str,
        at: i64,
        fields: F,
    ) -> crate::store::Result<()> {
        self.enqueue(kind, at, &fields, true).await
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
