//! `tessera db copy`: a SQLite installation moved to PostgreSQL keeps
//! working there (client secrets through the copied pepper, refresh
//! families, people, keys, the audit chain), the copy verifies itself, and
//! a target that holds anything is refused.

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use tessera_resource::clock::SystemClock;

use crate::database::{Backend, backend};
use crate::helpers::*;

fn tessera(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_DATABASE_URL")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

async fn kids(app: &TestApp) -> Vec<Value> {
    let jwks = app.get("/.well-known/jwks.json").await.json();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect()
}

#[tokio::test]
async fn a_sqlite_installation_moves_to_postgresql_whole_and_verified() {
    let test = "a_sqlite_installation_moves_to_postgresql_whole_and_verified";
    if backend() == Backend::Postgres {
        return; // Once per cargo test: it makes its own databases of both kinds.
    }
    let Some(target) = TestDatabase::postgres() else {
        return skipped(test, "TESSERA_TEST_POSTGRES_URL is not set");
    };
    let clock = Arc::new(SystemClock);
    let config = tessera::config::EXAMPLE_CONFIG;
    let source = TestApp::on_database(TestDatabase::sqlite(), config, clock.clone()).await;
    let (machine, secret) = source.machine_client("mcp:tools:weather", &[]).await;
    assert_eq!(
        source.client_credentials(&machine, &secret).await.status,
        200
    );
    let client = source.alice_and_a_client().await;
    let tokens = source.tokens(&client, "mcp:tools:weather").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Prune the chain up to now, so that the copy carries an anchor too.
    let from = source.db.url().to_owned();
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    ok(&tessera(&[
        "--database",
        &from,
        "audit",
        "prune",
        "--before",
        &later,
    ]));
    // A rotation after the prune: the new token is the one that moves.
    let rotated = source.refresh(&client, &refresh).await.json();
    let refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let source_kids = kids(&source).await;

    let to = target.url().to_owned();
    let copied = ok(&tessera(&["db", "copy", "--from", &from, "--to", &to]));
    assert!(copied.contains("copied and verified"), "{copied}");
    assert!(copied.contains("refresh_families"), "{copied}");

    let moved = TestApp::on_database(TestDatabase::at(&to), config, clock).await;
    assert_eq!(kids(&moved).await, source_kids, "the signing keys moved");
    assert_eq!(
        moved.client_credentials(&machine, &secret).await.status,
        200,
        "the client's secret verifies: the pepper moved"
    );
    let res = moved.refresh(&client, &refresh).await;
    assert_eq!(res.status, 200, "the refresh family moved: {}", res.text());
    let verified = ok(&tessera(&["--database", &to, "audit", "verify"]));
    assert!(verified.contains("audit chain intact"), "{verified}");
    assert!(verified.contains("were pruned"), "{verified}");

    let again = tessera(&["db", "copy", "--from", &from, "--to", &to]);
    assert!(!again.status.success());
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(why.contains("not empty"), "{why}");
}

#[test]
fn copying_anything_but_sqlite_to_postgresql_is_refused_plainly() {
    let out = tessera(&[
        "db",
        "copy",
        "--from",
        "postgres://x@127.0.0.1/a",
        "--to",
        "postgres://x@127.0.0.1/b",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from must be a sqlite://"));
}
