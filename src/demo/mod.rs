//! `tessera demo-mcp`: a small MCP server (official Rust SDK, Streamable
//! HTTP) protected by Tessera through the resource-server kit.
//!
//! Routes: `/mcp` (the MCP endpoint, behind the kit's bearer-token layer and
//! the per-tool scope [`gate`]), the RFC 9728 protected-resource metadata, and
//! `/health` shaped like the MCP flows document's (it checks that the issuer's
//! metadata answers). Tool data lives in memory.

pub mod downstream;
pub mod gate;
pub mod tools;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use tessera_resource::audit::AuditEvent;
use tessera_resource::clock::{Clock, SystemClock, rfc3339};
use tessera_resource::exchange::TokenExchanger;
use tessera_resource::{AuthLayer, ResourceKit, ResourceServer};
use tools::{DemoData, DemoTools, TOOL_SCOPES};

/// Shared state of the demo server.
#[derive(Clone)]
pub struct Demo {
    pub kit: ResourceKit,
    pub data: Arc<DemoData>,
    /// Audit events, newest last (also logged on target `tessera::audit`).
    pub audit: Arc<Mutex<Vec<AuditEvent>>>,
    issuer: String,
    resource: String,
    /// The calendar API reached by token exchange (`with_downstream`).
    pub downstream: Option<downstream::Downstream>,
}

impl Demo {
    /// `issuer` is Tessera's issuer URL; `resource` this server's MCP URL
    /// (its canonical resource URI, the tokens' `aud`).
    pub fn new(issuer: &str, resource: &str) -> anyhow::Result<Self> {
        let scopes: Vec<&str> = TOOL_SCOPES.iter().map(|(_, s)| *s).collect();
        let kit = ResourceServer::new(issuer, resource)
            .scopes(&scopes)
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            kit,
            data: Arc::default(),
            audit: Arc::default(),
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            downstream: None,
        })
    }

    /// Also serve the calendar API (a second resource, on this origin) and
    /// have `calendar_read` call it with tokens `exchanger` exchanges.
    pub fn with_downstream(mut self, exchanger: TokenExchanger) -> anyhow::Result<Self> {
        let url = url::Url::parse(&self.resource)?;
        let origin = url.origin().ascii_serialization();
        self.downstream = Some(downstream::Downstream::new(
            &self.issuer,
            &origin,
            exchanger,
        )?);
        Ok(self)
    }

    fn record(&self, event: AuditEvent) {
        if let Ok(mut log) = self.audit.lock() {
            log.push(event);
        }
    }

    pub fn router(&self) -> Router {
        let data = self.data.clone();
        let tools_downstream = self.downstream.clone();
        let mcp = StreamableHttpService::new(
            move || Ok(DemoTools::new(data.clone(), tools_downstream.clone())),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let mcp_path =
            url::Url::parse(&self.resource).map_or("/mcp".to_owned(), |u| u.path().to_owned());
        let protected = Router::new()
            .nest_service(&mcp_path, mcp)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate::gate,
            ))
            .layer(AuthLayer::new(self.kit.clone()))
            .layer(tessera_resource::metadata::cors());
        let router = Router::new()
            .route("/health", get(health))
            .with_state(self.clone())
            .merge(tessera_resource::metadata::router(self.kit.config()))
            .merge(protected);
        match &self.downstream {
            Some(api) => router.merge(api.router(self.data.clone())),
            None => router,
        }
    }

    pub async fn serve(self, listen: SocketAddr) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        self.serve_on(listener).await
    }

    /// Serve on a bound listener until a shutdown signal.
    pub async fn serve_on(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(crate::server::shutdown_signal())
            .await?;
        Ok(())
    }
}

/// `tessera demo-mcp`: bind `listen` (IP:PORT or HOST:PORT) first, check
/// that the issuer's metadata answers, and only then say where it listens.
/// With `exchanger`, it also serves the calendar API and reaches it from
/// `calendar_read` by token exchange (RFC 8693).
pub async fn run(
    issuer: &str,
    listen: &str,
    exchanger: Option<TokenExchanger>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (from --listen)"))?;
    let addr = listener.local_addr()?;
    let metadata = format!("{issuer}/.well-known/oauth-authorization-server");
    let reachable = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&metadata)
        .send()
        .await;
    match reachable {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => anyhow::bail!(
            "the issuer {issuer} answers its metadata ({metadata}) with HTTP {}: is --issuer a Tessera issuer?",
            r.status()
        ),
        Err(e) => anyhow::bail!(
            "the issuer {issuer} does not answer at {metadata} ({e}): start `tessera serve` first, or pass --issuer"
        ),
    }
    // The resource names the address as given (a host name stays one), with
    // the port actually bound (`:0` picks one).
    let host = listen.rsplit_once(':').map_or(listen, |(host, _)| host);
    let resource = format!("http://{host}:{}/mcp", addr.port());
    let mut demo = Demo::new(issuer, &resource)?;
    let mut line = format!("demo MCP server listening on {addr}: {resource} (issuer {issuer})\n");
    if let Some(exchanger) = exchanger {
        demo = demo.with_downstream(exchanger)?;
        line.push_str(&format!(
            "calendar API: http://{host}:{}/calendar-api (reached by token exchange)\n",
            addr.port()
        ));
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes());
    demo.serve_on(listener).await
}

/// Why a tool call failed at the HTTP level, if it did.
fn failure_reason(response: &Response) -> Option<String> {
    let status = response.status();
    (!status.is_success()).then(|| format!("HTTP {status}"))
}

/// The flows document's health check: this server, and whether the issuer's
/// metadata answers (`degraded` and 503 when it does not).
async fn health(State(demo): State<Demo>) -> Response {
    let url = format!("{}/.well-known/oauth-authorization-server", demo.issuer);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let oauth = match client {
        Ok(c) => match c.get(&url).send().await {
            Ok(r) if r.status().is_success() => "healthy",
            Ok(_) => "degraded",
            Err(_) => "unhealthy",
        },
        Err(_) => "unhealthy",
    };
    let status = if oauth == "healthy" {
        "healthy"
    } else {
        "degraded"
    };
    let body = json!({
        "status": status,
        "timestamp": rfc3339(SystemClock.now()),
        "services": { "mcp_server": "healthy", "oauth_server": oauth },
    });
    let code = if status == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}
