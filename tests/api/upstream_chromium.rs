//! The whole upstream chain once in a real headless Chromium: the MCP
//! client's authorization request, Tessera's sign-in page, "Continue with
//! Example Corp", the provider's (oidc-provider's) login form, back to
//! Tessera's consent page, allow, and the client's redirect with a code that
//! the client redeems. Screenshots of each page are saved under the target
//! directory (`screenshots/upstream-*`).
//!
//! Without Node.js, chromium or chromedriver the test says it skipped;
//! under `TESSERA_CI=1` that is a failure.

use std::time::Duration;

use serde_json::json;

use crate::chromium::{Driver, browser_programs, callback_server};
use crate::flow::{CHALLENGE, VERIFIER, param};
use crate::helpers::*;
use crate::node::node_ready;
use crate::upstream::world;

const NAME: &str = "headless_chromium_signs_in_with_the_provider_and_consents";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_signs_in_with_the_provider_and_consents() {
    if !node_ready(NAME) {
        return;
    }
    let Some((chromium, chromedriver)) = browser_programs(NAME) else {
        return;
    };
    let w = world("").await;
    let (port, seen) = callback_server().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let body = json!({"client_name": "MCP Agent", "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"});
    let client = w.app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!(
        "{}/authorize?{}",
        w.base,
        form(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", &redirect),
            ("scope", "mcp:tools:weather"),
            ("state", "chromium"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    let driver = Driver::start(&chromium, &chromedriver).await;
    driver.goto(&url).await;
    driver.screenshot("upstream-1-sign-in").await;
    driver.click("ul.providers a").await;
    driver.screenshot("upstream-2-provider").await;
    driver.type_into("input[name=login]", "alice").await;
    driver.type_into("input[name=password]", "any").await;
    driver.click("button[type=submit]").await;
    driver.screenshot("upstream-3-consent").await;
    assert_eq!(driver.title().await, "Authorize MCP Agent · Tessera");
    driver.click("button[value=allow]").await;
    for _ in 0..50 {
        if seen.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(driver.title().await, "Callback received");
    driver.call("DELETE", "/session/{s}", None).await;

    let query = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the browser reached the callback");
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(param(&q, "state"), Some("chromium"));
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", param(&q, "code").unwrap()),
        ("code_verifier", VERIFIER),
        ("client_id", &client),
        ("redirect_uri", &redirect),
    ]);
    let tokens = w.app.post_form("/token", &body, None).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let (_, claims) = jwt_parts(tokens.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:weather");
    let people = w.app.state.store.list_users().await.unwrap();
    assert_eq!(claims["sub"], people[0].id);
    assert_eq!(people[0].providers, ["corp"]);
}
