//! The audit trail: the flows document's events, a hash chain that `verify`
//! checks, durable security decisions, and nothing acknowledged lost on shutdown.

use serde_json::Value;
use tessera::audit::chain::Verifier;

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

async fn events(app: &TestApp) -> Vec<Value> {
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    records
        .iter()
        .map(|r| serde_json::from_str(&r.event).unwrap())
        .collect()
}

#[tokio::test]
async fn token_requests_and_decisions_are_audited_in_a_verifiable_chain() {
    let app = spawn_app().await;
    add_user(&app, "alice").await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let ok = form(&[
        ("grant_type", "client_credentials"),
        ("scope", "mcp:tools:weather"),
    ]);
    assert_eq!(
        app.post_form("/token", &ok, Some((&id, &secret)))
            .await
            .status,
        200
    );
    assert_eq!(
        app.post_form("/token", &ok, Some((&id, "wrong")))
            .await
            .status,
        401
    );
    let client = public_client(&app).await;
    let mut b = Browser::new(&app);
    let code = get_code(
        &mut b,
        &authorize_url(&client, &[("scope", "mcp:tools:weather")]),
        &[],
    )
    .await;
    // A durable decision is on disk before its response: no flush needed to see it.
    let kinds: Vec<String> = events(&app)
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"consent_granted".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"client_registered".to_owned()), "{kinds:?}");
    let t = exchange(&app, &client, &code).await.json();
    app.post_form(
        "/revoke",
        &form(&[
            ("token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &client),
        ]),
        None,
    )
    .await;

    app.state.audit.shutdown().await;
    let all = events(&app).await;
    let token: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "oauth_token_request")
        .collect();
    assert_eq!(token.len(), 3);
    assert_eq!(token[0]["client_id"], id.as_str());
    assert_eq!(token[0]["grant_type"], "client_credentials");
    assert_eq!(token[0]["requested_scopes"], "mcp:tools:weather");
    assert_eq!(token[0]["success"], true);
    assert_eq!(token[1]["success"], false);
    assert_eq!(token[1]["error"], "invalid_client");
    assert!(token[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    for kind in ["sign_in_succeeded", "consent_granted", "token_revoked"] {
        assert!(all.iter().any(|e| e["event"] == kind), "{kind}");
    }
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    let mut v = Verifier::default();
    assert!(records.iter().all(|r| v.feed(r).is_ok()));
}

#[tokio::test]
async fn verify_finds_the_first_modified_record() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..5 {
        app.client_credentials(&id, &secret).await;
    }
    app.state.audit.shutdown().await;
    let db = db_url(&app.dir);
    let bin = env!("CARGO_BIN_EXE_tessera");
    let ok = std::process::Command::new(bin)
        .args(["audit", "verify", "--database", &db])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 records verified"));
    sqlx::query("UPDATE audit_log SET event = replace(event, '\"success\":true', '\"success\":false') WHERE seq = 3")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let broken = std::process::Command::new(bin)
        .args(["audit", "verify", "--database", &db])
        .output()
        .unwrap();
    assert!(!broken.status.success());
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("record 3") && err.contains("changed"), "{err}");
    sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let gap = std::process::Command::new(bin)
        .args(["audit", "verify", "--database", &db])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&gap.stderr).contains("record 4"),
        "a removed record breaks the chain too"
    );
}
