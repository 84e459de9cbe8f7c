//! The audit chain's key and head: a record changed by someone who can write
//! the database but has no key breaks the chain; deleting the newest records
//! is caught against an exported head; chains from earlier builds keep
//! verifying; the administrator's CLI actions are in the chain.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::database::Param;
use crate::helpers::*;

const KEY: &str = "an audit chain key of at least thirty-two characters";

fn tessera(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_AUDIT_CHAIN_KEY")
        .env("TESSERA_DATABASE_URL", db);
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Some token requests in the chain, written; the app is closed.
async fn app_with_records(toml: &str) -> TestApp {
    let app = spawn_app_with(toml).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..4 {
        app.client_credentials(&id, &secret).await;
    }
    app.state.close().await;
    app
}

/// Change the newest record's event and recompute its hash the way anyone
/// who can write the database can: SHA-256, without the key.
async fn rewrite_newest(app: &TestApp) -> i64 {
    let store = tessera::store::Store::open(app.db.url()).await.unwrap();
    let newest = store.audit_tail(1).await.unwrap().pop().unwrap();
    store.close().await;
    let event = newest
        .event
        .replace("\"success\":true", "\"success\":false");
    assert_ne!(event, newest.event);
    let hash = tessera::store::chain::link(&newest.prev_hash, newest.seq, newest.at, &event);
    app.execute(
        "UPDATE audit_log SET event = ?, hash = ? WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        &[Param::Text(&event), Param::Blob(&hash)],
    )
    .await;
    newest.seq
}

#[tokio::test]
async fn a_record_changed_and_rehashed_without_the_key_breaks_the_chain() {
    let app = app_with_records(tessera::config::EXAMPLE_CONFIG).await;
    let ok = tessera(app.db.url())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    let seq = rewrite_newest(&app).await;
    let broken = tessera(app.db.url())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!broken.status.success(), "{}", text(&broken));
    let why = text(&broken);
    assert!(
        why.contains(&format!("record {seq}")) && why.contains("changed"),
        "{why}"
    );
}

#[tokio::test]
async fn a_configured_key_stays_out_of_the_database_and_another_key_is_refused() {
    let toml = format!(
        "{}\n[security]\naudit_chain_key = \"{KEY}\"\n",
        tessera::config::EXAMPLE_CONFIG
    );
    let app = app_with_records(&toml).await;
    let keyed = tessera(app.db.url())
        .env("TESSERA_AUDIT_CHAIN_KEY", KEY)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(keyed.status.success(), "{}", text(&keyed));
    // Without it the CLI would key with a default of its own: refused, and
    // nothing appended with the wrong key.
    let other = tessera(app.db.url())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(
        text(&other).contains("keyed with another key"),
        "{}",
        text(&other)
    );
    let added = tessera(app.db.url())
        .args([
            "client",
            "add",
            "--name",
            "x",
            "--scope",
            "mcp:tools:weather",
        ])
        .output()
        .unwrap();
    assert!(!added.status.success(), "{}", text(&added));
    let rewritten = rewrite_newest(&app).await;
    let broken = tessera(app.db.url())
        .env("TESSERA_AUDIT_CHAIN_KEY", KEY)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!broken.status.success());
    assert!(
        text(&broken).contains(&format!("record {rewritten}")),
        "{}",
        text(&broken)
    );
}

#[tokio::test]
async fn deleting_the_newest_records_is_caught_against_an_exported_head() {
    let app = app_with_records(tessera::config::EXAMPLE_CONFIG).await;
    let head = tessera(app.db.url())
        .args(["audit", "head"])
        .output()
        .unwrap();
    assert!(head.status.success(), "{}", text(&head));
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let (seq, hash) = head.split_once(':').unwrap();
    assert_eq!(hash.len(), 64, "{head}");
    let matches = tessera(app.db.url())
        .args(["audit", "verify", "--expect-head", &head])
        .output()
        .unwrap();
    assert!(matches.status.success(), "{}", text(&matches));
    assert!(
        text(&matches).contains("is the expected head"),
        "{}",
        text(&matches)
    );

    app.execute(
        "DELETE FROM audit_log WHERE seq >= (SELECT MAX(seq) - 1 FROM audit_log)",
        &[],
    )
    .await;
    // The shorter chain is intact on its own …
    let alone = tessera(app.db.url())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(alone.status.success(), "{}", text(&alone));
    // … but not against the head kept elsewhere.
    let caught = tessera(app.db.url())
        .args(["audit", "verify", "--expect-head", &head])
        .output()
        .unwrap();
    assert!(!caught.status.success());
    let why = text(&caught);
    assert!(
        why.contains("newest records were deleted") && why.contains(seq),
        "{why}"
    );
    let garbage = tessera(app.db.url())
        .args(["audit", "verify", "--expect-head", "12:abc"])
        .output()
        .unwrap();
    assert!(!garbage.status.success());
    assert!(text(&garbage).contains("SEQ:HEX"), "{}", text(&garbage));
}

