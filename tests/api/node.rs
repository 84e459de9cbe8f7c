//! Node.js for the tests that drive npm packages (`tests/interop/`): the
//! MCP TypeScript SDK client (`interop`) and the OpenID provider
//! (`upstream`). Without node and npm a test says it skipped; under
//! `TESSERA_CI=1` that is a failure.

use std::path::Path;
use std::process::Command;

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn node_ready(test: &str) -> bool {
    if have("node") && have("npm") {
        return true;
    }
    let msg = format!("{test}: SKIPPED: node and npm are not installed");
    assert!(
        std::env::var("TESSERA_CI").as_deref() != Ok("1"),
        "{msg}, and TESSERA_CI=1 forbids skipping"
    );
    eprintln!("{msg}");
    false
}

/// The interop tests run in parallel; only one may install.
static NPM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Install the pinned SDK (package-lock.json) once.
pub fn npm_ci(dir: &Path) {
    let _one_at_a_time = NPM.lock().unwrap_or_else(|e| e.into_inner());
    // The PostgreSQL run of the suite is another process sharing this
    // directory: without a lock between processes, two `npm ci` could run at
    // once, one deleting what the other installed while its client ran.
    let lock = std::fs::File::create(dir.join(".npm-ci.lock")).unwrap();
    lock.lock().unwrap();
    let installed = ["@modelcontextprotocol/client", "oidc-provider"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).exists());
    if installed {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "npm ci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
