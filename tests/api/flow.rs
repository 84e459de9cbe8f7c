//! The authorization code flow with PKCE, through the real sign-in and
//! consent pages, then code exchange and refresh.

use serde_json::{Value, json};
use url::Url;

use crate::browser::{Browser, Form};
use crate::helpers::*;

pub const PASSWORD: &str = "correct horse battery";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const CALLBACK: &str = "http://127.0.0.1/callback";

pub fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:4567/callback"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", form(&pairs))
}

/// Query parameters of a redirect's Location.
pub fn location(res: &TestResponse) -> (Url, Vec<(String, String)>) {
    let url = Url::parse(res.header("location"))
        .unwrap_or_else(|_| panic!("no absolute Location: {}", res.status));
    let q = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (url, q)
}

pub fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Sign in on the real page; returns the response after following the 303.
pub async fn sign_in(b: &mut Browser<'_>, start: &TestResponse, user: &str) -> TestResponse {
    assert_eq!(
        start.status,
        200,
        "sign-in page: {}",
        String::from_utf8_lossy(&start.body)
    );
    let mut f = Browser::page_form(start);
    f.set("username", user);
    f.set("password", PASSWORD);
    let res = b.submit(&f, None).await;
    assert_eq!(
        res.status,
        303,
        "sign-in answers 303: {}",
        String::from_utf8_lossy(&res.body)
    );
    b.get(res.header("location")).await
}

/// The sign-in form of a fresh authorization for `client`, filled in for
/// Alice with `password`.
pub async fn sign_in_form(b: &mut Browser<'_>, client: &str, password: &str) -> Form {
    let page = b.get(&authorize_url(client, &[])).await;
    let mut f = Browser::page_form(&page);
    f.set("username", "alice");
    f.set("password", password);
    f
}

/// From an authorization URL to a code, allowing everything but `untick`.
pub async fn get_code(b: &mut Browser<'_>, url: &str, untick: &[&str]) -> String {
    let mut page = b.get(url).await;
    if page.status == 302 {
        // Signed in, consent remembered: straight back with a code.
        return param(&location(&page).1, "code")
            .expect("a code")
            .to_owned();
    }
    if Browser::page_form(&page)
        .fields
        .iter()
        .any(|(n, _)| n == "password")
    {
        page = sign_in(b, &page, "alice").await;
    }
    let mut f = Browser::page_form(&page);
    for s in untick {
        f.untick(s);
    }
    let res = b.submit(&f, Some("allow")).await;
    assert_eq!(res.status, 303);
    let (_, q) = location(&res);
    param(&q, "code").expect("a code").to_owned()
}

impl TestApp {
    /// A person named `name` with the password [`PASSWORD`]; returns their id.
    pub async fn add_user(&self, name: &str) -> String {
        tessera::users::add(
            &self.state.store,
            &self.state.passwords,
            name,
            PASSWORD.into(),
            0,
        )
        .await
        .unwrap()
    }

    /// Register a public client the way MCP Inspector does; returns its id.
    pub async fn public_client(&self) -> String {
        let body = json!({"client_name": "Calendar Agent", "redirect_uris": [CALLBACK],
                          "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
                          "client_uri": "https://agent.example.com"});
        self.post_json("/register", &body, None).await.json()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Alice, and a public client for her to authorize; returns its id.
    pub async fn alice_and_a_client(&self) -> String {
        self.add_user("alice").await;
        self.public_client().await
    }

    /// A code for Alice's grant of `scope` to `client`, through the real
    /// sign-in and consent pages (in a browser of its own).
    pub async fn code(&self, client: &str, scope: &str) -> String {
        let mut b = Browser::new(self);
        get_code(&mut b, &authorize_url(client, &[("scope", scope)]), &[]).await
    }

    /// Alice's tokens for `client` and `scope`: [`TestApp::code`], redeemed.
    pub async fn tokens(&self, client: &str, scope: &str) -> Value {
        let code = self.code(client, scope).await;
        let res = self.exchange(client, &code).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()
    }

    /// [`TestApp::alice_and_a_client`], then [`TestApp::tokens`]: the client
    /// and its first tokens.
    pub async fn person_tokens(&self, scope: &str) -> (String, Value) {
        let client = self.alice_and_a_client().await;
        let tokens = self.tokens(&client, scope).await;
        (client, tokens)
    }

    /// Redeem `code` at the token endpoint, as the public client does.
    pub async fn exchange(&self, client_id: &str, code: &str) -> TestResponse {
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
            ("redirect_uri", "http://127.0.0.1:4567/callback"),
        ]);
        self.post_form("/token", &body, None).await
    }

    /// Refresh `token` at the token endpoint, as the public client does.
    pub async fn refresh(&self, client_id: &str, token: &str) -> TestResponse {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ]);
        self.post_form("/token", &body, None).await
    }
}

