//! Every way a token request can be wrong, and the RFC 6749 §5.2 answer it gets.

use axum::body::Body;
use axum::http::Request;

use crate::helpers::*;

#[tokio::test]
async fn bad_client_authentication_is_401_invalid_client_with_a_challenge() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let cc = "grant_type=client_credentials";
    type Case<'a> = (&'a str, String, Option<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong secret (Basic)",
            cc.into(),
            Some((&id, "not-the-secret")),
        ),
        (
            "wrong secret (post)",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "x"),
            ]),
            None,
        ),
        (
            "unknown client",
            cc.into(),
            Some(("no-such-client", &secret)),
        ),
        ("no authentication at all", cc.into(), None),
        (
            "confidential client without its secret",
            form(&[("grant_type", "client_credentials"), ("client_id", &id)]),
            None,
        ),
    ];
    for (why, body, basic) in cases {
        let res = app.post_form("/token", &body, basic).await;
        res.assert_error(401, "invalid_client");
        assert!(
            res.header("www-authenticate").starts_with("Basic"),
            "{why}: challenge"
        );
        assert_eq!(res.header("cache-control"), "no-store", "{why}");
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_invalid_client() {
    let app = spawn_app().await;
    for value in [
        "Basic !!!notbase64",
        "Basic bm9jb2xvbg==",
        "Bearer abc",
        "Basic",
    ] {
        let req = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", value)
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        app.send(req).await.assert_error(401, "invalid_client");
    }
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    // Python's SDK URL-encodes each half before base64; our ids are unreserved, so
    // encode a character that changes nothing when decoded ('-' as %2D), if present.
    let encoded_id = id.replace('-', "%2D").replace('_', "%5F");
    let res = app.client_credentials(&encoded_id, &secret).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let auth = Some((id.as_str(), secret.as_str()));
    let cases = [
        ("no grant_type", "scope=mcp:tools:weather".to_string()),
        ("empty grant_type", "grant_type=".to_string()),
        (
            "repeated grant_type",
            "grant_type=client_credentials&grant_type=client_credentials".to_string(),
        ),
        (
            "repeated scope",
            "grant_type=client_credentials&scope=a&scope=b".to_string(),
        ),
        (
            "Basic plus body secret",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ]),
        ),
        (
            "Basic plus another client_id",
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
            ]),
        ),
    ];
    for (why, body) in cases {
        let res = app.post_form("/token", &body, auth).await;
        assert_eq!(res.json()["error"], "invalid_request", "{why}");
        res.assert_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn wrong_content_types_and_oversized_bodies_are_invalid_request() {
    let app = spawn_app().await;
    let json = Request::post("/token")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    app.send(json).await.assert_error(400, "invalid_request");
    let none = Request::post("/token")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    app.send(none).await.assert_error(400, "invalid_request");
    let huge = format!("grant_type=client_credentials&pad={}", "x".repeat(100_000));
    app.post_form("/token", &huge, None)
        .await
        .assert_error(400, "invalid_request");
    let binary = Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(vec![0xff, 0xfe, 0x00, b'=', 0x80]))
        .unwrap();
    app.send(binary).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn grant_level_refusals_carry_the_right_code() {
    let app = spawn_app().await;
    let (id, secret) = app
        .machine_client("mcp:tools:weather mcp:tools:inventory:check", &[])
        .await;
    let auth = Some((id.as_str(), secret.as_str()));
    let cases = [
        (
            "unknown grant",
            "grant_type=password",
            400,
            "unsupported_grant_type",
        ),
        (
            "device grant",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
            400,
            "unsupported_grant_type",
        ),
        (
            "scope outside the client",
            "grant_type=client_credentials&scope=mcp%3Atools%3Acalendar%3Aread",
            400,
            "invalid_scope",
        ),
        (
            "scope unknown to the catalog",
            "grant_type=client_credentials&scope=mcp%3Atools%3Anope",
            400,
            "invalid_scope",
        ),
        (
            "malformed scope",
            "grant_type=client_credentials&scope=mcp%3Atools",
            400,
            "invalid_scope",
        ),
        (
            "scope the resource does not accept",
            "grant_type=client_credentials&scope=mcp%3Atools%3Ainventory%3Acheck&resource=http%3A%2F%2F127.0.0.1%3A3000%2Fmcp",
            400,
            "invalid_scope",
        ),
        (
            "unknown resource",
            "grant_type=client_credentials&resource=https%3A%2F%2Fevil.example",
            400,
            "invalid_target",
        ),
        (
            "relative resource",
            "grant_type=client_credentials&resource=%2Fmcp",
            400,
            "invalid_target",
        ),
        (
            "resource with fragment",
            "grant_type=client_credentials&resource=http%3A%2F%2F127.0.0.1%3A3000%2Fmcp%23x",
            400,
            "invalid_target",
        ),
        (
            "unknown audience",
            "grant_type=client_credentials&audience=https%3A%2F%2Fevil.example",
            400,
            "invalid_target",
        ),
    ];
    for (why, body, status, code) in cases {
        let res = app.post_form("/token", body, auth).await;
        assert_eq!(res.json()["error"], code, "{why}");
        res.assert_error(status, code);
    }
}

#[tokio::test]
async fn a_client_without_the_grant_is_unauthorized_client() {
    let app = spawn_app().await;
    let reg = serde_json::json!({"redirect_uris": ["http://localhost/cb"], "client_name": "person-facing"});
    let client = app.post_json("/register", &reg, None).await.json();
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let res = app.client_credentials(id, secret).await;
    res.assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn a_removed_client_is_refused_at_once() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    assert!(app.state.store.remove_client(&id).await.unwrap());
    app.client_credentials(&id, &secret)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_in_json() {
    let app = spawn_app().await;
    app.get("/token").await.assert_error(405, "invalid_request");
    app.get("/no/such/thing")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_client_removed_by_another_process_is_refused_within_the_cache_lifetime() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    // Another process deletes the row behind this server's back.
    app.execute("DELETE FROM clients WHERE id = ?", &[Param::Text(&id)])
        .await;
    clock.advance(tessera::store::client_cache::TTL);
    app.client_credentials(&id, &secret)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_missing_grant_type_is_reported_before_missing_credentials() {
    let app = spawn_app().await;
    let res = app
        .post_form("/token", "scope=mcp:tools:weather", None)
        .await;
    res.assert_error(400, "invalid_request");
    // With a grant type, the missing credentials are the error.
    let res = app
        .post_form("/token", "grant_type=client_credentials", None)
        .await;
    res.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_token_request_whose_body_stalls_is_invalid_request_after_the_limit() {
    let app = spawn_app().await;
    // Announces 100 bytes of form, sends 29, then waits.
    let answer = app
        .post_stalled_form("/token", "grant_type=client_credentials")
        .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["error"], "invalid_request");
    assert_eq!(
        error["error_description"],
        "the request body did not arrive within 300ms"
    );
}
