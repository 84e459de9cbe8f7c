//! Issuer-side rate limits: the token endpoint per client in the flows
//! document's tiers, authorization and sign-in per IP; 429 with the flows
//! document's body, `Retry-After`, `RateLimit-Policy` and `RateLimit`.

use crate::flow::*;
use crate::helpers::*;

/// The example config with some `[rate_limits]` keys set (`key = value` lines).
fn limited(settings: &str) -> String {
    let mut config = tessera::config::EXAMPLE_CONFIG.to_owned();
    for line in settings.lines() {
        let key = line.split(" = ").next().unwrap();
        let old = config
            .lines()
            .find(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} is not in the example config"))
            .to_owned();
        config = config.replacen(&old, line, 1);
    }
    config
}

#[tokio::test]
async fn token_requests_are_limited_per_client_by_scope_tier() {
    let app = spawn_app_with(&limited(
        "token_premium = 3\ntoken_basic = 2\ntoken_default = 1",
    ))
    .await;
    let (premium, ps) = app.machine_client("mcp:tools:*", &[]).await;
    let (plain, s) = app.machine_client("mcp:tools:weather", &[]).await;
    for i in 0..3 {
        let res = app.client_credentials(&premium, &ps).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("ratelimit-policy"), "3;w=900");
        assert!(
            res.header("ratelimit")
                .starts_with(&format!("limit=3, remaining={}, reset=", 2 - i))
        );
    }
    let res = app.client_credentials(&premium, &ps).await;
    res.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        res.json()["error_description"],
        "Too many requests from this client"
    );
    assert!(res.header("retry-after").parse::<u64>().unwrap() > 0);
    assert_eq!(res.header("ratelimit-policy"), "3;w=900");
    assert!(res.header("ratelimit").starts_with("limit=3, remaining=0"));
    assert_eq!(app.client_credentials(&plain, &s).await.status, 200);
    app.client_credentials(&plain, &s)
        .await
        .assert_error(429, "rate_limit_exceeded");
}

#[tokio::test]
async fn an_operator_can_raise_one_clients_limit_and_windows_reset() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(&limited("token_default = 1"), clock.clone()).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    assert_eq!(app.client_credentials(&id, &secret).await.status, 429);
    clock.advance(900);
    assert_eq!(app.client_credentials(&id, &secret).await.status, 200);

    let toml = limited(&format!(
        "token_default = 1\ntoken_per_client = {{ \"{id}\" = 5 }}"
    ));
    // A new window, so that it does not matter whether the restart forgot the
    // last one (memory) or not (a shared counter).
    clock.advance(900);
    let raised = app.reopen(&toml, std::sync::Arc::new(clock.clone())).await;
    for _ in 0..5 {
        assert_eq!(raised.client_credentials(&id, &secret).await.status, 200);
    }
    assert_eq!(raised.client_credentials(&id, &secret).await.status, 429);
}

#[tokio::test]
async fn authorization_and_sign_in_are_limited_per_ip() {
    let app = spawn_app_with(&limited("authorize_per_ip = 2\nsign_in_per_ip = 1")).await;
    let client = app.alice_and_a_client().await;
    let url = authorize_url(&client, &[]);
    let mut b = crate::browser::Browser::new(&app);
    let page = b.get(&url).await;
    assert_eq!(app.get(&url).await.status, 200);
    let res = app.get(&url).await;
    assert_eq!(res.status, 429);
    assert!(res.header("content-type").starts_with("text/html"));
    assert!(res.header("retry-after").parse::<u64>().unwrap() > 0);
    let mut f = crate::browser::Browser::page_form(&page);
    f.set("username", "alice");
    f.set("password", "wrong password");
    assert_eq!(b.submit(&f, None).await.status, 200);
    assert_eq!(b.submit(&f, None).await.status, 429);
}

