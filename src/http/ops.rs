//! Operations endpoints: `GET /health` (shaped like the MCP flows document's
//! health check: status, timestamp, services; 503 when degraded), and
//! `GET /metrics` (Prometheus text). `GET /health/live` is in the router: it
//! touches nothing and only says the process answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;
use crate::telemetry::request_id;
use tracing::Instrument;

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
    // A failed measurement leaves the last one: the scrape still answers.
    if let Ok(size) = app.store.audit_size().await {
        app.metrics.set_audit_size(size.records, size.bytes);
    }
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Gives every request its id (a trusted proxy's `X-Request-Id`, else a new
/// one: its log lines' span, the task-local its error body reads, and the
/// response's `X-Request-Id`), counts it by its route template (never the raw
/// path, which would make unbounded label values), records its latency, and
/// writes the access log line when `access_log` is on.
pub async fn observe(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let from_proxy = request
        .headers()
        .get(REQUEST_ID)
        .filter(|_| from_trusted_proxy(&app, &request));
    let id = request_id::choose(from_proxy);
    let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or_default());
    let access = app.config.access_log.then(|| access_fields(&request));
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
    let mut response =
        request_id::scope(id.clone(), next.run(request).instrument(span.clone())).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.observe_request(route, method, status, seconds);
    if let Some((path, peer)) = access {
        let _entered = span.enter();
        tracing::info!(
            target: crate::telemetry::ACCESS_TARGET,
            method,
            path = %path,
            route,
            status,
            duration_ms = seconds * 1000.0,
            peer = %peer,
            "request"
        );
    }
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Whether the connection comes from a proxy whose `X-Request-Id` is believed
/// (`rate_limits.trusted_proxies`, as for `X-Forwarded-For`).
fn from_trusted_proxy(app: &AppState, request: &Request) -> bool {
    let trusted = &app.config.rate_limits.trusted_proxies;
    !trusted.is_empty()
        && request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|peer| trusted.contains(&peer.0.ip()))
}

/// The access log's path (without the query, which may carry a `state` or a
/// `login_hint`) and the client's address.
fn access_fields(request: &Request) -> (String, String) {
    let path = request.uri().path().to_owned();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(String::new, |c| c.0.ip().to_string());
    (path, peer)
}
