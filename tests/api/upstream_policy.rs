//! People beyond passwords, on the real router and both backends: the scope
//! policy by local roles (consent page, code, and every refresh), disabling
//! a person (sessions, refresh families and codes end; neither sign-in nor
//! refresh works), linking by (provider, `sub`) and never by e-mail, the
//! password form switched off, and the start-up checks of
//! `[[identity_providers]]` and `[scope_policy]`.

use tessera::store::people::{Linked, UpstreamSignIn};

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

const POLICY: &str = r#"
[scope_policy]
everyone = ["mcp:tools:weather", "mcp:resources:*"]

[[scope_policy.rules]]
roles = ["admin"]
scopes = ["mcp:tools:*", "mcp:exec:*"]
"#;

fn with_policy() -> String {
    format!("{}\n{POLICY}", tessera::config::EXAMPLE_CONFIG)
}

const ASKED: &str = "mcp:tools:weather mcp:tools:email:send";

#[tokio::test]
async fn local_roles_decide_what_a_person_may_grant_and_every_refresh_follows_them() {
    let app = spawn_app_with(&with_policy()).await;
    let client = app.alice_and_a_client().await;
    app.add_user("bob").await;
    let store = &app.state.store;
    assert!(
        store
            .set_user_roles("alice", &["admin".into()])
            .await
            .unwrap()
    );

    // Bob may grant only the weather: the consent page shows nothing else,
    // and a form claiming more grants nothing more.
    let mut b = Browser::new(&app);
    let page = b.get(&authorize_url(&client, &[("scope", ASKED)])).await;
    let consent = sign_in(&mut b, &page, "bob").await;
    let html = consent.text();
    assert!(!html.contains("value=\"mcp:tools:email:send\""), "{html}");
    assert!(
        html.contains("Your organisation does not let you allow <code class=\"scope-name\">mcp:tools:email:send</code>"),
        "{html}"
    );
    let mut f = Browser::page_form(&consent);
    f.checkboxes
        .push(("scope".into(), "mcp:tools:email:send".into(), true));
    let res = b.submit(&f, Some("allow")).await;
    let code = param(&location(&res).1, "code").unwrap().to_owned();
    let tokens = app.exchange(&client, &code).await.json();
    assert_eq!(tokens["scope"], "mcp:tools:weather");

    // Alice, an admin, may grant both; once she is not, her next refresh
    // carries only what she may grant now.
    let tokens = app.tokens(&client, ASKED).await;
    assert_eq!(tokens["scope"], ASKED);
    assert!(store.set_user_roles("alice", &[]).await.unwrap());
    let refreshed = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(refreshed.json()["scope"], "mcp:tools:weather");
    let (_, claims) = jwt_parts(refreshed.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:weather");
}

#[tokio::test]
async fn a_person_who_may_grant_nothing_asked_is_sent_back_with_access_denied() {
    let app = spawn_app_with(&with_policy()).await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:email:send")]);
    let page = b.get(&url).await;
    let res = sign_in(&mut b, &page, "alice").await;
    assert_eq!(res.status, 303, "{}", res.text());
    let (_, q) = location(&res);
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("xyz"));
}

#[tokio::test]
async fn a_disabled_person_can_neither_sign_in_nor_refresh_nor_redeem() {
    let app = spawn_app().await;
    let (client, tokens) = app.person_tokens("mcp:tools:weather").await;
    // (Each asks a scope not yet allowed, so that consent is asked.)
    let pending = app.code(&client, "mcp:tools:calendar:read").await;
    let mut signed_in = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:email:send")]);
    get_code(&mut signed_in, &url, &[]).await;

    let store = &app.state.store;
    let id = store.set_user_disabled("alice", true, 1).await.unwrap();
    assert!(id.is_some());
    assert!(
        store
            .set_user_disabled("nobody", true, 1)
            .await
            .unwrap()
            .is_none()
    );

    let refresh = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    refresh.assert_error(400, "invalid_grant");
    app.exchange(&client, &pending)
        .await
        .assert_error(400, "invalid_grant");
    // The session ended: the browser is asked to sign in again, and cannot.
    let page = signed_in
        .get(&authorize_url(&client, &[("scope", "mcp:tools:weather")]))
        .await;
    let mut f = Browser::page_form(&page);
    assert!(
        f.fields.iter().any(|(n, _)| n == "password"),
        "sign-in again"
    );
    f.set("username", "alice");
    f.set("password", PASSWORD);
    let refused = signed_in.submit(&f, None).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("This account is disabled"));
    let people = store.list_users().await.unwrap();
    let alice = people.iter().find(|u| u.username == "alice").unwrap();
    assert!(alice.disabled_at.is_some());

    // Enabled again, she signs in afresh; her old grants stay revoked.
    store.set_user_disabled("alice", false, 2).await.unwrap();
    let mut b = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:calendar:write")]);
    get_code(&mut b, &url, &[]).await;
    app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .assert_error(400, "invalid_grant");
}

