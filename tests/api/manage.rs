//! RFC 7592 registration management, registration rate limits and pruning.

use serde_json::{Value, json};
use tessera_resource::clock::{Clock, FixedClock};

use crate::flow::*;
use crate::helpers::*;

pub async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> TestResponse {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    app.send(req.body(axum::body::Body::from(body)).unwrap())
        .await
}

async fn register(app: &TestApp) -> Value {
    let body = json!({"client_name": "Inspector", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]});
    app.post_json("/register", &body, None).await.json()
}

fn path_of(c: &Value) -> String {
    c["registration_client_uri"]
        .as_str()
        .unwrap()
        .trim_start_matches(ISSUER)
        .to_owned()
}

#[tokio::test]
async fn a_registration_can_be_read_updated_and_deleted_with_its_token() {
    let app = spawn_app().await;
    let c = register(&app).await;
    let id = c["client_id"].as_str().unwrap();
    assert_eq!(
        c["registration_client_uri"],
        format!("{ISSUER}/register/{id}")
    );
    let rat = c["registration_access_token"].as_str().unwrap();
    let path = path_of(&c);

    let read = send(&app, "GET", &path, Some(rat), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["client_name"], "Inspector");
    assert!(
        read.json().get("registration_access_token").is_none(),
        "the token is shown only at creation"
    );

    let mut update = read.json();
    update["client_name"] = json!("Inspector 2");
    update["redirect_uris"] = json!([CALLBACK, "http://localhost:6274/oauth/callback"]);
    let res = send(&app, "PUT", &path, Some(rat), Some(&update)).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert_eq!(stored.metadata.client_name.as_deref(), Some("Inspector 2"));
    assert_eq!(stored.metadata.redirect_uris.len(), 2);
    // Every update rotates the registration access token.
    let rotated = res.json()["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, rat);
    send(&app, "GET", &path, Some(rat), None)
        .await
        .assert_error(401, "invalid_token");
    send(&app, "PUT", &path, Some(rat), Some(&update))
        .await
        .assert_error(401, "invalid_token");

    assert_eq!(
        send(&app, "DELETE", &path, Some(&rotated), None)
            .await
            .status,
        204
    );
    send(&app, "GET", &path, Some(&rotated), None)
        .await
        .assert_error(401, "invalid_token");
    let token = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", id),
    ]);
    app.post_form("/token", &token, None)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn management_refuses_wrong_tokens_and_bad_updates() {
    let app = spawn_app().await;
    let a = register(&app).await;
    let b = register(&app).await;
    let (path, rat) = (
        path_of(&a),
        a["registration_access_token"].as_str().unwrap(),
    );
    send(&app, "GET", &path, None, None)
        .await
        .assert_error(401, "invalid_token");
    send(&app, "GET", &path, Some("wrong"), None)
        .await
        .assert_error(401, "invalid_token");
    send(
        &app,
        "GET",
        &path,
        b["registration_access_token"].as_str(),
        None,
    )
    .await
    .assert_error(401, "invalid_token");
    send(&app, "GET", "/register/no-such-client", Some(rat), None)
        .await
        .assert_error(401, "invalid_token");
    let (admin, _) = app.machine_client("mcp:tools:weather", &[]).await;
    send(&app, "GET", &format!("/register/{admin}"), Some(rat), None)
        .await
        .assert_error(401, "invalid_token");

    let mut body = a.clone();
    body.as_object_mut().unwrap().remove("client_id");
    send(&app, "PUT", &path, Some(rat), Some(&body))
        .await
        .assert_error(400, "invalid_request");
    let mut body = a.clone();
    body["redirect_uris"] = json!(["http://evil.example/cb"]);
    send(&app, "PUT", &path, Some(rat), Some(&body))
        .await
        .assert_error(400, "invalid_redirect_uri");
    let mut body = a.clone();
    body["token_endpoint_auth_method"] = json!("client_secret_basic");
    send(&app, "PUT", &path, Some(rat), Some(&body))
        .await
        .assert_error(400, "invalid_client_metadata");
}

#[tokio::test]
async fn registration_is_rate_limited_per_ip_with_retry_after() {
    let toml =
        tessera::config::EXAMPLE_CONFIG.replace("rate_limit_burst = 60", "rate_limit_burst = 3");
    let app = spawn_app_with(&toml).await;
    for _ in 0..3 {
        assert!(register(&app).await.get("client_id").is_some());
    }
    let body = json!({"redirect_uris": [CALLBACK]});
    let res = app.post_json("/register", &body, None).await;
    res.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        res.json()["error_description"],
        "Too many requests from this client"
    );
    assert!(res.header("retry-after").parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn registrations_never_used_are_pruned_and_used_ones_kept() {
    let clock = FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    app.add_user("alice").await;
    let unused = register(&app).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let used = app.public_client().await;
    let mut b = crate::browser::Browser::new(&app);
    get_code(
        &mut b,
        &authorize_url(&used, &[("scope", "mcp:tools:weather")]),
        &[],
    )
    .await;
    let (machine, _) = app.machine_client("mcp:tools:weather", &[]).await;
    clock.advance(31 * 86_400);
    let pruned = app
        .state
        .store
        .prune_unused_clients(clock.now() - 30 * 86_400)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(
        app.state
            .store
            .find_client(&unused)
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.state.store.find_client(&used).await.unwrap().is_some());
    assert!(
        app.state
            .store
            .find_client(&machine)
            .await
            .unwrap()
            .is_some(),
        "admin clients are never pruned"
    );
}
