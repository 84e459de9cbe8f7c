//! In-process baselines: the raw signing rate of the configured algorithm
//! (ES256) on one core, with the crate's own `Signer` and claims shaped like a
//! real access token, serialized as the token path serializes them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tessera::access_token::json::Claims;
use tessera::keys::{Algorithm, KeyMaterial, Signer};

/// Signatures per second on one thread over `run`.
pub fn signing_rate(run: Duration) -> Result<f64, String> {
    std::thread::spawn(move || sign_loop(run))
        .join()
        .map_err(|_| "the signing baseline panicked".to_owned())?
}

fn sign_loop(run: Duration) -> Result<f64, String> {
    let key = KeyMaterial::generate(Algorithm::Es256).map_err(|e| format!("{e:#}"))?;
    let signer = Signer::new(&key).map_err(|e| format!("{e:#}"))?;
    let claims = claims();
    let started = Instant::now();
    let mut signed: u64 = 0;
    while started.elapsed() < run {
        for _ in 0..32 {
            black_box(
                signer
                    .sign_json(&tessera::access_token::json::claims(black_box(&claims)))
                    .map_err(|e| format!("{e:#}"))?,
            );
        }
        signed += 32;
    }
    Ok(signed as f64 / started.elapsed().as_secs_f64())
}

/// What the token path signs, shaped like a real access token; serialized
/// with `json::claims` as the token path serializes it.
pub fn claims() -> Claims<'static> {
    Claims {
        iss: "http://127.0.0.1:8080",
        sub: "Yk3q2n1hO0m5c4t7b8a9dQ",
        aud: &["http://127.0.0.1:3000/mcp"],
        client_id: "Yk3q2n1hO0m5c4t7b8a9dQ",
        scope: "mcp:tools:weather mcp:tools:calendar:read",
        iat: 1_760_000_000,
        exp: 1_760_000_900,
        jti: "0199a7c25b7e7cc39d6a3f0e2b1c4d5e",
        auth_time: None,
        permissions: &["weather:read", "calendar:events:read"],
    }
}
