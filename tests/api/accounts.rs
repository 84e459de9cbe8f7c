//! A person's grants and traces: a password change ends their refresh
//! families, a family has an absolute lifetime, a failed sign-in is recorded
//! by account and never by the typed name, and the first administrator's
//! password stays out of captured output.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

fn tessera(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_ISSUER")
        .env_remove("TESSERA_LISTEN")
        .env_remove("TESSERA_LOG")
        .env("TESSERA_DATABASE_URL", db);
    c
}

#[tokio::test]
async fn changing_a_password_revokes_the_persons_refresh_families() {
    let app = spawn_app().await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let mut passwd = tessera(app.db.url())
        .args(["user", "passwd", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    passwd
        .stdin
        .take()
        .unwrap()
        .write_all(b"a brand new passphrase for alice\n")
        .unwrap();
    let out = passwd.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.refresh(&client, &rt)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_family_ends_at_its_absolute_lifetime_however_often_it_rotates() {
    let clock = tessera_resource::clock::FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (client, t) = app.person_tokens("mcp:tools:weather").await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_owned();
    let day = 86_400;
    // Rotated every 20 days: never idle for the 30-day idle lifetime.
    for _ in 0..4 {
        clock.advance(20 * day);
        let res = app.refresh(&client, &rt).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        rt = res.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    // Day 90: the example config's refresh_token_max_lifetime.
    clock.advance(10 * day);
    let res = app.refresh(&client, &rt).await;
    res.assert_error(400, "invalid_grant");
    assert!(
        res.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("maximum lifetime"),
        "{}",
        res.json()
    );
}

async fn sign_in_failures(app: &TestApp) -> Vec<Value> {
    let now = app.state.clock.now();
    let flush = serde_json::json!({});
    app.state
        .audit
        .record_durably("test_flush", now, flush)
        .await
        .unwrap();
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    records
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.event).unwrap())
        .filter(|e| e["event"] == "sign_in_failed")
        .collect()
}

#[tokio::test]
async fn a_failed_sign_in_is_recorded_by_account_never_by_the_typed_name() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    let client = app.public_client().await;
    let mut b = Browser::new(&app);
    // Alice with a wrong password; then her password typed as the name.
    let f = sign_in_form(&mut b, &client, "not-alices-password-at-all").await;
    assert_eq!(b.submit(&f, None).await.status, 200);
    let mut f = sign_in_form(&mut b, &client, "x").await;
    let typed = "alicesSecretPassw0rd";
    f.set("username", typed);
    assert_eq!(b.submit(&f, None).await.status, 200);
    let failures = sign_in_failures(&app).await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0]["user_id"], alice.as_str());
    assert_eq!(failures[1]["account"], "unknown");
    for event in &failures {
        let text = event.to_string();
        assert!(event.get("username").is_none(), "{text}");
        assert!(
            !text.contains(typed) && !text.contains("\"alice\""),
            "{text}"
        );
        assert_eq!(event["client_id"], client.as_str());
        assert!(event["ip_address"].is_string(), "{text}");
    }
}

#[cfg(unix)]
#[test]
fn the_first_admin_password_goes_to_an_owner_only_file_not_to_a_captured_stdout() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::new();
    // PostgreSQL has no database directory: the file goes to the working one.
    let lines = crate::binary::first_start_lines(db.url(), db.dir.path());
    let notice = lines
        .iter()
        .find(|l| l.starts_with("Created the first user: admin"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let file = db.dir.path().join("tessera-admin-password");
    assert!(notice.contains(&file.display().to_string()), "{notice}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(password.len() >= 20, "{password}");
    assert!(
        lines.iter().all(|l| !l.contains(&password)),
        "the password is on stdout: {lines:?}"
    );
    let tail = tessera(db.url()).args(["audit", "tail"]).output().unwrap();
    let events = String::from_utf8_lossy(&tail.stdout);
    assert!(
        events.contains("\"user_added\"") && events.contains("first start"),
        "{events}"
    );
    assert!(!events.contains(&password));
}
