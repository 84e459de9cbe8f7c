//! The log writer for lines that skip tracing-subscriber's own sanitizer
//! (all lines in the JSON format, the audit lines in the text format): DEL and
//! the C1 controls leave as `\u` escapes ([`tessera_resource::audit::escape_controls`]),
//! so every line is safe to print to a terminal. That sanitizer writes one
//! character at a time; this is one SIMD scan when there is nothing to escape.

use std::borrow::Cow;
use std::io::{self, Write};

use tessera_resource::audit::escape_controls;
use tracing_subscriber::fmt::MakeWriter;

/// A log writer whose lines leave with DEL and the C1 controls escaped.
/// tracing-subscriber writes each line whole, so no escape is split.
pub struct TerminalSafe<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for TerminalSafe<M> {
    type Writer = SafeWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        SafeWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SafeWriter(self.0.make_writer_for(meta))
    }
}

pub struct SafeWriter<W>(W);

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match escape_controls(buf) {
            // Nothing to escape: a partial write is retried from where it
            // stopped, and still has nothing to escape.
            Cow::Borrowed(same) => self.0.write(same),
            Cow::Owned(escaped) => {
                self.0.write_all(&escaped)?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_json_log_line_leaves_with_terminal_controls_escaped() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(TerminalSafe(move || sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(name = "a\u{7f}b\u{9b}c\u{85}é", "refused \u{9b}2J");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["fields"]["name"], "a\u{7f}b\u{9b}c\u{85}é");
        assert_eq!(line["fields"]["message"], "refused \u{9b}2J");
    }
}
