//! RFC 9728 protected-resource metadata (PRM) and the CORS the MCP endpoint
//! and PRM need (mcp-interop §1.11).
//!
//! The document is served at the path-specific URL (RFC 9728 §3.1: the
//! well-known suffix between the origin and the resource's path), which is the
//! `resource_metadata` of every challenge, and at the root form for clients
//! that only try that. `resource` is exactly as configured (clients compare it
//! with the URL they called), `authorization_servers` holds the issuer
//! byte-identical, and no member is ever `null` (TypeScript SDK schemas
//! reject it). Browser-based clients (MCP Inspector) need CORS on both.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use bytes::Bytes;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use url::Url;

use crate::config::ResourceServer;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path a resource's PRM is served at (no trailing slash after the host).
pub fn prm_path(resource: &str) -> String {
    let path = Url::parse(resource)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    match path.as_str() {
        "" | "/" => WELL_KNOWN.to_owned(),
        p => format!("{WELL_KNOWN}{p}"),
    }
}

/// The absolute PRM URL, on the resource's own origin.
pub fn prm_url(resource: &str) -> String {
    let origin = Url::parse(resource)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    format!("{origin}{}", prm_path(resource))
}

/// The PRM document.
pub fn document(config: &ResourceServer) -> serde_json::Value {
    json!({
        "resource": config.resource,
        "authorization_servers": [config.issuer],
        "scopes_supported": config.scopes_supported,
        "bearer_methods_supported": ["header"],
    })
}

pub fn router<S: Clone + Send + Sync + 'static>(config: &ResourceServer) -> Router<S> {
    let body = Bytes::from(serde_json::to_vec(&document(config)).unwrap_or_default());
    let serve = move || {
        let body = body.clone();
        async move {
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=300"),
                    ),
                ],
                body,
            )
        }
    };
    let path = prm_path(&config.resource);
    let mut router = Router::new().route(WELL_KNOWN, get(serve.clone()));
    if path != WELL_KNOWN {
        router = router.route(&path, get(serve));
    }
    router.layer(cors())
}

/// `*` without credentials; the MCP headers allowed, the challenge exposed.
pub fn cors() -> CorsLayer {
    let h = HeaderName::from_static;
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            h("mcp-protocol-version"),
            h("mcp-session-id"),
            h("last-event-id"),
            h("mcp-method"),
            h("mcp-name"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE, h("mcp-session-id")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_suffix_goes_between_origin_and_path() {
        assert_eq!(
            prm_url("https://mcp.example.com/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            prm_url("https://mcp.example.com"),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            prm_url("http://127.0.0.1:3000/"),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            prm_path("https://x/a/b/"),
            "/.well-known/oauth-protected-resource/a/b/"
        );
    }

    #[test]
    fn the_document_is_exact_and_has_no_nulls() {
        let config = ResourceServer::new("http://127.0.0.1:8080", "http://127.0.0.1:3000/mcp");
        assert_eq!(
            document(&config),
            json!({
                "resource": "http://127.0.0.1:3000/mcp",
                "authorization_servers": ["http://127.0.0.1:8080"],
                "scopes_supported": [],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
