//! Input strictness through the real router: redirect URIs match as strings,
//! registration refuses odd URIs and uncapped or unsafe fields, resources
//! with odd characters or rewritable forms are `invalid_target`, metadata
//! document URLs refuse encoded dot segments, and wrong methods answer
//! `invalid_request` with 405 and `Allow`.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

use crate::flow::*;
use crate::helpers::*;

/// An error page: 400, HTML, never a redirect.
fn assert_error_page(res: &TestResponse, why: &str) {
    assert_eq!(res.status, 400, "{why}: {}", res.text());
    assert!(res.header("location").is_empty(), "{why}: never a redirect");
    assert!(res.header("content-type").starts_with("text/html"), "{why}");
}

#[tokio::test]
async fn a_registered_loopback_redirect_uri_matches_only_as_a_string_on_any_port() {
    let app = spawn_app().await;
    let client = app.public_client().await; // registered with http://127.0.0.1/callback
    let url = |redirect: &str| {
        let mut u = authorize_url(&client, &[]);
        let from = form(&[("redirect_uri", "http://127.0.0.1:4567/callback")]);
        u = u.replace(&from, &form(&[("redirect_uri", redirect)]));
        u
    };
    for redirect in [
        "http://0x7f.0.0.1/callback",
        "http://2130706433/callback",
        "http://127.1/callback",
        "http:/127.0.0.1/callback",
        "HTTP://127.0.0.1/callback",
        "http://127.0.0.1/x/%2e%2e/callback",
        " http://127.0.0.1/callback",
        "http://127.0.0.1/callback\0",
        "http://127.0.0.1/callback\t",
        "http://127.0.0.1:4567/callback\t",
    ] {
        assert_error_page(&app.get(&url(redirect)).await, &format!("{redirect:?}"));
    }
    let sign_in = app.get(&url("http://127.0.0.1:4567/callback")).await;
    assert_eq!(sign_in.status, 200, "any port: {}", sign_in.text());
}

#[tokio::test]
async fn registration_refuses_odd_uris_unsafe_names_and_uncapped_fields() {
    let app = spawn_app().await;
    let base = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    let with = |k: &str, v: serde_json::Value| {
        let mut d = base.clone();
        d[k] = v;
        d
    };
    let cases = [
        (
            with("redirect_uris", json!(["https://*.example.com/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["https:///cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["http://127.0.0.1/cb\u{0}"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!([" http://127.0.0.1/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["http://127.0.0.1/\u{202e}cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["http://127.1/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("redirect_uris", json!(["HTTP://127.0.0.1/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with("contacts", json!(["a".repeat(60_000)])),
            "invalid_client_metadata",
        ),
        (
            with("client_name", json!("Evil\u{202e}kooB")),
            "invalid_client_metadata",
        ),
        (
            with("client_name", json!("two\nlines")),
            "invalid_client_metadata",
        ),
        (
            with("client_name", json!("n".repeat(201))),
            "invalid_client_metadata",
        ),
        (
            with("client_uri", json!("https://app.example/ x")),
            "invalid_client_metadata",
        ),
        (
            with("tos_uri", json!("https://*.example/tos")),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in cases {
        let res = app.post_json("/register", &body, None).await;
        let shown: String = body.to_string().chars().take(120).collect();
        assert_eq!(res.json()["error"], code, "{shown}");
        res.assert_error(400, code);
    }
}

#[tokio::test]
async fn a_resource_with_odd_characters_or_a_rewritable_form_is_invalid_target() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let client = app.public_client().await;
    for resource in [
        "http://127.1:3000/mcp",
        "http://0x7f.0.0.1:3000/mcp",
        "http:/127.0.0.1:3000/mcp",
        "http://127.0.0.1:3000/x/%2e%2e/mcp",
        " http://127.0.0.1:3000/mcp",
        "http://127.0.0.1:3000/mcp\t",
        "http://127.0.0.1:3000/mcp\u{200f}",
        "http://127.0.0.1:3000/mcp#f",
    ] {
        let body = form(&[("grant_type", "client_credentials"), ("resource", resource)]);
        let res = app.post_form("/token", &body, Some((&id, &secret))).await;
        res.assert_error(400, "invalid_target");
        let res = app
            .get(&authorize_url(&client, &[("resource", resource)]))
            .await;
        // An openly registered client's early error: the page's return link.
        let (_, q) = crate::authorize::early_error_answer(&res, false);
        assert_eq!(param(&q, "error"), Some("invalid_target"), "{resource:?}");
    }
    let body = form(&[("grant_type", "client_credentials"), ("resource", DEMO)]);
    let res = app.post_form("/token", &body, Some((&id, &secret))).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_code_is_not_narrowed_to_a_rewritten_resource() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let client = app.public_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
        ("client_id", &client),
        ("redirect_uri", "http://127.0.0.1:4567/callback"),
        ("resource", "http://2130706433:3000/mcp"),
    ]);
    app.post_form("/token", &body, None)
        .await
        .assert_error(400, "invalid_target");
}

/// Each `(method, path, allowed)` answers 405 `invalid_request` with exactly
/// those methods in `Allow`.
async fn assert_method_refusals(app: &TestApp, cases: &[(Method, &str, &str)]) {
    for (method, path, allow) in cases {
        let req = Request::builder().method(method.clone()).uri(*path);
        let res = app.send(req.body(Body::empty()).unwrap()).await;
        res.assert_error(405, "invalid_request");
        let mut got: Vec<&str> = res.header("allow").split(',').map(str::trim).collect();
        let mut want: Vec<&str> = allow.split(',').collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "Allow of {method} {path}");
    }
}

#[tokio::test]
async fn wrong_methods_answer_invalid_request_with_405_and_allow() {
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/token", "POST"),
        (Method::PUT, "/oauth/token", "POST"),
        (Method::GET, "/register", "POST"),
        (Method::POST, "/register/some-client", "GET,HEAD,PUT,DELETE"),
        (Method::GET, "/revoke", "POST"),
        (Method::GET, "/introspect", "POST"),
        (Method::DELETE, "/authorize", "GET,HEAD,POST"),
        (Method::POST, "/jwks.json", "GET,HEAD"),
        (
            Method::POST,
            "/.well-known/oauth-authorization-server",
            "GET,HEAD",
        ),
        (Method::POST, "/health", "GET,HEAD"),
    ];
    assert_method_refusals(&app, &cases).await;
}

#[tokio::test]
async fn wrong_methods_under_an_issuer_path_carry_allow_too() {
    let toml = format!(
        "issuer = \"https://auth.example.com/tenant\"\n{}",
        tessera::config::EXAMPLE_CONFIG
    );
    let app = spawn_app_with(&toml).await;
    let cases = [
        (Method::GET, "/tenant/token", "POST"),
        (Method::GET, "/tenant/register", "POST"),
        (Method::PATCH, "/tenant/register/x", "GET,HEAD,PUT,DELETE"),
        (Method::GET, "/tenant/revoke", "POST"),
        (Method::GET, "/tenant/introspect", "POST"),
        (
            Method::POST,
            "/.well-known/oauth-authorization-server/tenant",
            "GET,HEAD",
        ),
    ];
    assert_method_refusals(&app, &cases).await;
}
