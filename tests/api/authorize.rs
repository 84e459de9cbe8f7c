//! The authorization endpoint's refusals: error pages when the client or
//! redirect URI cannot be trusted, redirects with `state` and `iss` after.

use serde_json::json;
use url::Url;

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

fn assert_error_page(res: &TestResponse, why: &str) {
    assert_eq!(res.status, 400, "{why}");
    assert!(res.header("location").is_empty(), "{why}: never a redirect");
    assert!(res.header("content-type").starts_with("text/html"), "{why}");
    assert_eq!(res.header("x-frame-options"), "DENY", "{why}");
}

#[tokio::test]
async fn an_untrusted_client_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = app.public_client().await;
    let base = [
        ("response_type", "code"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut p = base.to_vec();
        p.extend_from_slice(extra);
        format!("/authorize?{}", form(&p))
    };
    let cases = [
        ("no client_id", with(&[("redirect_uri", CALLBACK)])),
        (
            "unknown client",
            with(&[("client_id", "nope"), ("redirect_uri", CALLBACK)]),
        ),
        (
            "unregistered redirect",
            with(&[
                ("client_id", &client),
                ("redirect_uri", "https://evil.example/cb"),
            ]),
        ),
        (
            "localhost is not 127.0.0.1",
            with(&[
                ("client_id", &client),
                ("redirect_uri", "http://localhost:4567/callback"),
            ]),
        ),
        (
            "other path",
            with(&[
                ("client_id", &client),
                ("redirect_uri", "http://127.0.0.1:4567/other"),
            ]),
        ),
        (
            "duplicated client_id",
            format!(
                "{}&client_id=x",
                with(&[("client_id", &client), ("redirect_uri", CALLBACK)])
            ),
        ),
    ];
    for (why, url) in cases {
        assert_error_page(&app.get(&url).await, why);
    }
}

/// The query of an early error's answer: the redirect's, for a client an
/// administrator registered; the page's return link's, for anyone else's.
pub fn early_error_answer(res: &TestResponse, vetted: bool) -> (Url, Vec<(String, String)>) {
    if vetted {
        assert_eq!(res.status, 302, "{}", res.text());
        return location(res);
    }
    assert_error_page(res, "an unvetted client's early error");
    let html = res.text();
    let start = html
        .find("class=\"btn btn-secondary\" href=\"")
        .expect("a return link")
        + "class=\"btn btn-secondary\" href=\"".len();
    let href = html[start..].split('"').next().unwrap();
    let url = Url::parse(&unescape(href)).unwrap();
    let q = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (url, q)
}

/// Undo askama's HTML escaping (`&#38;` and the like) in an attribute.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').unwrap() + at;
        let code: u32 = rest[at + 2..end].parse().unwrap();
        out.push(char::from_u32(code).unwrap());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A public client as `tessera client add` creates it.
pub async fn admin_public_client(app: &TestApp) -> String {
    let metadata =
        serde_json::from_value(json!({"client_name": "Vetted", "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"}))
        .unwrap();
    let state = &app.state;
    let created = tessera::clients::create(
        &state.store,
        &state.hasher,
        &metadata,
        tessera::clients::Origin::Admin,
        false,
        0,
    );
    created.await.unwrap().client_id
}

#[tokio::test]
async fn request_errors_redirect_with_state_and_iss_or_show_a_page_for_unvetted_clients() {
    let app = spawn_app().await;
    let vetted = admin_public_client(&app).await;
    let unvetted = app.public_client().await;
    for (client, is_vetted) in [(vetted, true), (unvetted, false)] {
        request_errors_answer_with_state_and_iss(&app, &client, is_vetted).await;
    }
}

async fn request_errors_answer_with_state_and_iss(app: &TestApp, client: &str, vetted: bool) {
    let p = |pairs: &[(&str, &str)]| {
        let mut v = vec![
            ("client_id", client),
            ("redirect_uri", CALLBACK),
            ("state", "s1"),
        ];
        v.extend_from_slice(pairs);
        format!("/authorize?{}", form(&v))
    };
    let s256 = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no PKCE",
            p(&[("response_type", "code")]),
            "invalid_request",
        ),
        (
            "plain PKCE",
            p(&[
                ("response_type", "code"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ]),
            "invalid_request",
        ),
        (
            "method omitted",
            p(&[("response_type", "code"), ("code_challenge", CHALLENGE)]),
            "invalid_request",
        ),
        (
            "bad challenge",
            p(&[
                ("response_type", "code"),
                ("code_challenge", "x"),
                ("code_challenge_method", "S256"),
            ]),
            "invalid_request",
        ),
        (
            "token response type",
            p(&[&[("response_type", "token")], &s256[..]].concat()),
            "unsupported_response_type",
        ),
        ("no response type", p(&s256), "invalid_request"),
        (
            "unknown resource",
            p(&[
                &[
                    ("response_type", "code"),
                    ("resource", "https://evil.example"),
                ],
                &s256[..],
            ]
            .concat()),
            "invalid_target",
        ),
        (
            "unknown scope",
            p(&[
                &[("response_type", "code"), ("scope", "mcp:tools:nope")],
                &s256[..],
            ]
            .concat()),
            "invalid_scope",
        ),
        (
            "scope the resource refuses",
            p(&[
                &[
                    ("response_type", "code"),
                    ("scope", "mcp:exec:functions:data-analysis"),
                ],
                &s256[..],
            ]
            .concat()),
            "invalid_scope",
        ),
    ];
    for (why, url, code) in cases {
        let res = app.get(&url).await;
        let (target, q) = early_error_answer(&res, vetted);
        assert_eq!(
            target.as_str().split('?').next().unwrap(),
            CALLBACK,
            "{why}"
        );
        assert_eq!(param(&q, "error"), Some(code), "{why}");
        assert!(param(&q, "error_description").is_some(), "{why}");
        assert_eq!(param(&q, "state"), Some("s1"), "{why}");
        assert_eq!(param(&q, "iss"), Some(ISSUER), "{why}");
    }
}

