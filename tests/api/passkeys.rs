//! Passkeys in a real headless Chromium with its virtual authenticator
//! (DevTools `WebAuthn.addVirtualAuthenticator`: resident keys, user
//! verification): Alice registers one on the account page, then signs in
//! with it alone, no username typed, in an MCP client's authorization, and
//! the client gets her tokens. Screenshots of the account page at desktop
//! and phone width are saved under the target directory.

use std::time::Duration;

use serde_json::json;
use tessera::config::EXAMPLE_CONFIG;

use crate::chromium::{Driver, browser_programs, callback_server};
use crate::flow::*;
use crate::helpers::*;
use crate::second_factors::events;

const NAME: &str = "a_passkey_registered_on_the_account_page_signs_in_alone_in_chromium";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_on_the_account_page_signs_in_alone_in_chromium() {
    let Some((chromium, chromedriver)) = browser_programs(NAME) else {
        return;
    };
    // Browsers take no IP address as a relying party id: a localhost issuer
    // (any port, as a loopback issuer is for development).
    let toml = format!("issuer = \"http://localhost:8080\"\n{EXAMPLE_CONFIG}");
    let app = spawn_app_with(&toml).await;
    assert!(
        app.state.passkeys.is_some(),
        "a localhost issuer has passkeys"
    );
    let alice = app.add_user("alice").await;
    let client = app.public_client().await;
    let base = app.serve_tcp().await.replace("127.0.0.1", "localhost");
    let (port, seen) = callback_server().await;

    let driver = Driver::start(&chromium, &chromedriver).await;
    driver.cdp("WebAuthn.enable", json!({})).await;
    let options = json!({"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
        "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true,
    }});
    driver
        .cdp("WebAuthn.addVirtualAuthenticator", options)
        .await;

    driver.goto(&format!("{base}/account")).await;
    driver.type_into("input[name=username]", "alice").await;
    driver.type_into("input[name=password]", PASSWORD).await;
    driver.click("form button[type=submit]").await;
    driver.wait_for_text("Name for the new passkey").await;
    driver.type_into("#passkey-name", "Test laptop").await;
    driver.click("#passkey-add button[type=submit]").await;
    let page = driver.wait_for_text("Passkey added").await;
    assert!(page.contains("Test laptop"), "{page}");
    let stored = app.state.store.passkeys_of(&alice).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "Test laptop");
    let users = app.state.store.list_users().await.unwrap();
    assert!(
        users
            .iter()
            .any(|u| u.username == "alice" && u.passkeys == 1 && !u.totp)
    );
    driver.window(1280, 1400).await;
    driver.screenshot("account-desktop").await;
    driver.window(390, 2400).await;
    driver.screenshot("account-phone").await;

    // Signed out, in an MCP client's authorization: the passkey alone.
    driver.delete_cookies().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let url = format!(
        "{base}/authorize?{}",
        form(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", &redirect),
            ("scope", "mcp:tools:weather"),
            ("state", "passkey"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    driver.goto(&url).await;
    driver.wait_for_text("Sign in with a passkey").await;
    driver.screenshot("passkey-sign-in").await;
    driver.click("#passkey-sign-in button[type=submit]").await;
    driver.wait_for_text("value=\"allow\"").await;
    driver.screenshot("passkey-consent").await;
    driver.click("button[value=allow]").await;
    for _ in 0..100 {
        if seen.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let query = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the callback was reached");
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(param(&q, "state"), Some("passkey"));
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", param(&q, "code").unwrap()),
        ("code_verifier", VERIFIER),
        ("client_id", &client),
        ("redirect_uri", &redirect),
    ]);
    let tokens = app.post_form("/token", &body, None).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let (_, claims) = jwt_parts(tokens.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());

    let methods: Vec<_> = events(&app, "sign_in_succeeded")
        .await
        .into_iter()
        .map(|e| e["method"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(methods, ["password", "passkey"]);
    assert_eq!(events(&app, "passkey_registered").await.len(), 1);
    let used = app.state.store.passkeys_of(&alice).await.unwrap();
    assert!(used[0].last_used_at.is_some());

    // Disabled, the passkey no longer signs Alice in.
    let now = app.state.clock.now();
    app.state
        .store
        .set_user_disabled("alice", true, now)
        .await
        .unwrap();
    driver.delete_cookies().await;
    driver.goto(&url).await;
    driver.wait_for_text("Sign in with a passkey").await;
    driver.click("#passkey-sign-in button[type=submit]").await;
    driver.wait_for_text("This account is disabled").await;
    driver.call("DELETE", "/session/{s}", None).await;
    let refused = events(&app, "sign_in_refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["method"], "passkey");
}

#[tokio::test]
async fn passkey_ceremonies_refuse_forged_csrf_tokens_and_unknown_ceremonies() {
    let toml = format!("issuer = \"http://localhost:8080\"\n{EXAMPLE_CONFIG}");
    let app = spawn_app_with(&toml).await;
    app.add_user("alice").await;
    let mut b = crate::browser::Browser::new(&app);
    let page = crate::second_factors::account_sign_in(&mut b).await;
    assert!(page.text().contains("/static/passkeys.js"));
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let cookie = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let post = |path: &'static str, body: serde_json::Value| {
        let req = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .header("cookie", cookie.clone())
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        app.send(req)
    };
    let forged = post("/account/passkeys/start", json!({"csrf_token": "forged"})).await;
    assert_eq!(forged.status, 403);
    let token = crate::browser::forms(&page.text())
        .into_iter()
        .find_map(|f| {
            f.fields
                .into_iter()
                .find(|(n, _)| n == "csrf_token")
                .map(|(_, v)| v)
        })
        .unwrap();
    let started = post("/account/passkeys/start", json!({"csrf_token": token})).await;
    assert_eq!(started.status, 200, "{}", started.text());
    let options = &started.json()["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    // An answer to a ceremony that does not exist is refused (and a real
    // one is spent by its first answer: see the Chromium test).
    let bogus = json!({"csrf_token": token, "ceremony": "nope", "name": "x", "credential": {
        "id": "AA", "rawId": "AA", "type": "public-key", "extensions": {},
        "response": {"attestationObject": "AA", "clientDataJSON": "AA"}}});
    let refused = post("/account/passkeys/finish", bogus).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    // With an IP-address issuer there are no passkeys at all.
    let plain = spawn_app().await;
    assert!(plain.state.passkeys.is_none());
    let res = plain
        .post_json("/authorize/passkey/start", &json!({}), None)
        .await;
    assert_eq!(res.status, 404);
}
