//! Structured audit events for tool access, with the MCP flows document's
//! `logMCPAccess` fields: `event: "mcp_tool_access"`, `timestamp` (RFC 3339),
//! `user_id`, `client_id`, `tool_name`, `scopes`, `success`, `error`,
//! `ip_address`, `user_agent`.
//!
//! Each event is logged as one JSON object on target `tessera::audit` at info
//! level, and returned so the MCP server can keep or forward it. `user_id` is
//! the token's `sub` for a person's token and `null` for a machine token
//! (Tessera sets `sub` to the client id there: no person is involved).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::authenticated::Authenticated;

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

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
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
            let line = crate::audit::line::terminal_safe(line);
            tracing::info!(target: "tessera::audit", "{line}")
        }
        Err(e) => {
            tracing::warn!(target: "tessera::audit", error = %e, "audit event not serializable")
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
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
