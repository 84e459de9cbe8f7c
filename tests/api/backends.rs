//! The whole suite on PostgreSQL too.
//!
//! `cargo test` runs every integration test on SQLite; this test runs this
//! test binary once more with `TESSERA_TEST_BACKEND=postgres`, so that every
//! test (but this one) runs again, each on a fresh database of its own on the
//! server `TESSERA_TEST_POSTGRES_URL` names (`database.rs`). Without that
//! variable it says it skipped; under `TESSERA_CI=1` that is a failure.

use crate::database::{Backend, backend, postgres_server};
use crate::helpers::skipped;

const NAME: &str = "backends::every_integration_test_passes_on_postgresql";

#[test]
fn every_integration_test_passes_on_postgresql() {
    if backend() == Backend::Postgres {
        return; // This is the PostgreSQL run itself.
    }
    if postgres_server().is_none() {
        skipped(NAME, "TESSERA_TEST_POSTGRES_URL names no PostgreSQL server");
        return;
    }
    // The filters of this run (the test names after `--`) are not passed on:
    // the PostgreSQL run runs everything but this test.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("TESSERA_TEST_BACKEND", "postgres")
        .args(["--skip", NAME])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("test result"))
        .unwrap_or("no summary");
    eprintln!("the suite on PostgreSQL: {summary}");
    assert!(
        out.status.success(),
        "the suite failed on PostgreSQL:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
