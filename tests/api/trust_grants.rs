//! Issue 21's grant and consent findings, each as the attack that used to
//! work: consent per resource, an administrator's audience binding on every
//! grant, registration management that cannot widen, the rate-limit tier of
//! an openly registered client, and no open redirector.

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

/// Consent for a scope at one MCP server yields no token for another without
/// the consent page (it used to: the consents table had no resource).
#[tokio::test]
async fn consent_at_one_resource_does_not_carry_over_to_another() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let at_demo = authorize_url(
        &client,
        &[("scope", "mcp:tools:weather"), ("resource", DEMO)],
    );
    get_code(&mut b, &at_demo, &[]).await;
    // The same scope at the other server: the person is asked.
    let at_other = authorize_url(
        &client,
        &[("scope", "mcp:tools:weather"), ("resource", FLOWS_RS)],
    );
    let page = b.get(&at_other).await;
    assert_eq!(page.status, 200, "the consent page, not a code");
    assert!(
        page.text().contains("Your MCP server"),
        "it names the server"
    );
    let code = get_code(&mut b, &at_other, &[]).await;
    let token = app.exchange(&client, &code).await.json();
    let (_, claims) = jwt_parts(token["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], FLOWS_RS);
    // Both are remembered now: no page for either.
    assert_eq!(b.get(&at_demo).await.status, 302);
    assert_eq!(b.get(&at_other).await.status, 302);
    // A request for both at once is covered only by what both allowed.
    let both = authorize_url(
        &client,
        &[
            ("scope", "mcp:tools:weather"),
            ("resource", DEMO),
            ("resource", FLOWS_RS),
        ],
    );
    assert_eq!(b.get(&both).await.status, 302);
}

/// `tessera client add --audience` binds a client on the authorization-code
/// path too, and so does `audience` sent to open registration.
#[tokio::test]
async fn a_client_bound_to_a_resource_gets_codes_for_that_resource_only() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let body = serde_json::json!({
        "client_name": "Bound", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "audience": FLOWS_RS,
    });
    let res = app.post_json("/register", &body, None).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let client = res.json()["client_id"].as_str().unwrap().to_owned();
    let mut b = Browser::new(&app);
    // The demo server is the default resource, but not this client's.
    let elsewhere = b
        .get(&authorize_url(
            &client,
            &[("scope", "mcp:tools:weather"), ("resource", DEMO)],
        ))
        .await;
    let (_, q) = crate::authorize::early_error_answer(&elsewhere, false);
    assert_eq!(param(&q, "error"), Some("invalid_target"));
    // Naming no resource: the client's own, not the default.
    let url = authorize_url(&client, &[("scope", "mcp:tools:weather")]);
    let code = get_code(&mut b, &url, &[]).await;
    let token = app.exchange(&client, &code).await.json();
    let (_, claims) = jwt_parts(token["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], FLOWS_RS);
}

/// RFC 7592: a client_credentials client cannot raise its own ceiling with
/// its registration access token (it used to: scope, audience and grants
/// were whatever the update said).
#[tokio::test]
async fn a_registration_update_cannot_widen_scope_audience_or_grants() {
    let app = spawn_app().await;
    let body = serde_json::json!({
        "client_name": "billing bot", "grant_types": ["client_credentials"], "scope": "mcp:tools:weather",
        "token_endpoint_auth_method": "client_secret_post", "audience": DEMO,
    });
    let c = app.post_json("/register", &body, Some(IAT)).await.json();
    let path = format!("/register/{}", c["client_id"].as_str().unwrap());
    let mut token = c["registration_access_token"].as_str().unwrap().to_owned();
    let wider: [(&str, serde_json::Value); 4] = [
        ("scope", "mcp:tools:weather mcp:tools:email:send".into()),
        ("scope", "mcp:tools:*".into()),
        ("audience", serde_json::json!([DEMO, FLOWS_RS])),
        (
            "grant_types",
            serde_json::json!(["client_credentials", "refresh_token"]),
        ),
    ];
    for (field, value) in wider {
        let mut update = c.clone();
        update[field] = value;
        let res = crate::manage::send(&app, "PUT", &path, Some(&token), Some(&update)).await;
        res.assert_error(400, "invalid_client_metadata");
        assert!(
            res.text().contains("cannot widen"),
            "{field}: {}",
            res.text()
        );
    }
    // Dropping the audience binding widens too (empty means every resource).
    let mut update = c.clone();
    update.as_object_mut().unwrap().remove("audience");
    crate::manage::send(&app, "PUT", &path, Some(&token), Some(&update))
        .await
        .assert_error(400, "invalid_client_metadata");
    // Narrowing is fine, and rotates the token.
    let mut update = c.clone();
    update["client_name"] = "billing bot 2".into();
    let res = crate::manage::send(&app, "PUT", &path, Some(&token), Some(&update)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let next = res.json()["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(next, token);
    token = next;
    let read = crate::manage::send(&app, "GET", &path, Some(&token), None).await;
    assert_eq!(read.json()["scope"], "mcp:tools:weather");
}

/// An openly registered client does not pick its own rate-limit tier by
/// registering `mcp:tools:*` (it used to get the 1,000-a-window tier).
#[tokio::test]
async fn an_openly_registered_client_gets_the_default_tier_whatever_scope_it_registers() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let body = serde_json::json!({
        "client_name": "Greedy", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "mcp:tools:*",
    });
    let client = app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.code(&client, "mcp:tools:weather").await;
    let res = app.exchange(&client, &code).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.header("ratelimit-policy").starts_with("50;"),
        "the default tier: {}",
        res.header("ratelimit-policy")
    );
    // An administrator's machine client with the same scope keeps its tier.
    let (machine, secret) = app.machine_client("mcp:tools:*", &[]).await;
    let post = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &machine),
        ("client_secret", &secret),
        ("resource", FLOWS_RS),
    ]);
    let res = app.post_form("/token", &post, None).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.header("ratelimit-policy").starts_with("1000;"));
}

