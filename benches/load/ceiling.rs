//! The harness's ceiling (issue 7): what a server that does a token request's
//! HTTP work and one signature, and nothing else, reaches against the
//! efficiency model on this machine, in the same run.
//!
//! The efficiency ratio assumes that a token request costs the floor's HTTP
//! work plus one signature, so that their costs simply add. On a 2-core
//! virtual machine shared with the load generator they do not: a slower
//! answer makes the generator sleep and be woken again, and a woken virtual
//! core takes tens of microseconds to run (BENCHMARKS.md, seventh session).
//! Measuring that once with a scratch build left the figure in a document;
//! the ceiling measures it in every run, beside the real token endpoint.
//!
//! The ceiling is this bench binary started again with `--ceiling-server
//! ADDR`: Tessera's own serving code (`tessera::serving`, the same runtime,
//! limits and allocator as `tessera serve`) with two routes and no
//! middleware, no store and no audit trail:
//!
//! - `GET /health/live`: `ok`, its floor;
//! - `POST /token`: reads the form body, checks that the request carries
//!   credentials and a grant type, signs the signing baseline's claims
//!   (serialized per request, as the baseline and the token path do) with an
//!   ES256 key made at start-up, and answers with Tessera's own token response
//!   type (its JSON writer and headers).
//!
//! The harness sends both the very requests it sends Tessera, so the
//! ceiling's efficiency is the most any token path could reach here, and
//! Tessera's token rate over the ceiling's is the share the token path's own
//! work leaves.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera::http::token::TokenResponse;
use tessera::keys::{Algorithm, KeyMaterial, Signer};
use tessera::server::{Limits, Placement};
use tessera_resource::claims::AccessTokenClaims;

use crate::baseline;

/// The first line the ceiling writes to stdout once it is listening.
pub const LISTENING: &str = "ceiling listening on ";

/// The largest token request body the ceiling reads (Tessera's form limit).
const BODY_LIMIT: usize = 64 * 1024;

/// Run the ceiling server on `listen` until SIGTERM (the child's `main`).
pub fn main(listen: SocketAddr) -> ExitCode {
    // `tessera serve` runs on `#[tokio::main]`: a worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(serve(listen)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ceiling: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr) -> Result<(), String> {
    let key = KeyMaterial::generate(Algorithm::Es256).map_err(|e| format!("{e:#}"))?;
    let signer = Signer::new(&key).map_err(|e| format!("{e:#}"))?;
    let state = Arc::new(Signing {
        signer,
        claims: baseline::claims(),
    });
    let router = Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/token", post(token))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // One write; the harness reads it to know the ceiling is up.
    println!("{LISTENING}{listen}");
    tessera::server::serve(
        listener,
        router,
        None,
        Placement::Shared,
        Limits::default(),
        tessera::server::shutdown_signal(),
    )
    .await
    .map_err(|e| format!("{e:#}"))
}

/// The key and the claims the ceiling signs (the signing baseline's).
struct Signing {
    signer: Signer,
    claims: AccessTokenClaims,
}

/// A token request's HTTP work and one signature.
async fn token(State(signing): State<Arc<Signing>>, request: Request) -> Response {
    let credentials = request.headers().contains_key(header::AUTHORIZATION);
    let body = match tessera::http::body::read_limited(request, BODY_LIMIT).await {
        Ok(body) => body,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    if !credentials || !body.starts_with(b"grant_type=") {
        return (
            StatusCode::BAD_REQUEST,
            "credentials and grant_type expected",
        )
            .into_response();
    }
    let claims = &signing.claims;
    let jwt = match signing
        .signer
        .sign_json(&tessera::access_token::json::claims(claims))
    {
        Ok(jwt) => jwt,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    };
    // Tessera's own answer type: the same JSON writer and headers.
    TokenResponse {
        access_token: jwt,
        token_type: "Bearer",
        expires_in: 900,
        scope: claims.scope.clone(),
        refresh_token: None,
    }
    .into_response()
}
