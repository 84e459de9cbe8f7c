//! Refresh tokens: rotation, reuse detection, the grace window, narrowing,
//! and revocation when the user, client or consent goes away.

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

#[tokio::test]
async fn every_refresh_rotates_and_the_new_token_works() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let r1 = app.refresh(&client, rt1).await;
    assert_eq!(r1.status, 200);
    assert_eq!(r1.header("cache-control"), "no-store");
    let rt2 = r1.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(r1.json()["scope"], "mcp:tools:weather");
    let r2 = app.refresh(&client, &rt2).await;
    assert_eq!(r2.status, 200);
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_whole_family() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let rt2 = app.refresh(&client, &rt1).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(11); // the example config's grace is 10s
    app.refresh(&client, &rt1)
        .await
        .assert_error(400, "invalid_grant");
    app.refresh(&client, &rt2)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_replay_within_the_grace_window_keeps_the_family_alive_with_one_surviving_branch() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let a = refreshed(&app, &client, &rt1).await;
    clock.advance(3);
    let b = refreshed(&app, &client, &rt1).await; // a parallel refresh: it succeeds
    // Branch `a` rotates: the family lives on, and branch `b` is superseded.
    let a2 = refreshed(&app, &client, &a).await;
    // RFC 9700 §4.14.2: the other branch coming back is reuse, even inside
    // the grace window, and revokes the family.
    app.refresh(&client, &b)
        .await
        .assert_error(400, "invalid_grant");
    app.refresh(&client, &a2)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_stolen_token_replayed_in_the_grace_window_cannot_keep_a_second_chain_alive() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let stolen = t["refresh_token"].as_str().unwrap().to_owned();
    let victim = refreshed(&app, &client, &stolen).await;
    clock.advance(5);
    // The thief replays inside the window and refreshes its branch at once.
    let thief = refreshed(&app, &client, &stolen).await;
    let thief = refreshed(&app, &client, &thief).await;
    // The victim's branch was superseded: its next use is detected as reuse
    // and ends the thief's chain with it.
    app.refresh(&client, &victim)
        .await
        .assert_error(400, "invalid_grant");
    app.refresh(&client, &thief)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn each_grace_replay_branch_dies_when_one_branch_rotates() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let stolen = t["refresh_token"].as_str().unwrap().to_owned();
    let mut victim = refreshed(&app, &client, &stolen).await;
    let branches = [
        refreshed(&app, &client, &stolen).await,
        refreshed(&app, &client, &stolen).await,
    ];
    victim = refreshed(&app, &client, &victim).await;
    for branch in branches {
        app.refresh(&client, &branch)
            .await
            .assert_error(400, "invalid_grant");
    }
    app.refresh(&client, &victim)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_spent_token_from_another_client_revokes_its_family() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let other = app.public_client().await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let rt2 = refreshed(&app, &client, &rt1).await;
    app.refresh(&other, &rt1)
        .await
        .assert_error(400, "invalid_grant");
    app.refresh(&client, &rt2)
        .await
        .assert_error(400, "invalid_grant");
}

/// Refresh, expecting success; the new refresh token.
async fn refreshed(app: &TestApp, client: &str, rt: &str) -> String {
    let res = app.refresh(client, rt).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn parallel_refreshes_of_one_token_all_succeed_within_the_grace_window() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let results = futures_join(&app, &client, &rt, 4).await;
    assert!(results.iter().all(|s| *s == 200), "{results:?}");
}

