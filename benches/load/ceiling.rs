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
//! ADDR`: Tessera's own serving code (`tessera::server`, the same runtime,
//! limits and allocator as `tessera serve`) with two routes and no
//! middleware, no store and no audit trail:
//!
//! - `GET /health/live`: `ok`, its floor;
//! - `POST /token`: reads the form body, decodes the HTTP Basic credentials
//!   and checks the secret in constant time against a stored keyed hash (the
//!   check every token endpoint must make; its outcome is not used, as the
//!   ceiling knows no client), checks the grant type, signs the signing baseline's claims
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
use tessera::access_token::json::Claims;
use tessera::http::token::TokenResponse;
use tessera::keys::{Algorithm, KeyMaterial, Signer};
use tessera::secrets::SecretHasher;
use tessera::server::{Limits, Placement};

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
    let hasher = SecretHasher::new(b"the ceiling's pepper");
    let state = Arc::new(Signing {
        signer,
        claims: baseline::claims(),
        stored: hasher.hash("a client secret the ceiling stored"),
        hasher,
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

/// The key and the claims the ceiling signs (the signing baseline's), and a
/// secret's keyed hash to check presented secrets against.
struct Signing {
    signer: Signer,
    claims: Claims<'static>,
    hasher: SecretHasher,
    stored: Vec<u8>,
}

/// The secret of `Authorization: Basic …`, decoded.
fn basic_secret(request: &Request) -> Option<String> {
    use base64::Engine;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_owned())
}

/// A token request's HTTP work and one signature.
async fn token(State(signing): State<Arc<Signing>>, request: Request) -> Response {
    let secret = basic_secret(&request);
    let body = match tessera::http::body::read_limited(request, BODY_LIMIT).await {
        Ok(body) => body,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let Some(secret) = secret else {
        return (StatusCode::UNAUTHORIZED, "Basic credentials expected").into_response();
    };
    std::hint::black_box(signing.hasher.verify(&secret, &signing.stored));
    if !body.starts_with(b"grant_type=") {
        return (StatusCode::BAD_REQUEST, "grant_type expected").into_response();
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
        scope: claims.scope.to_owned(),
        refresh_token: None,
    }
    .into_response()
}
