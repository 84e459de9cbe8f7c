//! The demo MCP server's tools, on the official Rust MCP SDK (rmcp): weather,
//! calendar read/write and email, over in-memory data. Each tool needs the
//! scope the MCP flows document pairs with it ([`TOOL_SCOPES`]); the HTTP
//! gate in front of the MCP endpoint enforces that before a call arrives here.

use std::sync::{Arc, Mutex};

use axum::http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

/// Tool name → the scope it requires.
pub const TOOL_SCOPES: [(&str, &str); 4] = [
    ("weather", "mcp:tools:weather"),
    ("calendar_read", "mcp:tools:calendar:read"),
    ("calendar_write", "mcp:tools:calendar:write"),
    ("email_send", "mcp:tools:email:send"),
];

pub fn required_scope(tool: &str) -> Option<&'static str> {
    TOOL_SCOPES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, s)| *s)
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// What the event is.
    pub title: String,
    /// When, e.g. "2026-12-01T10:00".
    pub when: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WeatherArgs {
    /// The city to look up.
    pub city: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// In-memory data shared by every MCP session.
#[derive(Debug, Default)]
pub struct DemoData {
    pub events: Mutex<Vec<Event>>,
    pub outbox: Mutex<Vec<Email>>,
}

#[derive(Clone)]
pub struct DemoTools {
    data: Arc<DemoData>,
    /// The calendar API `calendar_read` calls through a token exchange, if
    /// the demo runs with one (else it reads the data itself).
    downstream: Option<super::downstream::Downstream>,
}

impl DemoTools {
    pub fn new(data: Arc<DemoData>, downstream: Option<super::downstream::Downstream>) -> Self {
        Self { data, downstream }
    }
}

#[tool_router]
impl DemoTools {
    #[tool(description = "Current weather for a city (needs mcp:tools:weather)")]
    fn weather(&self, Parameters(WeatherArgs { city }): Parameters<WeatherArgs>) -> String {
        // Deterministic "weather" so tests and demos can check the answer.
        let t = city
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 25;
        format!("{city}: {t}°C, light breeze")
    }

    #[tool(description = "List calendar events (needs mcp:tools:calendar:read)")]
    async fn calendar_read(&self, Extension(parts): Extension<Parts>) -> String {
        if let Some(downstream) = &self.downstream {
            // The token this call came with, exchanged, never passed on.
            let incoming = parts
                .headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            return match downstream.read_events(incoming).await {
                Ok(body) => body,
                Err(why) => format!("error: {why}"),
            };
        }
        let events = self
            .data
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        serde_json::to_string(&events).unwrap_or_else(|_| "[]".into())
    }

    #[tool(description = "Create a calendar event (needs mcp:tools:calendar:write)")]
    fn calendar_write(&self, Parameters(event): Parameters<Event>) -> String {
        let title = event.title.clone();
        if let Ok(mut events) = self.data.events.lock() {
            events.push(event);
        }
        format!("created event '{title}'")
    }

    #[tool(description = "Send an email (needs mcp:tools:email:send)")]
    fn email_send(&self, Parameters(email): Parameters<Email>) -> String {
        let to = email.to.clone();
        if let Ok(mut outbox) = self.data.outbox.lock() {
            outbox.push(email);
        }
        format!("sent to {to}")
    }
}

#[tool_handler]
impl ServerHandler for DemoTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Tessera demo MCP server: weather, calendar and email tools behind OAuth",
        )
    }
}
