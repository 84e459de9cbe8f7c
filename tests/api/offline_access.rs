//! `offline_access` (SEP-2207): listed in metadata; a refresh token for a
//! client registered for `refresh_token` that asked for it, none for one
//! that knows the scope and did not, today's behaviour for a client that
//! does not know it; shown on the consent page in plain words; never in an
//! access token. (The TypeScript SDK client asks for it in `interop`.)

use serde_json::json;

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

/// A public client registered for both grants, with `scope` if given.
async fn client(app: &TestApp, scope: Option<&str>) -> String {
    let mut body = json!({"client_name": "Agent", "redirect_uris": [CALLBACK],
                          "grant_types": ["authorization_code", "refresh_token"],
                          "token_endpoint_auth_method": "none"});
    if let Some(s) = scope {
        body["scope"] = json!(s);
    }
    let res = app.post_json("/register", &body, None).await;
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["client_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn metadata_lists_offline_access() {
    let app = spawn_app().await;
    let doc = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
}

#[tokio::test]
async fn asking_for_offline_access_gets_a_refresh_token_and_an_access_token_without_it() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let id = client(&app, Some("mcp:tools:weather offline_access")).await;
    let tokens = app.tokens(&id, "mcp:tools:weather offline_access").await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    assert_eq!(tokens["scope"], "mcp:tools:weather");
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:weather");
    let refreshed = app
        .refresh(&id, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(refreshed.json()["scope"], "mcp:tools:weather");
}

#[tokio::test]
async fn a_client_that_knows_offline_access_and_does_not_ask_gets_no_refresh_token() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let id = client(&app, Some("mcp:tools:weather offline_access")).await;
    let tokens = app.tokens(&id, "mcp:tools:weather").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn a_client_that_does_not_know_offline_access_keeps_todays_behaviour() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let id = client(&app, None).await;
    let tokens = app.tokens(&id, "mcp:tools:weather").await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
}

#[tokio::test]
async fn a_client_not_registered_for_refresh_gets_none_even_when_asking() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let body = json!({"client_name": "Agent", "redirect_uris": [CALLBACK],
                      "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"});
    let id = app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app.tokens(&id, "mcp:tools:weather offline_access").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn the_consent_page_says_stay_connected_when_you_are_away() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let id = client(&app, None).await;
    let mut b = Browser::new(&app);
    let start = b
        .get(&authorize_url(
            &id,
            &[("scope", "mcp:tools:weather offline_access")],
        ))
        .await;
    let consent = sign_in(&mut b, &start, "alice").await;
    let page = consent.text();
    assert!(page.contains("Stay connected when you are away"), "{page}");
    assert!(
        page.contains("value=\"offline_access\""),
        "a box of its own"
    );
}
