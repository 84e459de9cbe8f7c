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
    let raised = app.reopen(&toml, std::sync::Arc::new(clock.clone())).await;
    for _ in 0..5 {
        assert_eq!(raised.client_credentials(&id, &secret).await.status, 200);
    }
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
