//! Log lines and audit records that are safe to print to a terminal as they
//! are. serde_json escapes the C0 controls (below U+0020) but not DEL
//! (U+007F) or the C1 controls (U+0080–U+009F), which some terminals read as
//! escape sequences; here those are written as `\u` escapes as well, which
//! JSON decodes to the same string.
//!
//! Two places use it: [`terminal_safe`] on every audit record as it is made
//! (so the stored trail and `tessera audit export` are safe too, and the
//! resource-server kit's line under a resource server's own subscriber), and
//! [`TerminalSafe`] on the log writer of every line that skips
//! tracing-subscriber's own sanitizer: all lines in the JSON format, the
//! audit lines in the text format (`cli::init_tracing`). That sanitizer
//! costs about 10,000 instructions for a 300-byte line, as it writes one
//! character at a time; this is one SIMD scan when there is nothing to escape.

use std::borrow::Cow;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// `json` (serde_json's output) with DEL and the C1 controls escaped.
pub fn terminal_safe(json: String) -> String {
    if let Cow::Owned(escaped) = escape_controls(json.as_bytes()) {
        // Whole characters were replaced by ASCII: still UTF-8.
        return String::from_utf8(escaped).unwrap_or_default();
    }
    json
}

/// UTF-8 `text` with DEL and the C1 controls as `\u` escapes; borrowed when
/// there is none. Meant for JSON text, where such characters can only stand
/// inside strings.
pub fn escape_controls(text: &[u8]) -> Cow<'_, [u8]> {
    // DEL is 0x7F; the C1 controls are 0xC2 0x80..=0x9F in UTF-8 (0xC2 also
    // starts U+00A0..U+00BF, which are left alone). memchr's SIMD scan: a
    // plain byte loop costs about 6 instructions a byte.
    let Some(first) = memchr::memchr2(0x7f, 0xc2, text) else {
        return Cow::Borrowed(text);
    };
    let mut out = Vec::with_capacity(text.len() + 16);
    out.extend_from_slice(&text[..first]);
    let mut rest = &text[first..];
    while let Some(at) = memchr::memchr2(0x7f, 0xc2, rest) {
        out.extend_from_slice(&rest[..at]);
        let control = match rest[at..] {
            [0x7f, ..] => Some((0x7f, 1)),
            [0xc2, c @ 0x80..=0x9f, ..] => Some((c, 2)),
            _ => None,
        };
        match control {
            Some((code, len)) => {
                let _ = write!(out, "\\u{code:04x}");
                rest = &rest[at + len..];
            }
            None => {
                out.push(rest[at]);
                rest = &rest[at + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

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

    #[test]
    fn terminal_controls_are_escaped_and_the_json_means_the_same() {
        let value =
            serde_json::json!({"client_id": "a\u{1b}[31mb\u{7f}c\u{9b}d\u{85}é€\u{a0}\u{bf}"});
        let json = serde_json::to_string(&value).unwrap();
        let safe = terminal_safe(json);
        assert!(
            !safe.chars().any(|c| c.is_control()),
            "a control character is left: {safe:?}"
        );
        assert!(safe.contains("\\u001b") && safe.contains("\\u007f") && safe.contains("\\u009b"));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
        // Nothing to escape: the same string back.
        assert_eq!(terminal_safe("{\"a\":\"é\"}".into()), "{\"a\":\"é\"}");
    }

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