async fn futures_join(app: &TestApp, client: &str, rt: &str, n: usize) -> Vec<u16> {
    let tokens = vec![rt.to_owned(); n];
    refresh_all(app, client, &tokens)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

/// Refresh every token concurrently (spawned tasks): each answer's status and
/// new refresh token.
async fn refresh_all(app: &TestApp, client: &str, tokens: &[String]) -> Vec<(u16, Option<String>)> {
    let mut set = tokio::task::JoinSet::new();
    for rt in tokens {
        let router = app.router.clone();
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", client),
        ]);
        set.spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            (status, json["refresh_token"].as_str().map(str::to_owned))
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_refresh_may_narrow_but_never_widen() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app
        .person_tokens("mcp:tools:weather mcp:tools:calendar:read")
        .await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let narrow = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", &client),
        ("scope", "mcp:tools:weather"),
    ]);
    let res = app.post_form("/token", &narrow, None).await.json();
    assert_eq!(res["scope"], "mcp:tools:weather");
    let rt = res["refresh_token"].as_str().unwrap().to_owned();
    // The family keeps its full grant: the next refresh may ask for both again.
    let full = app.refresh(&client, &rt).await.json();
    assert_eq!(full["scope"], "mcp:tools:weather mcp:tools:calendar:read");
    let rt = full["refresh_token"].as_str().unwrap().to_owned();
    let wide = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", &client),
        ("scope", "mcp:tools:email:send"),
    ]);
    app.post_form("/token", &wide, None)
        .await
        .assert_error(400, "invalid_scope");
    let other = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &rt),
        ("client_id", &client),
        ("resource", FLOWS_RS),
    ]);
    app.post_form("/token", &other, None)
        .await
        .assert_error(400, "invalid_target");
    // The refusals spent nothing: past the reuse grace window, where a spent
    // token would revoke the family, the token still rotates.
    clock.advance(11);
    let res = app.refresh(&client, &rt).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn removing_the_user_or_the_consent_kills_the_family() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let client = app.public_client().await;
    let t = app.tokens(&client, "mcp:tools:weather").await;
    assert!(
        app.state
            .store
            .revoke_consent(&alice, &client)
            .await
            .unwrap()
    );
    app.refresh(&client, t["refresh_token"].as_str().unwrap())
        .await
        .assert_error(400, "invalid_grant");

    let t = app.tokens(&client, "mcp:tools:weather").await;
    assert!(app.state.store.remove_user("alice").await.unwrap());
    app.refresh(&client, t["refresh_token"].as_str().unwrap())
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn another_client_cannot_use_a_refresh_token_and_a_removed_client_is_invalid() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let other = app.public_client().await;
    let t = app.tokens(&client, "mcp:tools:weather").await;
    let rt = t["refresh_token"].as_str().unwrap();
    app.refresh(&other, rt)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        app.refresh(&client, rt).await.status,
        200,
        "the attempt did not burn the token"
    );
    app.state.store.remove_client(&client).await.unwrap();
    app.refresh(&client, rt)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_client_without_the_refresh_grant_gets_no_refresh_token() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    let body = serde_json::json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                                 "grant_types": ["authorization_code"]});
    let client = app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = app.tokens(&client, "mcp:tools:weather").await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    app.refresh(&client, "anything")
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn purging_removes_only_what_can_no_longer_be_used() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    app.state
        .store
        .purge_expired(tessera_resource::clock::Clock::now(&clock))
        .await
        .unwrap();
    assert_eq!(
        app.refresh(&client, &rt).await.status,
        200,
        "live tokens survive a purge"
    );
    clock.advance(31 * 86_400);
    let removed = app
        .state
        .store
        .purge_expired(tessera_resource::clock::Clock::now(&clock))
        .await
        .unwrap();
    assert!(
        removed >= 4,
        "session, code, tokens and family are gone: {removed}"
    );
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_issue_once_then_revoke_it() {
    // The redemptions reach the group-commit writer together and may share a
    // batch: exactly one may win, and the losers' replay revokes its family.
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:weather")]);
    let code = get_code(&mut b, &url, &[]).await;
    let (r1, r2, r3, r4) = tokio::join!(
        app.exchange(&client, &code),
        app.exchange(&client, &code),
        app.exchange(&client, &code),
        app.exchange(&client, &code),
    );
    let answers = [r1, r2, r3, r4];
    let winners: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one redemption wins");
    for loser in answers.iter().filter(|r| r.status != 200) {
        loser.assert_error(400, "invalid_grant");
    }
    let rt = winners[0].json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.refresh(&client, &rt)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn many_families_rotate_at_once_and_every_new_token_works() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    let url = authorize_url(&client, &[("scope", "mcp:tools:weather")]);
    let mut tokens = Vec::new();
    for _ in 0..6 {
        // One person, one session: after the first, consent is remembered.
        let code = get_code(&mut b, &url, &[]).await;
        let t = app.exchange(&client, &code).await.json();
        tokens.push(t["refresh_token"].as_str().unwrap().to_owned());
    }
    let rotated = futures_rotate(&app, &client, &tokens).await;
    assert_eq!(rotated.len(), tokens.len());
    let again = futures_rotate(&app, &client, &rotated).await;
    assert_eq!(
        again.len(),
        tokens.len(),
        "every rotated token was committed"
    );
}

/// Rotate every token concurrently; the new refresh tokens of the 200s.
async fn futures_rotate(app: &TestApp, client: &str, tokens: &[String]) -> Vec<String> {
    let answers = refresh_all(app, client, tokens).await;
    answers.into_iter().filter_map(|(_, rt)| rt).collect()
}

#[tokio::test]
async fn a_refresh_token_from_before_ordered_tokens_still_rotates() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let current = t["refresh_token"].as_str().unwrap();
    assert_eq!(current.len(), 51, "time prefix + 256 random bits");
    // A token as earlier versions made it: 256 random bits, stored under the
    // keyed hash alone, in the same family.
    let legacy = tessera::secrets::random_token(32).unwrap();
    let hasher = &app.state.hasher;
    let (old, current) = (hasher.hash(&legacy), hasher.token_key(current));
    app.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
         SELECT ?, family_id, created_at, expires_at FROM refresh_tokens WHERE token_hash = ?",
        &[Param::Blob(&old), Param::Blob(&current)],
    )
    .await;
    let r = app.refresh(&client, &legacy).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let next = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(next.len(), 51, "the successor is an ordered token");
    assert_eq!(app.refresh(&client, &next).await.status, 200);
}
