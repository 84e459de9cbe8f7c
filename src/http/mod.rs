//! The HTTP surface: one router built by [`router`], one file per endpoint.
//!
//! Endpoints are mounted under the issuer's path (empty for an origin-only
//! issuer); the RFC 8414 metadata lives at the path-inserted well-known URL.
//! CORS (`*`, no credentials) covers the endpoints browser-based MCP clients
//! call directly: metadata, JWKS, registration and token (mcp-interop §1.11).
//! Unknown routes and methods answer in the OAuth JSON error shape: a wrong
//! method is 405 `invalid_request` (RFC 6749 has no code of its own for it)
//! with axum's `Allow` header listing the route's methods (RFC 9110
//! §15.5.6); the OIDC discovery paths are deliberately 404 (we are not an
//! OpenID Provider).

pub mod account;
pub mod authorize;
pub mod body;
pub mod client_auth;
pub mod client_ip;
pub mod error;
pub mod factors;
pub mod introspect;
pub mod jwks;
pub mod metadata;
pub mod ops;
pub mod pages;
pub mod passkeys;
pub mod register;
pub mod revoke;
pub mod session;
pub mod static_files;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::error::{Error, ErrorCode};
use crate::state::AppState;

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(86_400))
        // The policy is the same for every origin and request (`*`, fixed
        // lists), so no answer varies by the request's CORS headers and needs
        // no `Vary`. tower-http's default list would also be cloned into a new
        // Vec, and joined into a new header, on every request (axum clones a
        // route's layers per request).
        .vary([])
}

async fn not_found() -> Error {
    Error::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> Error {
    Error::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    )
}

/// Liveness: the process answers HTTP. Touches nothing else, so it is also the
/// benchmark harness's HTTP floor.
async fn live() -> &'static str {
    "ok"
}

/// The admin listener's router (`--admin-listen`): metrics and the health
/// checks, for operators and probes on a private address.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/health", get(ops::health))
        .route("/health/live", get(live))
        .fallback(not_found)
        .with_state(state)
}

pub fn router(state: Arc<AppState>) -> Router {
    let issuer_path = state.config.issuer.path().to_owned();
    let metadata = bytes::Bytes::from(metadata::document(&state.config));
    let endpoints = Router::new()
        .route("/token", post(token::token))
        .route("/oauth/token", post(token::token))
        .route("/oauth2/token", post(token::token))
        .route("/register", post(register::register))
        .route("/revoke", post(revoke::revoke))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/resource-server/oauth/register", post(register::register))
        .route(
            "/register/{client_id}",
            get(register::manage::read)
                .put(register::manage::update)
                .delete(register::manage::delete),
        )
        .route("/jwks.json", get(jwks::jwks))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::serve(metadata.clone())),
        );
    let well_known = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{issuer_path}"),
            get(metadata::serve(metadata.clone())),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors());
    // No CORS here: the person's pages are navigations, not fetches
    // (mcp-interop §1.7), and introspection, health and metrics are for
    // servers and operators, not browsers.
    let pages = Router::new()
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/oauth/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/authorize/sign-in", post(authorize::sign_in))
        .route("/authorize/second-factor", post(authorize::second_factor))
        .route("/authorize/enrol", post(authorize::enrol))
        .route("/account", get(account::page))
        .route("/account/withdraw", post(account::withdraw))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
        .route("/account/totp/start", post(account::totp::start))
        .route("/account/totp/confirm", post(account::totp::confirm))
        .route("/account/totp/remove", post(account::totp::remove))
        .route(
            "/account/recovery-codes",
            post(account::totp::recovery_codes),
        )
        .route("/account/passkeys/start", post(passkeys::account::start))
        .route("/account/passkeys/finish", post(passkeys::account::finish))
        .route("/account/passkeys/rename", post(passkeys::account::rename))
        .route("/account/passkeys/remove", post(passkeys::account::remove))
        .route("/authorize/passkey/start", post(passkeys::sign_in::start))
        .route("/authorize/passkey/finish", post(passkeys::sign_in::finish))
        .route("/static/passkeys.js", get(static_files::passkeys_script))
        .route(
            "/authorize/continue",
            get(authorize::continue_after_sign_in),
        )
        .route("/authorize/consent", post(authorize::consent))
        .route(
            "/authorize/upstream/callback",
            get(authorize::upstream_callback),
        )
        .route("/authorize/upstream/{id}", get(authorize::upstream_start))
        .route("/static/tessera.css", get(static_files::stylesheet))
        .route("/introspect", post(introspect::introspect))
        .route("/health/live", get(live))
        .route("/health", get(ops::health))
        .method_not_allowed_fallback(method_not_allowed);
    // With an admin listener, metrics are served there only.
    let pages = match state.config.admin_listen {
        Some(_) => pages,
        None => pages.route("/metrics", get(ops::metrics)),
    };
    // The method fallback must be in place before the CORS layer wraps the
    // routes, so that preflight requests are answered by the layer.
    let endpoints = endpoints
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors())
        .merge(pages);
    let app = if issuer_path.is_empty() {
        endpoints
    } else {
        Router::new()
            .nest(&issuer_path, endpoints)
            .merge(well_known)
    };
    app.fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}
