//! The per-tool scope gate in front of the MCP endpoint.
//!
//! The kit's layer has already authenticated the request. MCP carries the tool
//! name inside the JSON-RPC body, so this gate reads the (small) body, finds
//! each `tools/call`, and answers an HTTP 403 `insufficient_scope` challenge
//! naming every scope needed (MCP step-up, SEP-835) before the call reaches the
//! tools. Every tool call, allowed or not, becomes an `mcp_tool_access` audit event.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::tools::required_scope;
use super::{Demo, failure_reason};
use tessera_resource::Authenticated;
use tessera_resource::audit::audit_tool_access;

const MAX_BODY: usize = 1024 * 1024;

/// The tool names of every `tools/call` in a JSON-RPC message or batch.
fn called_tools(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let messages = match value {
        Value::Array(list) => list,
        one => vec![one],
    };
    messages
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .filter_map(|m| m["params"]["name"].as_str().map(str::to_owned))
        .collect()
}

pub async fn gate(State(demo): State<Demo>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request too large",
        )
            .into_response();
    };
    let tools = called_tools(&bytes);
    let auth = parts.extensions.get::<Authenticated>().cloned();
    if let Some(auth) = &auth {
        for tool in &tools {
            let needed: Vec<&str> = required_scope(tool).into_iter().collect();
            if let Err(rejection) = auth.require_scopes(&needed) {
                demo.record(audit_tool_access(auth, tool, Err(&rejection.description)));
                return rejection.into_response();
            }
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(auth) = &auth {
        for tool in &tools {
            let outcome = failure_reason(&response).map_or(Ok(()), Err);
            demo.record(audit_tool_access(auth, tool, outcome));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_are_found_in_single_messages_and_batches() {
        let one = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather","arguments":{}}}"#;
        assert_eq!(called_tools(one), ["weather"]);
        let batch =
            br#"[{"method":"tools/list"},{"method":"tools/call","params":{"name":"email_send"}}]"#;
        assert_eq!(called_tools(batch), ["email_send"]);
        assert!(called_tools(b"not json").is_empty());
    }
}
