//! `GET /.well-known/oauth-authorization-server` (RFC 8414).
//!
//! The document is rendered once at start-up. `issuer` is byte-identical to the
//! configured issuer, every endpoint is absolute, and no member is ever `null`
//! (TypeScript SDK schemas reject it; mcp-interop §1.3). For an issuer with a
//! path the document lives at the path-inserted URL (RFC 8414 §3.1).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::Config;

pub fn document(config: &Config) -> Vec<u8> {
    let issuer = &config.issuer;
    let mut scopes: Vec<&str> = config.scopes.iter().map(|s| s.name.as_str()).collect();
    // SEP-2207: the issuer's own scope for refresh tokens.
    let offline = crate::oauth::offline_access::OFFLINE_ACCESS;
    if !scopes.contains(&offline) {
        scopes.push(offline);
    }
    let auth_methods = [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let signing_algs = crate::assertions::verify::ALLOWED_NAMES;
    // Only grants this configuration accepts (VS Code copies the list into
    // its registration): the extensions once configured.
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if !config.trusted_idps.is_empty() {
        grants.push(crate::oauth::id_jag::GRANT_TYPE);
    }
    if !config.token_exchange.is_empty() {
        grants.push(crate::oauth::token_exchange::GRANT_TYPE);
    }
    let doc = json!({
        "issuer": issuer.as_str(),
        "authorization_endpoint": issuer.endpoint("/authorize"),
        "token_endpoint": issuer.endpoint("/token"),
        "registration_endpoint": issuer.endpoint("/register"),
        "jwks_uri": issuer.endpoint("/jwks.json"),
        "revocation_endpoint": issuer.endpoint("/revoke"),
        "introspection_endpoint": issuer.endpoint("/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "revocation_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_signing_alg_values_supported": signing_algs,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": config.registration.metadata_documents,
        "service_documentation": "https://github.com/tessera-auth/tessera#readme",
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Serve a pre-rendered JSON document.
pub fn json_document(body: bytes::Bytes, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The handler serving `document` (rendered once, when the router is built).
pub fn serve(
    document: bytes::Bytes,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move || std::future::ready(json_document(document.clone(), "public, max-age=3600"))
}
