//! Secrets at rest: the SQLite database, its WAL and shared-memory files and
//! its backups are created owner-only, and a database others can read is
//! reported at start-up.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::helpers::TestDatabase;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_of(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").unwrap())
}

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
async fn the_database_its_wal_and_shm_and_its_backups_are_owner_only() {
    let db = TestDatabase::sqlite();
    let path = file_of(db.url());
    let store = tessera::store::Store::open(db.url()).await.unwrap();
    // A write, so that the WAL exists while the store is open.
    assert!(store.create_user("u1", "alice", "hash", 1).await.unwrap());
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let copy = db.dir.path().join("copy.db");
    store.backup(&copy).await.unwrap();
    assert_eq!(mode(&copy), 0o600, "the backup");
    store.close().await;

    // And through the CLI, which an operator's cron runs.
    let cli_copy = db.dir.path().join("cli-copy.db");
    let out = tessera(db.url())
        .args(["backup", cli_copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&cli_copy), 0o600, "tessera backup's copy");
    let again = tessera(db.url())
        .args(["backup", cli_copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a backup never overwrites a file");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn serving_a_database_others_can_read_logs_a_warning_naming_the_fix() {
    let db = TestDatabase::sqlite();
    let path = file_of(db.url());
    let made = tessera(db.url()).arg("init").output().unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = tessera(db.url())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut warning = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.contains("readable by other users") {
            warning = Some(line);
            break;
        }
        if line.contains("serving") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let warning = warning.expect("a warning before serving");
    assert!(
        warning.contains("WARN") && warning.contains("chmod 600"),
        "{warning}"
    );
    assert!(warning.contains("644"), "{warning}");
    // The operator's file is reported, not changed.
    assert_eq!(mode(&path), 0o644);
}
