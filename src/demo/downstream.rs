//! The demo's second resource and the token exchange that reaches it: a
//! small calendar API (`/calendar-api/events`, its own resource URI, behind
//! its own kit) that the MCP server calls from `calendar_read` with a token
//! it exchanged for the person's (RFC 8693, through the kit's
//! [`TokenExchanger`]), never with the token it received.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::tools::DemoData;
use tessera_resource::exchange::TokenExchanger;
use tessera_resource::{AuthLayer, Authenticated, ResourceKit, ResourceServer};

/// The scope the calendar API requires.
pub const API_SCOPE: &str = "mcp:tools:calendar:read";
/// Where the API lives, below the demo's origin.
pub const API_PATH: &str = "/calendar-api";

/// A call the calendar API served: for whom, through which actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    pub sub: String,
    pub client_id: String,
    /// The `act` claim's `sub`: the MCP server that exchanged the token.
    pub actor: Option<String>,
    pub aud: Vec<String>,
}

/// The calendar API and the MCP server's way to it.
#[derive(Clone)]
pub struct Downstream {
    pub exchanger: TokenExchanger,
    /// The API's resource URI (the exchanged token's `aud`).
    pub resource: String,
    kit: ResourceKit,
    http: reqwest::Client,
    /// Calls the API served, oldest first.
    pub calls: Arc<Mutex<Vec<ApiCall>>>,
}

impl Downstream {
    /// The calendar API at `origin` + [`API_PATH`], for `issuer`'s tokens.
    pub fn new(issuer: &str, origin: &str, exchanger: TokenExchanger) -> anyhow::Result<Self> {
        let resource = format!("{}{API_PATH}", origin.trim_end_matches('/'));
        let kit = ResourceServer::new(issuer, &resource)
            .scopes(&[API_SCOPE])
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            exchanger,
            resource,
            kit,
            http: reqwest::Client::new(),
            calls: Arc::default(),
        })
    }

    /// The API's routes, behind its own token layer.
    pub fn router(&self, data: Arc<DemoData>) -> Router {
        Router::new()
            .route(&format!("{API_PATH}/events"), get(events))
            .with_state((self.clone(), data))
            .layer(AuthLayer::new(self.kit.clone()))
    }

    /// `calendar_read` through the API: exchange `incoming` (the token the
    /// MCP server received) and call the API with the result.
    pub async fn read_events(&self, incoming: &str) -> Result<String, String> {
        let token = self
            .exchanger
            .exchange(incoming, &self.resource, Some(API_SCOPE))
            .await
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .get(format!("{}/events", self.resource))
            .bearer_auth(&token.access_token)
            .send()
            .await
            .map_err(|e| format!("the calendar API is unreachable: {}", e.without_url()))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the calendar API answered {status}"));
        }
        Ok(body)
    }
}

async fn events(
    State((downstream, data)): State<(Downstream, Arc<DemoData>)>,
    auth: Authenticated,
) -> Response {
    if let Err(rejection) = auth.require_scopes(&[API_SCOPE]) {
        return rejection.into_response();
    }
    let actor = auth
        .claims
        .act
        .as_ref()
        .and_then(|a| a.get("sub"))
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    if let Ok(mut calls) = downstream.calls.lock() {
        calls.push(ApiCall {
            sub: auth.sub.clone(),
            client_id: auth.client_id.clone(),
            actor,
            aud: auth.aud.clone(),
        });
    }
    let events = data.events.lock().map(|e| e.clone()).unwrap_or_default();
    (StatusCode::OK, axum::Json(events)).into_response()
}
