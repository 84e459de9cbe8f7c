//! Audit events as JSON log lines whose fields are the event's own
//! (`{"timestamp":…,"level":"INFO","target":"tessera::audit","request_id":…,
//! "event":"token_issued","client_id":…}`), not a JSON string inside
//! `message` that a log pipeline would have to parse twice.
//!
//! An audit event's message is its JSON object, already terminal-safe
//! (`audit::event_json`, the kit's `AuditEvent`); this layer splices the log
//! line's own fields in front of the object's. A message that is not an
//! object (never, from Tessera) is kept as `message`.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// Writes the audit target's events, one JSON object per line.
pub struct AuditLines<W> {
    writer: W,
}

impl<W> AuditLines<W> {
    pub fn new(writer: W) -> Self {
        Self { writer }
    }
}

/// The event's message, as written.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl<S, W> Layer<S> for AuditLines<W>
where
    S: tracing::Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let line = line(event.metadata(), &message.0);
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

/// The log line for an audit event whose message is `message`.
fn line(meta: &tracing::Metadata<'_>, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 96);
    out.push_str("{\"level\":\"");
    out.push_str(meta.level().as_str());
    out.push_str("\",\"target\":");
    push_json_str(&mut out, meta.target());
    if let Some(id) = super::request_id::current()
        && let Ok(id) = id.to_str()
    {
        out.push_str(",\"request_id\":");
        push_json_str(&mut out, id);
    }
    let object = message.trim();
    match object.strip_prefix('{') {
        Some(rest) if object.ends_with('}') && rest.len() > 1 => {
            out.push(',');
            out.push_str(rest);
        }
        _ => {
            out.push_str(",\"message\":");
            push_json_str(&mut out, message);
            out.push('}');
        }
    }
    out.push('\n');
    out
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_events_fields_become_the_lines_fields() {
        let (writer, lines) = captured();
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            AuditLines::new(writer),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tessera::audit", "{}", r#"{"event":"token_issued","timestamp":"2026-12-07T00:00:00Z","client_id":"c1"}"#);
            tracing::warn!(target: "tessera::audit", "not an object");
        });
        let text = lines.lock().unwrap().clone();
        let parsed: Vec<serde_json::Value> = String::from_utf8(text)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed[0]["event"], "token_issued");
        assert_eq!(parsed[0]["client_id"], "c1");
        assert_eq!(parsed[0]["level"], "INFO");
        assert_eq!(parsed[0]["target"], "tessera::audit");
        assert_eq!(parsed[1]["message"], "not an object");
        assert_eq!(parsed[1]["level"], "WARN");
    }

    type Lines = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

    #[derive(Clone)]
    struct Sink(Lines);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured() -> (impl for<'a> MakeWriter<'a> + 'static, Lines) {
        let lines = Lines::default();
        let sink = Sink(lines.clone());
        (move || sink.clone(), lines)
    }
}