fn sign_in_as<'a>(
    provider: &'a str,
    subject: &'a str,
    email: &'a str,
    groups: &'a [String],
    new_id: &'a str,
    names: &'a [String],
) -> UpstreamSignIn<'a> {
    UpstreamSignIn {
        provider,
        subject,
        email: Some(email),
        groups,
        new_id,
        usernames: names,
        now: 10,
    }
}

#[tokio::test]
async fn people_are_linked_by_provider_and_subject_never_by_email() {
    let app = spawn_app().await;
    let store = &app.state.store;
    app.add_user("alice@example.com").await;
    let names = vec![
        "alice@example.com".to_owned(),
        "alice@example.com-corp".to_owned(),
    ];
    let staff = vec!["staff".to_owned()];
    let first = store
        .sign_in_upstream(&sign_in_as(
            "corp",
            "s-1",
            "alice@example.com",
            &staff,
            "id-1",
            &names,
        ))
        .await
        .unwrap();
    assert_eq!(
        first,
        Linked::Provisioned {
            user_id: "id-1".into(),
            username: "alice@example.com-corp".into()
        },
        "the local account with that e-mail as its name is not taken over"
    );
    let admins = vec!["mcp-admins".to_owned()];
    let again = store
        .sign_in_upstream(&sign_in_as(
            "corp",
            "s-1",
            "new@example.com",
            &admins,
            "id-2",
            &names,
        ))
        .await
        .unwrap();
    assert!(
        matches!(again, Linked::Known { ref user_id, .. } if user_id == "id-1"),
        "{again:?}"
    );
    let access = store.person_access("id-1").await.unwrap().unwrap();
    assert_eq!(
        access.memberships.groups,
        [("corp".to_owned(), admins.clone())]
    );
    // The same e-mail at another provider is another person.
    let other = store
        .sign_in_upstream(&sign_in_as(
            "github",
            "s-1",
            "alice@example.com",
            &[],
            "id-3",
            &["gh-id-3".to_owned()],
        ))
        .await
        .unwrap();
    assert!(matches!(other, Linked::Provisioned { ref user_id, .. } if user_id == "id-3"));
    // Every name taken: nothing is created.
    let none = store
        .sign_in_upstream(&sign_in_as(
            "corp",
            "s-9",
            "x@example.com",
            &[],
            "id-4",
            &names,
        ))
        .await
        .unwrap();
    assert_eq!(none, Linked::NoFreeName);
    // Disabled: reported, not signed in.
    store
        .set_user_disabled("alice@example.com-corp", true, 11)
        .await
        .unwrap();
    let disabled = store
        .sign_in_upstream(&sign_in_as(
            "corp",
            "s-1",
            "alice@example.com",
            &[],
            "id-5",
            &names,
        ))
        .await
        .unwrap();
    assert_eq!(
        disabled,
        Linked::Disabled {
            user_id: "id-1".into()
        }
    );
    let people = store.list_users().await.unwrap();
    let linked = people.iter().find(|u| u.id == "id-1").unwrap();
    assert_eq!(
        (linked.password, linked.providers.clone()),
        (false, vec!["corp".to_owned()])
    );
    let local = people
        .iter()
        .find(|u| u.username == "alice@example.com")
        .unwrap();
    assert_eq!((local.password, local.providers.len()), (true, 0));
    // Single use of a round trip.
    let login = tessera::store::people::UpstreamLogin {
        provider: "corp".into(),
        session_hash: vec![1; 32],
        request: "{}".into(),
        expires_at: 100,
    };
    store
        .begin_upstream_login(&[7; 32], &login, 10)
        .await
        .unwrap();
    assert_eq!(
        store.take_upstream_login(&[7; 32]).await.unwrap(),
        Some(login)
    );
    assert_eq!(store.take_upstream_login(&[7; 32]).await.unwrap(), None);
}

