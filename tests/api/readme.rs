//! README.md's shell examples run exactly as written: every fenced `sh` block,
//! in order, in one bash script (`set -euo pipefail`, so a failing command
//! fails the test), against a `tessera serve` started as the quick start
//! says — the installed binary with its default data directory — on a free
//! port that `$TESSERA_URL` names. A block preceded by
//! `<!-- readme-test: skip (why) -->` is left out (it needs an upstream
//! identity provider, a browser, PostgreSQL, or starts a server itself).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::skipped;

const SKIP: &str = "<!-- readme-test: skip";

/// The README's `sh` blocks to run, each with the line it starts on.
fn runnable_blocks(readme: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((n, line)) = lines.next() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            let tag = fence.trim_start_matches('`').trim();
            let mut body = Vec::new();
            for (_, inner) in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                body.push(inner);
            }
            if tag == "sh" && !previous.trim_start().starts_with(SKIP) {
                blocks.push((n + 1, body.join("\n")));
            }
            previous = "";
            continue;
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    blocks
}

fn missing_tools() -> Vec<&'static str> {
    ["bash", "curl", "jq", "openssl"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect()
}

#[test]
fn every_shell_example_in_the_readme_runs_as_written() {
    let missing = missing_tools();
    if !missing.is_empty() {
        return skipped(
            "every_shell_example_in_the_readme_runs_as_written",
            &format!("{} not installed", missing.join(", ")),
        );
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 5, "only {} runnable blocks", blocks.len());

    // A fresh machine: a home of its own, nothing in the environment, the
    // binary on PATH as `cargo install` puts it.
    let home = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tessera"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let fresh = |c: &mut Command| {
        c.env_clear()
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .current_dir(home.path());
    };
    // `tessera serve` as the quick start says, on a free port: the listen
    // address and the issuer the CLI checks tokens against come from the
    // environment, as an env file shared by the server and the CLI gives them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut server = Command::new("tessera");
    fresh(&mut server);
    let mut server = server
        .arg("serve")
        .env("TESSERA_LISTEN", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", &issuer)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.ends_with(&format!(":{port}")), "{first}");
    std::thread::spawn(move || for _ in lines {});

    let mut script = String::from("set -euo pipefail\n");
    for (line, body) in &blocks {
        script.push_str(&format!("echo '--- README.md line {line}' >&2\n{body}\n"));
    }
    let mut run = Command::new("bash");
    fresh(&mut run);
    let out = run
        .args(["-c", &script])
        .env("TESSERA_URL", &issuer)
        .env("TESSERA_ISSUER", &issuer)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a README example failed (the last '--- README.md line N' names its block):\n{stderr}\nstdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The server's data went where the quick start says, not into the
    // working directory.
    assert!(home.path().join("data/tessera/tessera.db").is_file());
    assert!(!home.path().join("tessera.db").exists());
}

#[test]
fn skip_markers_leave_out_only_the_block_after_them() {
    let readme = "```sh\necho one\n```\n<!-- readme-test: skip (a browser) -->\n```sh\necho two\n```\n\n```text\nthree\n```\n```sh\necho four\n```\n";
    let bodies: Vec<String> = runnable_blocks(readme)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies, ["echo one", "echo four"]);
}
