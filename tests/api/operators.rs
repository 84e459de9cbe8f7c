//! Issue 23: a command line that never surprises (read-only commands that
//! never create or change, distinct exit statuses, no panic on a closed pipe),
//! JSON logs where every line is JSON, request ids, and the metrics an
//! operator needs. The real binary on the backend under test.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;

use crate::binary::{cli_client, serve_with, temp_db, tessera, with_stdin};
use crate::helpers::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn read_only_commands_never_create_a_database_and_say_which_path_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    let url = format!("sqlite://{}", typo.display());
    for args in [
        &["keys", "list"][..],
        &["client", "list"],
        &["user", "list"],
        &["audit", "verify"],
        &["client", "add", "--name", "x"],
    ] {
        let out = tessera(&url).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&typo.display().to_string()),
            "{}",
            stderr(&out)
        );
        assert!(!typo.exists(), "{args:?} created the database");
    }
    let out = tessera("sqlite://")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("names no file"), "{}", stderr(&out));
    let nowhere = dir.path().join("no/such/dir/t.db");
    let out = tessera(&format!("sqlite://{}", nowhere.display()))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "directory {} does not exist",
            dir.path().join("no/such/dir").display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keys_list_under_another_algorithm_schedules_nothing_and_says_each_keys_state() {
    let (dir, db) = temp_db();
    let config = dir.dir.path().join("eddsa.toml");
    let toml =
        tessera::config::EXAMPLE_CONFIG.replace("algorithm = \"ES256\"", "algorithm = \"EdDSA\"");
    assert!(
        toml.contains("algorithm = \"EdDSA\""),
        "the example names its algorithm"
    );
    std::fs::write(&config, toml).unwrap();
    for _ in 0..2 {
        let out = tessera(&db)
            .args(["keys", "list", "--json", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
        let keys = keys.as_array().unwrap();
        assert_eq!(keys.len(), 1, "a read-only list scheduled a key: {keys:?}");
        assert_eq!(keys[0]["state"], "signing");
        assert_eq!(keys[0]["alg"], "ES256");
    }
}

#[test]
fn exit_statuses_tell_a_negative_answer_from_usage_and_other_failures() {
    let (_dir, db) = temp_db();
    let status = |args: &[&str]| {
        let out = tessera(&db).args(args).output().unwrap();
        (out.status.code(), stderr(&out))
    };
    assert_eq!(status(&["client", "show", "nope"]).0, Some(1));
    assert_eq!(status(&["client", "remove", "nope"]).0, Some(1));
    assert_eq!(status(&["user", "remove", "nobody"]).0, Some(1));
    assert_eq!(
        status(&["audit", "export", "--since", "yesterday"]).0,
        Some(2)
    );
    assert_eq!(status(&["no-such-command"]).0, Some(2));
    let (code, err) = status(&["client", "add", "--name", "x", "--scope", "mcp:tools:nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("mcp:tools:nope not in the scope catalog"),
        "{err}"
    );
    assert_eq!(status(&["audit", "verify"]).0, Some(0));
}

#[test]
fn token_inspect_reads_stdin_and_prints_lines_without_debug_output() {
    let (_dir, db) = temp_db();
    let (id, secret) = cli_client(&db, "mcp:tools:weather");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut child, base) = serve_with(&db, &[], Stdio::null());
    let token: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let token = token["access_token"].as_str().unwrap();
    // The issuer the server used: port 0's.
    let inspect = |extra: &[&str]| {
        let mut args = vec!["token", "inspect", "-"];
        args.extend_from_slice(extra);
        let mut c = tessera(&db);
        c.env("TESSERA_ISSUER", "http://127.0.0.1:0");
        let mut child = c
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), token.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = inspect(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("  typ        at+jwt"), "{text}");
    assert!(text.contains("typ is 'at+jwt'"), "{text}");
    assert!(!text.contains("Some(") && !text.contains("One("), "{text}");
    assert!(text.trim_end().ends_with("ACCEPTED"), "{text}");
    let out = inspect(&["--audience", "https://elsewhere.example", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["accepted"], false);
}

#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    let (_dir, db) = temp_db();
    for i in 0..30 {
        let out = tessera(&db)
            .args([
                "client",
                "add",
                "--name",
                &format!("c{i}"),
                "--scope",
                "mcp:tools:weather",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let mut child = tessera(&db)
        .args(["client", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn user_add_without_a_terminal_names_password_stdin() {
    let (_dir, db) = temp_db();
    let out = tessera(&db)
        .args(["user", "add", "bob"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    let out = with_stdin(
        &db,
        &["user", "add", "bob", "--password-stdin"],
        "a long password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn listen_takes_a_host_name_and_errors_name_the_flag_they_came_from() {
    let (_dir, db) = temp_db();
    let out = tessera(&db)
        .args(["serve", "--listen", "0.0.0.0:8080"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("from --listen") && err.contains("--tls-cert"),
        "{err}"
    );
    assert!(!err.contains("built-in example config"), "{err}");
    let out = tessera(&db)
        .args(["serve"])
        .env("TESSERA_LISTEN", "nohost")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("from TESSERA_LISTEN"),
        "{}",
        stderr(&out)
    );
    let mut child = tessera(&db)
        .args(["serve", "--listen", "localhost:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.starts_with("Tessera is listening on "), "{first}");
}

#[test]
fn version_completions_and_the_man_page_come_from_the_parser() {
    let run = |args: &[&str]| {
        let out = tessera("sqlite:///nonexistent")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let version = run(&["--version"]);
    assert!(
        version.contains("(commit ") && version.contains("features: "),
        "{version}"
    );
    assert!(run(&["completions", "bash"]).contains("tessera"));
    let man = run(&["man"]);
    assert!(man.contains(".TH tessera 1"), "{man}");
    assert!(
        man.contains("TESSERA TOKEN INSPECT"),
        "a section per command"
    );
    assert!(
        man.contains("password\\-stdin"),
        "every argument has its help"
    );
}

#[test]
fn every_json_log_line_is_json_with_the_banner_and_the_first_admin_as_events() {
    let (_dir, db) = temp_db();
    let mut child = tessera(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("TESSERA_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .take_while(|l| !l.contains("first_admin_created"))
        .chain(std::iter::once(String::new()))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    BufReader::new(stdout).read_to_string(&mut out).unwrap();
    assert_eq!(out, "", "nothing plain on stdout");
    let events: Vec<Value> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "Tessera is listening"),
        "{lines:?}"
    );
    let audit = events
        .iter()
        .find(|e| e["target"] == "tessera::audit")
        .expect("an audit line");
    assert_eq!(audit["event"], "user_added", "{audit}");
    assert_eq!(
        audit["username"], "admin",
        "fields are the line's own: {audit}"
    );
    let bad = tessera(&db)
        .args([
            "serve",
            "--log-format",
            "json",
            "--issuer",
            "http://auth.example.com",
        ])
        .output()
        .unwrap();
    let fatal: Value = serde_json::from_str(stderr(&bad).trim()).unwrap();
    assert_eq!(fatal["level"], "ERROR");
    assert_eq!(fatal["exit_status"], 2);
}

#[tokio::test]
async fn every_response_has_a_request_id_that_its_error_body_names() {
    let app = spawn_app().await;
    let res = app.post_form("/token", "grant_type=password", None).await;
    let id = res.header("x-request-id").to_owned();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(res.json()["request_id"], id.as_str());
    let again = app.get("/health/live").await;
    assert_ne!(again.header("x-request-id"), id);
    // From an untrusted peer, a sent id is replaced.
    let req = Request::get("/health/live")
        .header("x-request-id", "from-a-stranger")
        .body(Body::empty())
        .unwrap();
    assert_ne!(
        app.send(req).await.header("x-request-id"),
        "from-a-stranger"
    );
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept() {
    let toml = tessera::config::EXAMPLE_CONFIG
        .replace("trusted_proxies = []", "trusted_proxies = [\"127.0.0.1\"]");
    let app = spawn_app_with(&toml).await;
    let base = app.serve_tcp().await;
    let res = reqwest::Client::new()
        .get(format!("{base}/health/live"))
        .header("x-request-id", "proxy-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "proxy-7f3a");
}

#[tokio::test]
async fn metrics_count_sign_in_failures_reuse_removals_and_describe_the_build_and_process() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    app.machine_token(&id, &secret).await;
    app.state.metrics.sign_in_failed("wrong_password");
    // The token request's record is written with the next batch.
    let mut text = String::new();
    for _ in 0..50 {
        text = app.get("/metrics").await.text();
        if !text.contains("tessera_audit_records 0\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for expected in [
        "tessera_build_info{version=\"",
        "tessera_sign_in_failures_total{reason=\"wrong_password\"} 1",
        "tessera_refresh_reuse_detected_total 0",
        "# TYPE tessera_registrations_removed_total counter",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    let records: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tessera_audit_records "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(records >= 1, "the token request is a record: {records}");
    let bytes: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tessera_audit_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 100 * records.min(10), "{bytes} for {records}");
}

#[test]
fn an_admin_listener_serves_metrics_and_health_and_takes_metrics_off_the_public_one() {
    let (_dir, db) = temp_db();
    let mut child = tessera(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let banner: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(4)
        .map(|l| l.unwrap())
        .collect();
    let public = banner[0].rsplit(' ').next().unwrap().to_owned();
    let admin = banner[3]
        .strip_prefix("metrics:  ")
        .unwrap_or_else(|| panic!("{banner:?}"))
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (metrics, health, public_metrics) = rt.block_on(async {
        let metrics = reqwest::get(&admin).await.unwrap().text().await.unwrap();
        let health = reqwest::get(admin.replace("/metrics", "/health"))
            .await
            .unwrap()
            .status();
        let public_metrics = reqwest::get(format!("http://{public}/metrics"))
            .await
            .unwrap()
            .status();
        (metrics, health, public_metrics)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(metrics.contains("tessera_build_info"), "{metrics}");
    assert_eq!(health, 200);
    assert_eq!(public_metrics, 404);
}

#[tokio::test]
async fn audit_max_size_prunes_the_oldest_records_and_the_chain_still_verifies() {
    let toml = tessera::config::EXAMPLE_CONFIG.replace(
        "retention = \"90d\"",
        "retention = \"90d\"\nmax_size = \"1MB\"",
    );
    let app = spawn_app_with(&toml).await;
    let max = app.state.config.audit.max_size.unwrap();
    assert_eq!(max, 1_000_000);
    let store = &app.state.store;
    let pad = "x".repeat(400);
    let now = app.state.clock.now();
    for i in 0..4000i64 {
        let at = now - 4000 + i;
        let json = tessera::audit::event_json("padding", at, &serde_json::json!({"pad": pad}));
        store.append_audit(at, json, i == 3999).await.unwrap();
    }
    let before = store.audit_size().await.unwrap();
    assert!(before.bytes > max as i64, "{before:?}");
    let pruned = tessera::audit::retention::prune_to_size(store, &app.state.audit, max, now)
        .await
        .unwrap()
        .expect("records pruned");
    let after = store.audit_size().await.unwrap();
    assert!(
        after.bytes <= max as i64,
        "{after:?} after pruning {pruned:?}"
    );
    // The oldest went, as a prefix; the pruning is itself a record.
    assert_eq!(after.records, before.records - pruned.records as i64 + 1);
    assert!(
        after.bytes > max as i64 / 2,
        "no more than needed went: {after:?}"
    );
    let check = store.verify_audit_chain().await.unwrap();
    assert_eq!(check.broken, None);
    assert_eq!(check.pruned_through, Some(pruned.through_seq));
    // Under the bound, nothing more goes.
    let again = tessera::audit::retention::prune_to_size(store, &app.state.audit, max, now).await;
    assert_eq!(again.unwrap(), None);
}

#[test]
fn the_access_log_writes_a_line_per_request_with_its_request_id() {
    let (_dir, db) = temp_db();
    let mut child = tessera(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--access-log",
        ])
        .env_remove("TESSERA_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening: Value = lines
        .by_ref()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
        .find(|e| e["message"] == "Tessera is listening")
        .unwrap();
    let base = format!("http://{}", listening["listen"].as_str().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let res = reqwest::get(format!("{base}/health/live?secret=not-logged"))
            .await
            .unwrap();
        res.headers()["x-request-id"].to_str().unwrap().to_owned()
    });
    let access: Value = lines
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
        .find(|e| e["target"] == "tessera::access")
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(access["path"], "/health/live", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert_eq!(access["method"], "GET", "{access}");
    assert_eq!(access["span"]["request_id"], id.as_str(), "{access}");
    assert!(!access.to_string().contains("not-logged"), "{access}");
}