#[tokio::test]
async fn a_chain_from_an_earlier_build_keeps_verifying_and_continues_keyed() {
    use tessera::store::chain::{GENESIS, link};
    let db = TestDatabase::new();
    // Three records as an earlier build wrote them: unkeyed SHA-256.
    let store = tessera::store::Store::open(db.url()).await.unwrap();
    store.close().await;
    let mut prev = GENESIS.to_vec();
    for seq in 1..=3_i64 {
        let event = format!("{{\"event\":\"old\",\"n\":{seq}}}");
        let hash = link(&prev, seq, 1_700_000_000 + seq, &event);
        let sql = format!(
            "INSERT INTO audit_log (seq, at, event, prev_hash, hash) VALUES ({seq}, {}, ?, ?, ?)",
            1_700_000_000 + seq
        );
        crate::database::execute(
            db.url(),
            &sql,
            &[Param::Text(&event), Param::Blob(&prev), Param::Blob(&hash)],
        )
        .await;
        prev = hash;
    }
    let url = db.url().to_owned();
    let app = TestApp::on_database(
        db,
        tessera::config::EXAMPLE_CONFIG,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    app.client_credentials(&id, &secret).await;
    app.state.close().await;
    let out = tessera(&url).args(["audit", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 of them unkeyed"), "{}", text(&out));
    // The keyed records are not SHA-256.
    let store = tessera::store::Store::open(&url).await.unwrap();
    let newest = store.audit_tail(1).await.unwrap().pop().unwrap();
    store.close().await;
    assert!(newest.seq > 3);
    let unkeyed = link(&newest.prev_hash, newest.seq, newest.at, &newest.event);
    assert_ne!(newest.hash, unkeyed);
}

/// Run the CLI on `db`, with `stdin`, requiring success.
fn cli(db: &str, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = tessera(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

#[tokio::test]
async fn administrator_actions_from_the_cli_are_audited_without_secrets() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let _ = app.tokens(&client, "mcp:tools:weather").await;
    let db = app.db.url();
    let password = "a long enough passphrase for bob";
    cli(
        db,
        &["user", "add", "bob", "--password-stdin"],
        &format!("{password}\n"),
    );
    let new_password = "another long passphrase for bob";
    let passwd = ["user", "passwd", "bob", "--password-stdin"];
    cli(db, &passwd, &format!("{new_password}\n"));
    cli(db, &["consent", "revoke", "alice", &client], "");
    cli(db, &["user", "remove", "bob"], "");
    let add = [
        "client",
        "add",
        "--name",
        "bot",
        "--scope",
        "mcp:tools:weather",
        "--json",
    ];
    cli(db, &add, "");

    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    let events: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(&r.event).unwrap())
        .collect();
    for kind in [
        "user_added",
        "user_password_changed",
        "consent_revoked",
        "user_removed",
        "client_registered",
    ] {
        let found = events.iter().filter(|e| e["event"] == kind).find(|e| {
            e["by"]
                .as_str()
                .is_some_and(|b| b.contains("administrator"))
        });
        assert!(found.is_some(), "{kind} by an administrator: {events:?}");
    }
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(password) && !all.contains(new_password));
    let check = app.state.store.verify_audit_chain().await.unwrap();
    assert_eq!(check.broken, None);
}

#[test]
fn the_server_exports_the_head_it_can_be_verified_against() {
    let db = TestDatabase::new();
    let head_file = db.dir.path().join("audit-head");
    let config = db.dir.path().join("tessera.toml");
    let toml = tessera::config::EXAMPLE_CONFIG.replace(
        "head_interval = \"5m\"",
        &format!(
            "head_interval = \"10s\"\nhead_file = \"{}\"",
            head_file.display()
        ),
    );
    std::fs::write(&config, toml).unwrap();
    let init = tessera(db.url()).arg("init").output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let made = tessera(db.url())
        .args([
            "client",
            "add",
            "--name",
            "bot",
            "--scope",
            "mcp:tools:weather",
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let mut child = tessera(db.url())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("TESSERA_LOG")
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // The first export comes at start-up, the head line before the file.
    let line = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("an audit chain head line");
        if line.contains("audit chain head") {
            break line;
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !head_file.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let head = std::fs::read_to_string(&head_file).unwrap();
    assert!(line.contains(head.trim()), "{line} {head}");
    let verified = tessera(db.url())
        .args(["audit", "verify", "--expect-head", head.trim()])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));
}