/// Open registration plus early error redirects made an open redirector:
/// register a redirect URI at evil.example, and `/authorize` with a bad
/// `response_type` answered 302 there with no person involved.
#[tokio::test]
async fn an_openly_registered_client_cannot_use_the_server_as_an_open_redirector() {
    let app = spawn_app().await;
    let evil = "https://evil.example/x";
    let body = serde_json::json!({"redirect_uris": [evil], "token_endpoint_auth_method": "none"});
    let res = app.post_json("/register", &body, None).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let client = res.json()["client_id"].as_str().unwrap().to_owned();
    let url = format!(
        "/authorize?{}",
        form(&[
            ("client_id", &client),
            ("redirect_uri", evil),
            ("response_type", "token"),
            ("state", "s"),
        ])
    );
    let res = app.get(&url).await;
    assert_eq!(res.status, 400);
    assert!(res.header("location").is_empty(), "never redirected");
    let html = res.text();
    assert!(html.contains("evil.example"), "the page names the host");
    assert!(html.contains("unsupported_response_type"));
}

/// The consent page showed an openly registered client's `client_uri` host
/// as its origin: "Claude from claude.ai" for a client whose redirect goes
/// to attacker.example.
#[tokio::test]
async fn the_consent_page_shows_where_the_client_really_returns_and_marks_its_claims() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let redirect = "https://attacker.example/cb";
    let body = serde_json::json!({
        "client_name": "Claude", "client_uri": "https://claude.ai", "redirect_uris": [redirect],
        "token_endpoint_auth_method": "none",
    });
    let client = app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    let url = format!(
        "/authorize?{}",
        form(&[
            ("client_id", &client),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "mcp:tools:weather"),
        ])
    );
    let first = b.get(&url).await;
    let page = sign_in(&mut b, &first, "alice").await.text();
    assert!(
        page.contains("from <strong>attacker.example</strong>"),
        "{page}"
    );
    assert!(!page.contains("from <strong>claude.ai"));
    assert!(page.contains(r#"<span class="badge badge-warn">unverified</span>"#));
    assert!(page.contains("It says it is from claude.ai"));
    assert!(page.contains("registered itself"));
}

/// Five bad passwords locked the account for everyone for 15 minutes: an
/// attacker elsewhere could lock the real person out. Failures now count
/// per (account, IP) first.
#[tokio::test]
async fn failed_sign_ins_from_one_place_do_not_lock_the_person_out_elsewhere() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut attacker = Browser::from_ip(&app, "203.0.113.9");
    let f = sign_in_form(&mut attacker, &client, "wrong password").await;
    for _ in 0..5 {
        assert_eq!(attacker.submit(&f, None).await.status, 200);
    }
    assert_eq!(
        attacker.submit(&f, None).await.status,
        429,
        "the attacker waits"
    );
    // Another /64 of the same IPv6 network is the same place.
    let mut same = Browser::from_ip(&app, "2001:db8:1:2::1");
    let f = sign_in_form(&mut same, &client, "wrong password").await;
    for _ in 0..5 {
        assert_eq!(same.submit(&f, None).await.status, 200);
    }
    let mut rotated = Browser::from_ip(&app, "2001:db8:1:2:ffff::7");
    let f = sign_in_form(&mut rotated, &client, "wrong password").await;
    assert_eq!(
        rotated.submit(&f, None).await.status,
        429,
        "one /64, one key"
    );
    // Alice, from her own address, signs in.
    let mut alice = Browser::from_ip(&app, "198.51.100.20");
    let f = sign_in_form(&mut alice, &client, PASSWORD).await;
    assert_eq!(alice.submit(&f, None).await.status, 303);
}