#[tokio::test]
async fn a_person_signs_in_consents_to_a_subset_and_the_client_gets_tokens() {
    let app = spawn_app().await;
    let user_id = app.add_user("alice").await;
    let client = app.public_client().await;
    let mut b = Browser::new(&app);
    let scope = "mcp:tools:calendar:read mcp:tools:calendar:write mcp:tools:weather";
    let first = b
        .get(&authorize_url(
            &client,
            &[("scope", scope), ("resource", DEMO)],
        ))
        .await;
    assert!(
        first.header("set-cookie").contains("HttpOnly")
            && first.header("set-cookie").contains("SameSite=Lax")
    );
    assert_eq!(first.header("x-frame-options"), "DENY");
    assert!(
        first
            .header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(first.header("cache-control"), "no-store");
    assert!(
        first.header("access-control-allow-origin").is_empty(),
        "no CORS on /authorize"
    );

    let consent = sign_in(&mut b, &first, "alice").await;
    let html = String::from_utf8(consent.body.clone()).unwrap();
    assert!(
        html.contains("Calendar Agent")
            && html.contains("agent.example.com")
            && html.contains("127.0.0.1")
    );
    assert!(
        html.contains("Create and change your calendar events"),
        "catalog descriptions are shown"
    );
    let mut f = Browser::page_form(&consent);
    assert_eq!(f.checkboxes.len(), 3);
    f.untick("mcp:tools:calendar:write");
    let res = b.submit(&f, Some("allow")).await;
    assert_eq!(res.status, 303, "never 307 after a POST");
    let (url, q) = location(&res);
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        "http://127.0.0.1:4567/callback",
        "the port sent is kept"
    );
    assert_eq!(param(&q, "state"), Some("xyz"));
    assert_eq!(param(&q, "iss"), Some(ISSUER));
    let code = param(&q, "code").unwrap();

    let tokens = app.exchange(&client, code).await;
    assert_eq!(
        tokens.status,
        200,
        "{}",
        String::from_utf8_lossy(&tokens.body)
    );
    let t = tokens.json();
    assert_eq!(t["scope"], "mcp:tools:calendar:read mcp:tools:weather");
    assert_eq!(
        t["refresh_token"].as_str().unwrap().len(),
        51,
        "time prefix + 256 random bits"
    );
    let (_, claims) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["client_id"], client.as_str());
    assert_eq!(claims["aud"], DEMO);
    assert!(claims["auth_time"].is_i64());
}

#[tokio::test]
async fn remembered_consent_skips_the_page_and_step_up_asks_only_for_what_is_new() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    get_code(
        &mut b,
        &authorize_url(&client, &[("scope", "mcp:tools:weather")]),
        &[],
    )
    .await;

    // Same request again: straight back with a code (302, no page).
    let again = b
        .get(&authorize_url(&client, &[("scope", "mcp:tools:weather")]))
        .await;
    assert_eq!(again.status, 302);
    assert!(param(&location(&again).1, "code").is_some());

    // Step-up: only the new scope is a checkbox, the old one is listed as allowed.
    let up = b
        .get(&authorize_url(
            &client,
            &[("scope", "mcp:tools:weather mcp:tools:email:send")],
        ))
        .await;
    assert_eq!(up.status, 200);
    let f = Browser::page_form(&up);
    assert_eq!(
        f.checkboxes
            .iter()
            .map(|c| c.1.as_str())
            .collect::<Vec<_>>(),
        ["mcp:tools:email:send"]
    );
    let res = b.submit(&f, Some("allow")).await;
    let code = param(&location(&res).1, "code").unwrap().to_owned();
    let t = app.exchange(&client, &code).await.json();
    assert_eq!(t["scope"], "mcp:tools:weather mcp:tools:email:send");

    // prompt=consent shows the page even though everything is remembered.
    let forced = b
        .get(&authorize_url(
            &client,
            &[("scope", "mcp:tools:weather"), ("prompt", "consent")],
        ))
        .await;
    assert_eq!(forced.status, 200);
}

