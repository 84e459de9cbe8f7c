//! Several processes on one database (in this process: two apps sharing a
//! database, as two replicas, or a replica and the CLI, would): a change made
//! by one reaches the other within a second, and a removed client is told
//! `invalid_client`, never `invalid_grant`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera::config::EXAMPLE_CONFIG;
use tessera_resource::clock::{FixedClock, SystemClock};

use crate::helpers::*;

/// Follow the change feed for `app`, as `tessera serve` does.
fn follow(app: &TestApp) {
    tokio::spawn(tessera::server::watch::run(app.state.clone()));
}

/// How long it took until `check` held, polled every 10 ms up to 5 s.
async fn time_until(mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(5), "never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_client_removed_by_another_process_is_refused_within_a_second() {
    let a = spawn_app().await;
    follow(&a);
    let (id, secret) = a.machine_client("mcp:tools:weather", &[]).await;
    // Cached by A now; its cache alone would keep it for two seconds.
    assert_eq!(a.client_credentials(&id, &secret).await.status, 200);
    let b = a.reopen(EXAMPLE_CONFIG, Arc::new(SystemClock)).await;
    assert!(b.state.store.remove_client(&id).await.unwrap());
    let took = time_until(async || a.client_credentials(&id, &secret).await.status == 401).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn a_removed_client_is_told_invalid_client_even_while_a_cache_holds_it() {
    // A fixed clock: A's cache entry never expires, and nothing follows the feed.
    let clock = FixedClock::new(1_800_000_000);
    let a = spawn_app_with_clock(EXAMPLE_CONFIG, clock.clone()).await;
    let (client, tokens) = a.person_tokens("mcp:tools:weather").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let b = a.reopen(EXAMPLE_CONFIG, Arc::new(clock.clone())).await;
    assert!(b.state.store.remove_client(&client).await.unwrap());
    a.refresh(&client, &refresh_token)
        .await
        .assert_error(401, "invalid_client");
    // And so is the code of an authorization that raced the removal.
    let client = a.public_client().await;
    let code = a.code(&client, "mcp:tools:weather").await;
    assert!(b.state.store.remove_client(&client).await.unwrap());
    a.exchange(&client, &code)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_key_rotated_by_another_process_is_published_within_a_second() {
    let a = spawn_app().await;
    follow(&a);
    let b = a.reopen(EXAMPLE_CONFIG, Arc::new(SystemClock)).await;
    let now = b.state.clock.now();
    let key = b
        .state
        .keys
        .rotate(&b.state.store, now, false)
        .await
        .unwrap();
    let took = time_until(async || {
        let jwks = String::from_utf8(a.get("/jwks.json").await.body).unwrap();
        jwks.contains(&key.kid)
    })
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