#[tokio::test]
async fn a_machine_only_client_is_unauthorized_at_the_authorization_endpoint() {
    let app = spawn_app().await;
    let body = json!({"grant_types": ["client_credentials"], "scope": "mcp:tools:weather",
                      "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_basic"});
    let c = app.post_json("/register", &body, Some(IAT)).await.json();
    let res = app
        .get(&authorize_url(c["client_id"].as_str().unwrap(), &[]))
        .await;
    assert_eq!(
        param(&early_error_answer(&res, false).1, "error"),
        Some("unauthorized_client")
    );
}

#[tokio::test]
async fn a_single_registered_redirect_uri_is_used_when_none_is_sent_and_post_works_too() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let body = form(&[
        ("response_type", "code"),
        ("client_id", &client),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = app.post_form("/authorize", &body, None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(String::from_utf8_lossy(&res.body).contains("password"));
    let mut b = Browser::new(&app);
    let via_alias = b
        .get(&authorize_url(&client, &[]).replace("/authorize?", "/oauth/authorize?"))
        .await;
    assert_eq!(via_alias.status, 200);
}

#[tokio::test]
async fn a_wrong_password_keeps_the_person_on_the_sign_in_page() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let mut f = sign_in_form(&mut b, &client, "wrong password").await;
    let res = b.submit(&f, None).await;
    assert_eq!(res.status, 200);
    let html = String::from_utf8_lossy(&res.body);
    assert!(html.contains("Incorrect username or password") && html.contains("role=\"alert\""));
    f.set("username", "nobody");
    let res = b.submit(&f, None).await;
    assert!(
        String::from_utf8_lossy(&res.body).contains("Incorrect username or password"),
        "same answer for unknown users"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let mut f = sign_in_form(&mut b, &client, "wrong password").await;
    for _ in 0..5 {
        assert_eq!(b.submit(&f, None).await.status, 200);
    }
    f.set("password", PASSWORD);
    let res = b.submit(&f, None).await;
    assert_eq!(
        res.status, 429,
        "even the right password waits out the window"
    );
    assert!(String::from_utf8_lossy(&res.body).contains("Too many failed attempts"));
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let page = b.get(&authorize_url(&client, &[])).await;
    let mut f = Browser::page_form(&page);
    f.set("username", "alice");
    f.set("password", PASSWORD);
    f.set("csrf_token", "forged");
    assert_error_page(&b.submit(&f, None).await, "forged csrf");
    // Another browser (no cookie) replaying a real form.
    let mut other = Browser::new(&app);
    let real = Browser::page_form(&page);
    assert_error_page(&other.submit(&real, None).await, "no session");
    // A tampered request ticket.
    let mut t = Browser::page_form(&page);
    let ticket = t
        .fields
        .iter()
        .find(|(n, _)| n == "request")
        .unwrap()
        .1
        .clone();
    t.set("request", &ticket.replacen('e', "f", 1));
    t.set("username", "alice");
    t.set("password", PASSWORD);
    assert_error_page(&b.submit(&t, None).await, "tampered ticket");
}

#[tokio::test]
async fn cursor_and_loopback_redirects_work_end_to_end() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let body = json!({"client_name": "Cursor", "token_endpoint_auth_method": "none",
        "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "http://localhost/callback"]});
    let client = app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    for redirect in [
        "cursor://anysphere.cursor-mcp/oauth/callback",
        "http://localhost:31337/callback",
    ] {
        let url = format!(
            "/authorize?{}",
            form(&[
                ("response_type", "code"),
                ("client_id", &client),
                ("redirect_uri", redirect),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("scope", "mcp:tools:weather"),
            ])
        );
        let mut page = b.get(&url).await;
        if page.status == 200
            && Browser::page_form(&page)
                .fields
                .iter()
                .any(|(n, _)| n == "password")
        {
            page = sign_in(&mut b, &page, "alice").await;
        }
        let res = if page.status == 200 {
            assert!(
                page.header("content-security-policy")
                    .contains("form-action 'self'")
            );
            b.submit(&Browser::page_form(&page), Some("allow")).await
        } else {
            page
        };
        assert!(
            res.header("location").starts_with(redirect),
            "{redirect}: {}",
            res.header("location")
        );
    }
}

#[tokio::test]
async fn the_consent_page_warns_when_every_redirect_is_localhost() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let first = b.get(&authorize_url(&client, &[])).await;
    let consent = sign_in(&mut b, &first, "alice").await;
    let html = String::from_utf8_lossy(&consent.body);
    assert!(html.contains("runs on your own computer"), "{html}");
    assert!(
        consent
            .header("content-security-policy")
            .contains("form-action 'self' http://127.0.0.1:4567")
    );
}

#[tokio::test]
async fn a_form_of_the_persons_pages_whose_body_stalls_gets_an_error_page_after_the_limit() {
    let app = spawn_app().await;
    for (path, start) in [
        ("/authorize", "response_type=code"),
        ("/authorize/sign-in", "username=a"),
        ("/authorize/consent", "decision=allow"),
    ] {
        let answer = app.post_stalled_form(path, start).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("text/html"), "{path}: {answer}");
        assert!(
            answer.contains("The request body did not arrive within 300ms."),
            "{path}: {answer}"
        );
    }
}