#[tokio::test]
async fn denying_consent_redirects_access_denied_with_state_and_iss() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let first = b.get(&authorize_url(&client, &[])).await;
    let consent = sign_in(&mut b, &first, "alice").await;
    let res = b.submit(&Browser::page_form(&consent), Some("deny")).await;
    assert_eq!(res.status, 303);
    let (_, q) = location(&res);
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("xyz"));
    assert_eq!(param(&q, "iss"), Some(ISSUER));
}

#[tokio::test]
async fn no_scope_means_the_resources_default_scopes() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let first = b.get(&authorize_url(&client, &[])).await;
    let consent = sign_in(&mut b, &first, "alice").await;
    let f = Browser::page_form(&consent);
    let offered: Vec<&str> = f.checkboxes.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(
        offered,
        [
            "mcp:tools:weather",
            "mcp:tools:calendar:read",
            "mcp:tools:calendar:write",
            "mcp:tools:email:send"
        ]
    );
}

#[tokio::test]
async fn a_code_works_once_and_its_replay_revokes_the_refresh_family() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    let first = app.exchange(&client, &code).await.json();
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    let (_, claims) = jwt_parts(first["access_token"].as_str().unwrap());
    assert!(
        !app.state
            .store
            .is_revoked(claims["jti"].as_str().unwrap())
            .await
            .unwrap()
    );
    app.exchange(&client, &code)
        .await
        .assert_error(400, "invalid_grant");
    app.refresh(&client, &rt)
        .await
        .assert_error(400, "invalid_grant");
    assert!(
        app.state
            .store
            .is_revoked(claims["jti"].as_str().unwrap())
            .await
            .unwrap(),
        "the first use's access token is on the revocation list"
    );
}

#[tokio::test]
async fn pkce_and_redirect_uri_mismatches_are_invalid_grant() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:weather")]);
    let cases: [(&str, &str, &str); 3] = [
        (
            "wrong verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            "http://127.0.0.1:4567/callback",
        ),
        (
            "malformed verifier",
            "short",
            "http://127.0.0.1:4567/callback",
        ),
        ("other port", VERIFIER, "http://127.0.0.1:9999/callback"),
    ];
    for (why, verifier, redirect) in cases {
        let code = get_code(&mut b, &url, &[]).await;
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier),
            ("client_id", &client),
            ("redirect_uri", redirect),
        ]);
        let res = app.post_form("/token", &body, None).await;
        assert_eq!(res.json()["error"], "invalid_grant", "{why}");
        // The failed attempt consumed the code.
        app.exchange(&client, &code)
            .await
            .assert_error(400, "invalid_grant");
    }
    let code = get_code(&mut b, &url, &[]).await;
    let no_verifier = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("client_id", &client),
    ]);
    app.post_form("/token", &no_verifier, None)
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_code_expires_after_its_lifetime() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let client = app.alice_and_a_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    clock.advance(61);
    app.exchange(&client, &code)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn another_client_cannot_redeem_a_code() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let thief = app.public_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    app.exchange(&thief, &code)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        app.exchange(&client, &code).await.status,
        200,
        "the thief's attempt did not burn the code"
    );
}

#[tokio::test]
async fn a_confidential_client_authenticates_at_the_token_endpoint() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let reg = json!({"client_name": "claude.ai", "redirect_uris": [CALLBACK],
                     "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "client_secret_post"});
    let c: Value = app.post_json("/register", &reg, None).await.json();
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let mut b = Browser::new(&app);
    let code = get_code(
        &mut b,
        &authorize_url(id, &[("scope", "mcp:tools:weather")]),
        &[],
    )
    .await;
    // No secret: refused, and the code survives for the real attempt.
    app.exchange(id, &code)
        .await
        .assert_error(401, "invalid_client");
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
        ("redirect_uri", "http://127.0.0.1:4567/callback"),
    ]);
    assert_eq!(
        app.post_form("/token", &body, Some((id, secret)))
            .await
            .status,
        200
    );
}
