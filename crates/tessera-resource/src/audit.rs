//! Structured audit events for tool access, with the MCP flows document's
//! `logMCPAccess` fields: `event: "mcp_tool_access"`, `timestamp` (RFC 3339),
//! `user_id`, `client_id`, `tool_name`, `scopes`, `success`, `error`,
//! `ip_address`, `user_agent`.
//!
//! Each event is logged as one JSON object on target `tessera::audit` at info
//! level, and returned so the MCP server can keep or forward it. `user_id` is
//! the token's `sub` for a person's token and `null` for a machine token
//! (Tessera sets `sub` to the client id there: no person is involved).
//!
//! Audit lines are safe to print to a terminal as they are: serde_json
//! escapes the C0 controls (below U+0020) but not DEL (U+007F) or the C1
//! controls (U+0080–U+009F), which some terminals read as escape sequences;
//! [`terminal_safe`] writes those as `\u` escapes as well, which JSON decodes
//! to the same string. Tessera's own audit records go through it too.

use std::borrow::Cow;
use std::io::Write;

use serde::Serialize;

use crate::authenticated::Authenticated;
use crate::clock::rfc3339;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEvent {
    pub event: &'static str,
    pub timestamp: String,
    pub user_id: Option<String>,
    pub client_id: String,
    pub tool_name: String,
    pub scopes: Vec<String>,
    pub success: bool,
    pub error: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Record one tool invocation by `auth`; call it once per tool call with the
/// tool's outcome.
pub fn audit_tool_access<E: std::fmt::Display>(
    auth: &Authenticated,
    tool_name: &str,
    result: Result<(), E>,
) -> AuditEvent {
    let now = auth.kit().config().clock.now();
    let event = AuditEvent {
        event: "mcp_tool_access",
        timestamp: rfc3339(now),
        user_id: (auth.sub != auth.client_id).then(|| auth.sub.clone()),
        client_id: auth.client_id.clone(),
        tool_name: tool_name.to_owned(),
        scopes: auth.scopes.iter().map(str::to_owned).collect(),
        success: result.is_ok(),
        error: result.err().map(|e| e.to_string()),
        ip_address: auth.ip_address.clone(),
        user_agent: auth.user_agent.clone(),
    };
    match serde_json::to_string(&event) {
        Ok(line) => {
            // Escaped here, not only by Tessera's log writer: the kit runs in
            // resource servers, under their own subscribers.
            let line = terminal_safe(line);
            tracing::info!(target: "tessera::audit", "{line}")
        }
        Err(e) => {
            tracing::warn!(target: "tessera::audit", error = %e, "audit event not serializable")
        }
    }
    event
}

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
    // starts U+00A0..U+00BF, which are left alone). memchr scans with SIMD:
    // most lines have nothing to escape.
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

#[cfg(test)]
mod tests {
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

    #[test]
    fn the_event_has_the_flows_document_fields() {
        let event = AuditEvent {
            event: "mcp_tool_access",
            timestamp: rfc3339(0),
            user_id: None,
            client_id: "c".into(),
            tool_name: "weather".into(),
            scopes: vec!["mcp:tools:weather".into()],
            success: false,
            error: Some("boom".into()),
            ip_address: Some("127.0.0.1".into()),
            user_agent: None,
        };
        let v = serde_json::to_value(&event).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "client_id",
                "error",
                "event",
                "ip_address",
                "scopes",
                "success",
                "timestamp",
                "tool_name",
                "user_agent",
                "user_id"
            ]
        );
    }
}