/// The Redis the shared-limit tests count in, if one answers (else `test`
/// says it skipped).
async fn test_redis(test: &str) -> Option<String> {
    let url = std::env::var("TESSERA_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let addr = url.trim_start_matches("redis://").trim_end_matches('/');
    if tokio::net::TcpStream::connect(addr).await.is_err() {
        skipped(test, "no Redis at TESSERA_TEST_REDIS_URL or 127.0.0.1:6379");
        return None;
    }
    Some(url)
}

/// Two replicas on one database: a client's tier holds for both together.
async fn assert_replicas_share(toml: &str) {
    let a = spawn_app_with(toml).await;
    let b = a
        .reopen(
            toml,
            std::sync::Arc::new(tessera_resource::clock::SystemClock),
        )
        .await;
    let (id, secret) = a.machine_client("mcp:tools:weather", &[]).await;
    for replica in [&a, &b, &a] {
        assert_eq!(replica.client_credentials(&id, &secret).await.status, 200);
    }
    for replica in [&b, &a] {
        replica
            .client_credentials(&id, &secret)
            .await
            .assert_error(429, "rate_limit_exceeded");
    }
}

#[tokio::test]
async fn replicas_on_postgresql_share_every_limit() {
    if crate::database::backend() == crate::database::Backend::Sqlite {
        // One process serves a SQLite database, and counts in memory; the
        // PostgreSQL run of this test is the one that shares.
        return;
    }
    assert_replicas_share(&limited("token_default = 3")).await;
}

#[tokio::test]
async fn replicas_share_every_limit_through_redis() {
    let Some(url) = test_redis("replicas_share_every_limit_through_redis").await else {
        return;
    };
    let toml = limited(&format!("token_default = 3\nredis_url = \"{url}\""));
    assert_replicas_share(&toml).await;
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_start_with_a_clear_error() {
    let db = TestDatabase::new();
    let toml = limited("redis_url = \"redis://127.0.0.1:9\"");
    let config = config_from(&toml, db.url());
    let error = tessera::AppState::build(
        config,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await
    .err()
    .expect("the start must fail");
    assert!(error.to_string().contains("cannot reach Redis"), "{error}");
}

#[tokio::test]
async fn requests_pass_while_redis_is_away() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn();
    let Ok(mut redis) = started else {
        return skipped("requests_pass_while_redis_is_away", "no redis-server");
    };
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let toml = limited(&format!(
        "token_default = 1\nredis_url = \"redis://{addr}\""
    ));
    let app = spawn_app_with(&toml).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    assert_eq!(app.client_credentials(&id, &secret).await.status, 429);

    redis.kill().unwrap();
    redis.wait().unwrap();
    // A window this replica knows to be full still refuses; one it knows
    // nothing of passes, promptly: a limiter is a courtesy.
    assert_eq!(app.client_credentials(&id, &secret).await.status, 429);
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let started = std::time::Instant::now();
    assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Large limits are counted in batches while far from full, then event by
/// event: the replicas learn each other's counts, and the limit holds.
async fn assert_batches_add_up(toml: &str) {
    let a = spawn_app_with(toml).await;
    let b = a
        .reopen(
            toml,
            std::sync::Arc::new(tessera_resource::clock::SystemClock),
        )
        .await;
    let (id, secret) = a.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..75 {
        for replica in [&a, &b] {
            assert_eq!(replica.client_credentials(&id, &secret).await.status, 200);
        }
    }
    // Both flushed (every 100 ms): each sees the other's 75.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let res = a.client_credentials(&id, &secret).await;
    assert_eq!(res.status, 200);
    assert!(
        res.header("ratelimit")
            .starts_with("limit=200, remaining=49,"),
        "{}",
        res.header("ratelimit")
    );
    let mut allowed = 0;
    for _ in 0..30 {
        for replica in [&b, &a] {
            if replica.client_credentials(&id, &secret).await.status == 200 {
                allowed += 1;
            }
        }
    }
    assert_eq!(allowed, 49);
}

#[tokio::test]
async fn replicas_on_postgresql_count_large_limits_in_batches() {
    if crate::database::backend() == crate::database::Backend::Sqlite {
        return;
    }
    assert_batches_add_up(&limited("token_default = 200")).await;
}

#[tokio::test]
async fn replicas_count_large_limits_in_batches_through_redis() {
    let Some(url) = test_redis("replicas_count_large_limits_in_batches_through_redis").await else {
        return;
    };
    assert_batches_add_up(&limited(&format!(
        "token_default = 200\nredis_url = \"{url}\""
    )))
    .await;
}