/// A failed token request from `ip` with whatever `client_id` and scope it
/// carries; the answer.
async fn garbage_token_request(
    app: &TestApp,
    ip: &str,
    client_id: &str,
    scope: &str,
) -> TestResponse {
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "garbage"),
        ("client_id", client_id),
        ("scope", scope),
    ]);
    let peer = std::net::SocketAddr::new(ip.parse().unwrap(), 40_000);
    let req = axum::http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(axum::extract::ConnectInfo(peer))
        .body(axum::body::Body::from(body))
        .unwrap();
    app.send(req).await
}

/// 2,000 unauthenticated token requests with 16 KB of `client_id` and
/// `scope` each grew the database by 31 MB: every one was an audit record.
#[tokio::test]
async fn failed_token_requests_are_limited_per_ip_and_their_audit_records_are_bounded() {
    let app = spawn_app().await;
    let huge = "x".repeat(4 * 1024);
    let before = app.state.store.audit_page(0, 100_000).await.unwrap().len();
    let mut limited = 0;
    for _ in 0..150 {
        let res = garbage_token_request(&app, "203.0.113.5", &huge, &huge).await;
        match res.status.as_u16() {
            401 | 400 => {}
            429 => {
                limited += 1;
                res.assert_error(429, "rate_limit_exceeded");
                assert!(!res.header("retry-after").is_empty());
            }
            other => panic!("unexpected {other}: {}", res.text()),
        }
    }
    assert_eq!(limited, 50, "100 failures a window (the default), then 429");
    crate::audit::flush(&app).await;
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    let new = &records[before..];
    assert!(
        new.len() <= 102,
        "one record per failure, none per refusal: {}",
        new.len()
    );
    let longest = new.iter().map(|r| r.event.len()).max().unwrap();
    assert!(longest < 1_000, "a record is bounded: {longest} bytes");
    assert!(
        new.iter()
            .any(|r| r.event.contains("\"ip_failures_limited\":true")),
        "the record that filled the window says so"
    );
    // Another IP is not affected.
    let other = garbage_token_request(&app, "198.51.100.1", "x", "y").await;
    assert_ne!(other.status, 429);
}

/// Anyone who knows a public client's id (a metadata-document id is shared
/// by all its users) could spend its window with garbage refresh requests:
/// the real user got 429 for 15 minutes.
#[tokio::test]
async fn garbage_requests_naming_a_public_client_do_not_spend_its_window() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    for i in 0..60 {
        let ip = format!("203.0.113.{}", i % 5);
        let res = garbage_token_request(&app, &ip, &client, "mcp:tools:weather").await;
        res.assert_error(400, "invalid_grant");
    }
    let res = app
        .refresh(&client, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.header("ratelimit").contains("remaining=48"),
        "{}",
        res.header("ratelimit")
    );
}