#[tokio::test]
async fn with_the_password_form_off_the_sign_in_page_offers_only_the_providers() {
    let toml = tessera::config::EXAMPLE_CONFIG.replace(
        "failure_window = \"15m\"",
        "failure_window = \"15m\"\npassword_form = false",
    ) + r#"
[[identity_providers]]
id = "corp"
name = "Example Corp"
issuer = "http://127.0.0.1:9"
client_id = "tessera"
client_secret = "s3cret"
"#;
    let app = spawn_app_with(&toml).await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let page = b.get(&authorize_url(&client, &[])).await;
    let html = page.text();
    assert!(html.contains("Continue with Example Corp"), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    let body = form(&[("username", "alice"), ("password", PASSWORD)]);
    let posted = app.post_form("/authorize/sign-in", &body, None).await;
    assert_eq!(posted.status, 400);
}

#[test]
fn identity_providers_and_the_scope_policy_are_checked_at_start_up() {
    let base = tessera::config::EXAMPLE_CONFIG;
    let provider = |body: &str| format!("{base}\n[[identity_providers]]\n{body}");
    let cases = [
        (
            provider(
                "id = \"Corp!\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret = \"s\"",
            ),
            "id 'Corp!' must be",
        ),
        (
            provider(
                "id = \"corp\"\nissuer = \"http://idp.example\"\nclient_id = \"c\"\nclient_secret = \"s\"",
            ),
            "issuer must be https",
        ),
        (
            provider("id = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"c\""),
            "set client_secret, client_secret_file or client_secret_env",
        ),
        (
            provider(
                "id = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\nclient_secret_env = \"X\"",
            ),
            "set only one of",
        ),
        (
            provider(
                "id = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret_env = \"TESSERA_TEST_SURELY_UNSET\"",
            ),
            "TESSERA_TEST_SURELY_UNSET is not set",
        ),
        (
            provider(
                "id = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret_file = \"/nonexistent/secret\"",
            ),
            "cannot read client_secret_file",
        ),
        (
            provider(
                "id = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\ncolour = \"blue\"",
            ),
            "unknown field",
        ),
        (
            format!("{base}\n[scope_policy]\neveryone = [\"mcp:exec:shell:run\"]"),
            "covers nothing in the scope catalog",
        ),
        (
            format!("{base}\n[scope_policy]\n[[scope_policy.rules]]\nscopes = [\"mcp:tools:*\"]"),
            "name the groups or roles",
        ),
        (
            format!(
                "{base}\n[scope_policy]\n[[scope_policy.rules]]\nprovider = \"nope\"\ngroups = [\"g\"]\nscopes = [\"mcp:tools:*\"]"
            ),
            "provider 'nope' is not one of identity_providers",
        ),
        (
            base.replace(
                "failure_window = \"15m\"",
                "failure_window = \"15m\"\npassword_form = false",
            ),
            "needs at least one of identity_providers",
        ),
    ];
    for (toml, says) in cases {
        let err = tessera::config::Config::from_toml(&toml, "t", &Default::default())
            .err()
            .unwrap_or_else(|| panic!("accepted; expected '{says}'"));
        let text = format!("{err:#}");
        assert!(text.contains(says), "'{says}' not in: {text}");
    }
}

fn cli(db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_LOG")
        .env("TESSERA_DATABASE_URL", db)
        .args(args)
        .output()
        .unwrap()
}

// Multi-threaded: the CLI runs as a blocking child process while this
// process's server holds the database; on one thread the server's audit
// writer could stop inside its transaction, holding the chain's lock that the
// CLI's own audit record waits for (until the statement timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_roles_disables_and_shows_how_each_person_signs_in() {
    let app = spawn_app().await;
    let (client, tokens) = app.person_tokens("mcp:tools:weather").await;
    let names = ["carol@example.com".to_owned()];
    let linked = UpstreamSignIn {
        provider: "corp",
        subject: "carol-sub",
        email: Some("carol@example.com"),
        groups: &[],
        new_id: "carol-id",
        usernames: &names,
        now: 10,
    };
    app.state.store.sign_in_upstream(&linked).await.unwrap();
    let db = app.db.url();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(cli(db, &["user", "role", "alice", "admin,ops"]));
    assert!(!cli(db, &["user", "role", "alice", "Bad!"]).status.success());
    ok(cli(db, &["user", "disable", "alice"]));
    assert!(!cli(db, &["user", "disable", "nobody"]).status.success());
    app.refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .assert_error(400, "invalid_grant");
    let list = ok(cli(db, &["user", "list"]));
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name}  ")))
            .unwrap_or_else(|| panic!("{name} not in: {list}"))
            .to_owned()
    };
    let alice = line("alice");
    assert!(
        alice.contains("sign-in: password  roles: admin, ops  DISABLED"),
        "{alice}"
    );
    let carol = line("carol@example.com");
    assert!(carol.contains("sign-in: corp  roles: none"), "{carol}");
    ok(cli(db, &["user", "enable", "alice"]));
    assert!(!ok(cli(db, &["user", "list"])).contains("DISABLED"));
    let mut kinds: Vec<String> = app
        .state
        .store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.event).unwrap()["event"].to_string())
        .filter(|k| k.contains("user_"))
        .collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "\"user_roles_changed\"",
            "\"user_disabled\"",
            "\"user_enabled\""
        ]
    );
}

#[tokio::test]
async fn upstream_round_trips_count_against_the_per_ip_sign_in_limit() {
    let toml = tessera::config::EXAMPLE_CONFIG
        .replace("sign_in_per_ip = 300", "sign_in_per_ip = 3")
        + r#"
[[identity_providers]]
id = "corp"
name = "Example Corp"
issuer = "http://127.0.0.1:9"
client_id = "tessera"
client_secret = "s3cret"
"#;
    let app = spawn_app_with(&toml).await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::from_ip(&app, "203.0.113.7");
    let page = b.get(&authorize_url(&client, &[])).await;
    let html = page.text();
    let start = html
        .split("href=\"")
        .find(|s| s.starts_with("/authorize/upstream/corp"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(b.get(&start).await.status.as_u16());
    }
    // Nothing listens at the provider: a page saying so, then the limit.
    assert_eq!(statuses, [502, 502, 502, 429]);
    let callback = b.get("/authorize/upstream/callback?state=x&code=y").await;
    assert_eq!(callback.status, 429);
}
