//! The audit trail: the flows document's events, a hash chain that `verify`
//! checks, durable security decisions, and nothing acknowledged lost on shutdown.

use serde_json::Value;

use crate::helpers::*;

async fn events(app: &TestApp) -> Vec<Value> {
    events_in(&app.state.store).await
}

async fn events_in(store: &tessera::store::Store) -> Vec<Value> {
    let records = store.audit_page(0, 100_000).await.unwrap();
    records
        .iter()
        .map(|r| serde_json::from_str(&r.event_with_time()).unwrap())
        .collect()
}

#[tokio::test]
async fn token_requests_and_decisions_are_audited_in_a_verifiable_chain() {
    let app = spawn_app().await;
    app.add_user("alice").await;
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
    let client = app.public_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    // A durable decision is on disk before its response: no flush needed to see it.
    let kinds: Vec<String> = events(&app)
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"consent_granted".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"client_registered".to_owned()), "{kinds:?}");
    let t = app.exchange(&client, &code).await.json();
    app.post_form(
        "/revoke",
        &form(&[
            ("token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &client),
        ]),
        None,
    )
    .await;

    // Closing writes what was queued; read it back as another process would.
    app.state.close().await;
    let store = tessera::store::Store::open(app.db.url()).await.unwrap();
    let all = events_in(&store).await;
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
    tessera::audit::keying::load_chain_key(&store, None)
        .await
        .unwrap();
    let check = store.verify_audit_chain().await.unwrap();
    assert_eq!(check.broken, None);
    assert_eq!(check.checked as usize, all.len());
}

#[tokio::test]
async fn verify_finds_the_first_modified_record() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..5 {
        app.client_credentials(&id, &secret).await;
    }
    app.state.close().await;
    let db = app.db.url().to_owned();
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
    app.execute(
        "UPDATE audit_log SET event = replace(event, '\"success\":true', '\"success\":false') WHERE seq = 3",
        &[],
    )
    .await;
    let broken = std::process::Command::new(bin)
        .args(["audit", "verify", "--database", &db])
        .output()
        .unwrap();
    assert!(!broken.status.success());
    let err = String::from_utf8_lossy(&broken.stderr);
    assert!(err.contains("record 3") && err.contains("changed"), "{err}");
    app.execute("DELETE FROM audit_log WHERE seq = 3", &[])
        .await;
    let gap = std::process::Command::new(bin)
        .args(["audit", "verify", "--database", &db])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&gap.stderr).contains("record 4"),
        "a removed record breaks the chain too"
    );
}

/// `tessera audit …` against the test app's database; (success, stdout, stderr).
fn audit_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("audit")
        .args(args)
        .args(["--database", app.db.url()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Write every event queued so far: a durable record commits after them.
pub async fn flush(app: &TestApp) {
    let now = app.state.clock.now();
    app.state
        .audit
        .record_durably("test_flush", now, serde_json::json!({}))
        .await
        .unwrap();
}

#[tokio::test]
async fn pruning_removes_the_oldest_records_and_the_rest_still_verifies() {
    let start = 1_760_000_000;
    let clock = tessera_resource::clock::FixedClock::new(start);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..4 {
        app.client_credentials(&id, &secret).await;
    }
    flush(&app).await;
    clock.advance(100);
    for _ in 0..3 {
        app.client_credentials(&id, &secret).await;
    }
    flush(&app).await;
    let before = app.state.store.audit_page(0, 1000).await.unwrap();
    let old = before.iter().filter(|r| r.at < start + 100).count() as u64;
    assert!(old >= 5, "four token requests and a flush at the start");

    // The server's retention: everything older than the second batch goes.
    let (store, audit) = (&app.state.store, &app.state.audit);
    let now = app.state.clock.now();
    let pruned = tessera::audit::retention::prune(store, audit, start + 100, now, "retention")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned.records, old);
    let kept = app.state.store.audit_page(0, 1000).await.unwrap();
    assert_eq!(kept[0].seq, pruned.through_seq + 1);
    assert!(kept.iter().all(|r| r.at >= start + 100));
    let last: Value = serde_json::from_str(&kept.last().unwrap().event).unwrap();
    assert_eq!(last["event"], "audit_pruned");
    assert_eq!(last["records"], old);
    let (anchor_seq, anchor_hash) = app.state.store.audit_anchor().await.unwrap().unwrap();
    assert_eq!(anchor_seq, pruned.through_seq);
    assert_eq!(kept[0].prev_hash, anchor_hash);
    let check = app.state.store.verify_audit_chain().await.unwrap();
    assert_eq!((check.broken, check.checked), (None, kept.len() as u64));
    let (ok, out, err) = audit_cli(&app, &["verify"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("{} records verified", kept.len()))
            && out.contains(&format!("records 1 to {anchor_seq} were pruned")),
        "{out}"
    );

    // The CLI prunes everything; the chain goes on from the anchor.
    let cutoff = (start + 1000).to_string();
    let (ok, out, err) = audit_cli(&app, &["prune", "--before", &cutoff]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("pruned {} audit records", kept.len())),
        "{out}"
    );
    let (ok, out, err) = audit_cli(&app, &["verify"]);
    assert!(ok && out.contains("1 records verified"), "{out} {err}");
    let (ok, out, _) = audit_cli(&app, &["prune", "--before", &cutoff]);
    assert!(ok && out.contains("no audit records"), "{out}");

    // A record removed from the front without the anchor moving is caught.
    app.client_credentials(&id, &secret).await;
    flush(&app).await;
    app.execute(
        "DELETE FROM audit_log WHERE seq = (SELECT MIN(seq) FROM audit_log)",
        &[],
    )
    .await;
    let (ok, _, err) = audit_cli(&app, &["verify"]);
    assert!(!ok && err.contains("missing"), "{err}");
}
