//! Audit events as log lines that are safe to print to a terminal as they
//! are. serde_json escapes the C0 controls (below U+0020) but not DEL
//! (U+007F) or the C1 controls (U+0080–U+009F), which some terminals read as
//! escape sequences; here those are written as `\u` escapes as well, which
//! JSON decodes to the same string. That is why the audit log lines can skip
//! tracing-subscriber's own sanitizer (`cli::init_tracing`), which costs
//! about 10,000 instructions for a 300-byte line because it writes one
//! character at a time.

/// `json` (serde_json's output) with DEL and the C1 controls escaped.
pub fn terminal_safe(json: String) -> String {
    // DEL is 0x7F; C1 controls are encoded as 0xC2 0x80..=0x9F in UTF-8
    // (0xC2 also starts U+00A0..U+00BF, which the slow path leaves alone).
    // memchr's SIMD scan: a plain byte loop costs about 6 instructions a byte.
    if memchr::memchr2(0x7f, 0xc2, json.as_bytes()).is_none() {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_and_the_json_means_the_same() {
        let value = serde_json::json!({"client_id": "a\u{1b}[31mb\u{7f}c\u{9b}d\u{85}é€"});
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
}
