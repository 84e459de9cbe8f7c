//! Operations endpoints: `GET /health` (shaped like the MCP flows document's
//! health check: status, timestamp, services; 503 when degraded), and
//! `GET /metrics` (Prometheus text). `GET /health/live` is in the router: it
//! touches nothing and only says the process answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

pub async fn health(State(app): State<Arc<AppState>>) -> Response {
    let database = match tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => "healthy",
        _ => "unhealthy",
    };
    // The ring always holds a signer once built; a key that cannot sign shows up here.
    let signing_keys = match app.keys.ring().signer.sign(&json!({"health": true})) {
        Ok(_) => "healthy",
        Err(_) => "unhealthy",
    };
    let healthy = database == "healthy" && signing_keys == "healthy";
    let body = json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "timestamp": tessera_resource::clock::rfc3339(app.clock.now()),
        "services": { "database": database, "signing_keys": signing_keys },
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    app.metrics.set_audit_backlog(app.store.audit_backlog());
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Counts every request by its route template (never the raw path, which
/// would make unbounded label values) and records its latency.
pub async fn observe(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // A reference-counted clone of the template, not a copy of its text.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let response = next.run(request).await;
    app.metrics.observe_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
