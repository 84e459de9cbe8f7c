//! The real `tessera` binary: start-up refusals, the CLI, and durability
//! across `kill -9`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::helpers::{TestDatabase, jwt_parts};

pub(crate) fn tessera(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_ISSUER")
        .env_remove("TESSERA_LISTEN");
    c.env("TESSERA_DATABASE_URL", db);
    c
}

/// A database of the test's own (kept alive by the caller: dropping it drops
/// the database) and its URL, made by `tessera init` (only `serve` and
/// `init` create a database).
pub(crate) fn temp_db() -> (TestDatabase, String) {
    let db = TestDatabase::new();
    let url = db.url().to_owned();
    let out = tessera(&url).arg("init").output().unwrap();
    assert!(
        out.status.success(),
        "tessera init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (db, url)
}

/// Run the CLI, require success, and parse its JSON output.
pub(crate) fn cli_json(db: &str, args: &[&str]) -> Value {
    let out = tessera(db).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
}

/// A machine client made with `tessera client add`; returns its id and secret.
pub(crate) fn cli_client(db: &str, scope: &str) -> (String, String) {
    let added = cli_json(
        db,
        &["client", "add", "--name", "bot", "--scope", scope, "--json"],
    );
    let field = |name: &str| added[name].as_str().unwrap().to_owned();
    (field("client_id"), field("client_secret"))
}

/// Run the CLI with `input` on its stdin (`--password-stdin`).
pub(crate) fn with_stdin(db: &str, args: &[&str], input: &str) -> std::process::Output {
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
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Start `tessera serve` on a free port; returns the child and its base URL.
fn serve(db: &str) -> (Child, String) {
    serve_with(db, &[], Stdio::null())
}

/// [`serve`] with `args` after the listen address, and its log (stderr, at
/// the default level) going to `stderr`.
pub(crate) fn serve_with(db: &str, args: &[&str], stderr: Stdio) -> (Child, String) {
    let mut child = tessera(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("TESSERA_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit(' ').next().unwrap().to_owned();
    // Keep reading: a first start prints more after this line.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

#[test]
fn bad_configuration_refuses_to_start_with_one_line() {
    let (dir, db) = temp_db();
    let cases: [&[&str]; 3] = [
        &["serve", "--issuer", "http://auth.example.com"],
        &["serve", "--issuer", "https://auth.example.com/"],
        &["serve", "--config", "/definitely/not/here.toml"],
    ];
    for args in cases {
        let out = tessera(&db).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("tessera: error: "), "{err}");
    }
    let bad = dir.dir.path().join("bad.toml");
    std::fs::write(&bad, "[tokens]\nacess_token_ttl = \"15m\"\n").unwrap();
    let out = tessera(&db)
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown field") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn cli_clients_are_created_listed_shown_and_removed_as_json() {
    let (_dir, db) = temp_db();
    let out = tessera(&db)
        .args([
            "client",
            "add",
            "--name",
            "inventory bot",
            "--scope",
            "mcp:tools:inventory:check",
            "--audience",
        ])
        .arg("https://your-mcp-server.com")
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = added["client_id"].as_str().unwrap().to_owned();
    assert_eq!(added["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(added["grant_types"], json!(["client_credentials"]));

    let list: Value = cli_json(&db, &["client", "list", "--json"]);
    assert_eq!(list[0]["client_id"], id.as_str());
    assert!(
        list[0].get("client_secret").is_none(),
        "the secret is never shown again"
    );
    let show: Value = cli_json(&db, &["client", "show", &id, "--json"]);
    assert_eq!(show["client_name"], "inventory bot");
    assert_eq!(show["audience"], json!(["https://your-mcp-server.com"]));

    let keys: Value = cli_json(&db, &["keys", "list", "--json"]);
    assert_eq!(keys[0]["alg"], "ES256");

    assert!(
        tessera(&db)
            .args(["client", "remove", &id])
            .status()
            .unwrap()
            .success()
    );
    let gone = tessera(&db).args(["client", "show", &id]).output().unwrap();
    assert!(!gone.status.success());
    let bad = tessera(&db)
        .args(["client", "add", "--name", "x", "--scope", "mcp:nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn an_acknowledged_registration_survives_kill_9() {
    let (_dir, db) = temp_db();
    let (mut child, base) = serve(&db);
    let http = reqwest::Client::new();
    let body = json!({"client_name": "durable", "redirect_uris": ["http://localhost/cb"]});
    let res = http
        .post(format!("{base}/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    child.kill().unwrap(); // SIGKILL: no shutdown hooks, no flushing
    child.wait().unwrap();

    let out = tessera(&db)
        .args(["client", "show", &id, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client lost after kill -9: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["client_name"], "durable");
    // The audit record of the registration was durable too, with the real peer address.
    let audit = tessera(&db)
        .args(["audit", "export", "--since", "0"])
        .output()
        .unwrap();
    let audit = String::from_utf8(audit.stdout).unwrap();
    let registered = audit
        .lines()
        .find(|l| l.contains("\"client_registered\""))
        .expect("audited before the 201");
    assert!(
        registered.contains("\"ip_address\":\"127.0.0.1\""),
        "{registered}"
    );
}

#[tokio::test]
async fn a_cli_client_gets_a_token_from_the_served_binary() {
    let (_dir, db) = temp_db();
    let (id, secret) = cli_client(&db, "mcp:tools:weather");
    let (mut child, base) = serve(&db);
    let meta: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(
            meta["token_endpoint"]
                .as_str()
                .unwrap()
                .replace("127.0.0.1:0", base.trim_start_matches("http://")),
        )
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token: Value = res.json().await.unwrap();
    let (_, claims) = jwt_parts(token["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:weather");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn users_are_managed_from_the_cli() {
    let (_dir, db) = temp_db();
    let with_stdin = |args: &[&str], input: &str| with_stdin(&db, args, input);
    let out = with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = with_stdin(
        &["user", "add", "alice", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(!again.status.success(), "names are unique");
    let short = with_stdin(&["user", "add", "bob", "--password-stdin"], "short\n");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let list: Value = cli_json(&db, &["user", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["username"], "alice");
    assert!(list[0].get("password_hash").is_none());
    assert!(
        with_stdin(
            &["user", "passwd", "alice", "--password-stdin"],
            "another good password\n"
        )
        .status
        .success()
    );
    assert!(
        !with_stdin(
            &["user", "passwd", "nobody", "--password-stdin"],
            "another good password\n"
        )
        .status
        .success()
    );
    assert!(
        tessera(&db)
            .args(["user", "remove", "alice"])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        !tessera(&db)
            .args(["user", "remove", "alice"])
            .status()
            .unwrap()
            .success()
    );
}

/// Start `serve` on `db` in `dir` (where a first start writes the admin
/// password file); its first four lines of stdout, then stop it.
pub(crate) fn first_start_lines(db: &str, dir: &std::path::Path) -> Vec<String> {
    let mut child = tessera(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(4)
        .map(|l| l.unwrap())
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

#[tokio::test]
async fn the_first_start_creates_an_admin_whose_password_works_once_shown() {
    let (dir, db) = temp_db();
    let lines = first_start_lines(&db, dir.dir.path());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Created the first user: admin")),
        "admin line: {lines:?}"
    );
    // Stdout is a pipe here, not a terminal: the password is in a file.
    let file = dir.dir.path().join("tessera-admin-password");
    let password = std::fs::read_to_string(file).unwrap();
    assert!(password.trim().len() >= 20);
    // A second start creates nobody and prints no password.
    let mut again = tessera(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(again.stdout.take().unwrap());
    let mut first_three = String::new();
    for _ in 0..3 {
        reader.read_line(&mut first_three).unwrap();
    }
    assert!(first_three.contains("metadata:"), "{first_three}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    again.kill().unwrap();
    again.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    assert!(!rest.contains("Created the first user"), "{rest}");
    let users: Value = cli_json(&db, &["user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn consents_are_listed_and_revoked_from_the_cli() {
    let app = crate::helpers::spawn_app().await;
    let client = app.alice_and_a_client().await;
    let code = app.code(&client, "mcp:tools:weather").await;
    let rt = app.exchange(&client, &code).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = app.db.url().to_owned();
    let list: Value = cli_json(&db, &["consent", "list", "alice", "--json"]);
    assert_eq!(list[0]["client_id"], client.as_str());
    assert_eq!(list[0]["scope"], "mcp:tools:weather");
    let revoked = tessera(&db)
        .args(["consent", "revoke", "alice", &client])
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    app.refresh(&client, &rt)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn token_inspect_explains_acceptance_and_keys_rotate_from_the_cli() {
    let app = crate::helpers::spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let t = app.client_credentials(&id, &secret).await.json();
    let token = t["access_token"].as_str().unwrap();
    let db = app.db.url().to_owned();
    let ok = tessera(&db)
        .args([
            "token",
            "inspect",
            token,
            "--audience",
            "http://127.0.0.1:3000/mcp",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(
        text.contains("ACCEPTED") && text.contains("signature"),
        "{text}"
    );
    let wrong = tessera(&db)
        .args([
            "token",
            "inspect",
            token,
            "--audience",
            "https://other.example",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&wrong.stdout);
    assert!(!wrong.status.success());
    assert!(
        text.contains("FAIL audience") && text.contains("REJECTED"),
        "{text}"
    );
    let junk = tessera(&db)
        .args(["token", "inspect", "not-a-token", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&junk.stdout).unwrap();
    assert_eq!(report["accepted"], false);
    assert_eq!(report["checks"][0]["what"], "format");

    let rotated = tessera(&db).args(["keys", "rotate"]).output().unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let keys: Value = cli_json(&db, &["keys", "list", "--json"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(keys[1]["activates_at"].as_i64().unwrap() > keys[0]["activates_at"].as_i64().unwrap());
    let listed =
        String::from_utf8(tessera(&db).args(["keys", "list"]).output().unwrap().stdout).unwrap();
    assert!(
        listed.contains("(signing)") && listed.contains("(pending)"),
        "{listed}"
    );
    let show: Value = cli_json(&db, &["client", "show", &id, "--json"]);
    assert_eq!(show["refresh_families"], json!([]));
}

#[tokio::test]
async fn backup_makes_a_consistent_copy_while_the_server_runs() {
    if crate::database::backend() == crate::database::Backend::Postgres {
        return; // `tessera backup` copies SQLite files; PostgreSQL has pg_dump.
    }
    let (dir, db) = temp_db();
    let (mut child, base) = serve(&db);
    let body = json!({"client_name": "kept", "redirect_uris": ["http://localhost/cb"]});
    let res = reqwest::Client::new()
        .post(format!("{base}/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy = dir.dir.path().join("copy.db");
    let out = tessera(&db)
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = tessera(&db)
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success(), "never overwrites");
    child.kill().unwrap();
    child.wait().unwrap();
    let copy_url = format!("sqlite://{}", copy.display());
    let shown = tessera(&copy_url)
        .args(["client", "show", &id, "--json"])
        .output()
        .unwrap();
    assert!(shown.status.success());
}

/// The first line `tessera serve` logs to a pipe, with `args` after the
/// listen address (`NO_COLOR` unset, as a plain shell would leave it).
fn first_log_line(args: &[&str]) -> String {
    let (_dir, db) = temp_db();
    let mut child = tessera(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    first
}

#[test]
fn json_logs_are_one_object_per_line() {
    let first = first_log_line(&["--log-format", "json"]);
    let v: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(v["level"].is_string() && v["message"].is_string(), "{v}");
}

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let first = first_log_line(&[]);
    assert!(first.contains("INFO"), "{first}");
    assert!(!first.contains('\x1b'), "{first:?}");
}

#[tokio::test]
async fn audit_log_lines_escape_terminal_controls_a_client_sent() {
    let (_dir, db) = temp_db();
    let (mut child, base) = serve_with(&db, &[], Stdio::piped());
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // ESC [2J (clear the screen), DEL and CSI (C1) in a scope the client sends.
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=x&client_secret=y&scope=%1B%5B2J%7F%C2%9Bowned")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let line = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the token request's audit line");
        if line.contains("oauth_token_request") {
            break line;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    let json = &line[line.find('{').unwrap()..];
    let event: Value = serde_json::from_str(json).unwrap();
    assert_eq!(event["requested_scopes"], "\u{1b}[2J\u{7f}\u{9b}owned");
}

#[tokio::test]
async fn a_graceful_shutdown_loses_no_acknowledged_audit_record() {
    let (_dir, db) = temp_db();
    let (id, secret) = cli_client(&db, "mcp:tools:*");
    let (mut child, base) = serve(&db);
    let http = reqwest::Client::new();
    let mut acknowledged = 0;
    for _ in 0..60 {
        let res = http
            .post(format!("{base}/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        acknowledged += usize::from(res.status() == 200);
    }
    assert_eq!(acknowledged, 60);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
    let out = tessera(&db)
        .args(["audit", "export", "--since", "0"])
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout).unwrap();
    let token_events = lines
        .lines()
        .filter(|l| l.contains("\"oauth_token_request\""))
        .count();
    assert_eq!(
        token_events, 60,
        "every acknowledged token request is in the trail"
    );
    let tail = tessera(&db)
        .args(["audit", "tail", "-n", "1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(tail.stdout).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn built_in_tls_serves_https_with_an_https_issuer() {
    let (dir, db) = temp_db();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (
        dir.dir.path().join("cert.pem"),
        dir.dir.path().join("key.pem"),
    );
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    // Shared by the runtime's workers (the default), then on two lanes.
    let lanes = dir.dir.path().join("lanes.toml");
    std::fs::write(&lanes, "threads = 2\n").unwrap();
    for config in [None, Some(&lanes)] {
        let (mut child, port) = tls_server(&db, &cert_path, &key_path, config);
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap(),
            )
            .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
            .build()
            .unwrap();
        let meta: Value = http
            .get(format!(
                "https://localhost:{port}/.well-known/oauth-authorization-server"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], format!("https://localhost:{port}"));
        assert_eq!(
            meta["token_endpoint"],
            format!("https://localhost:{port}/token")
        );
        let plain = reqwest::get(format!("http://127.0.0.1:{port}/health/live")).await;
        assert!(
            plain.is_err() || !plain.unwrap().status().is_success(),
            "no plaintext HTTP on the TLS port"
        );
        // The configuration chose how connections are served.
        let lane_threads = thread_names(child.id())
            .iter()
            .filter(|n| n.starts_with("tessera-lane-"))
            .count();
        assert_eq!(lane_threads, if config.is_some() { 2 } else { 0 });
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let bad = tessera(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nope.pem",
            "--tls-key",
            "/nope.key",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot load TLS certificate"));
}

/// `tessera serve` with built-in TLS on a free port (and `config`, if given);
/// returns the child and its port once it listens.
fn tls_server(
    db: &str,
    cert: &std::path::Path,
    key: &std::path::Path,
    config: Option<&std::path::PathBuf>,
) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = tessera(db);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &format!("https://localhost:{port}"),
        ])
        .args([
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("listening"));
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// The names of a running process's threads (Linux `/proc`).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_server_prunes_audit_records_past_retention() {
    // Records written a hundred days ago by an issuer on this database…
    let hundred_days_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 100 * 86_400;
    let clock = tessera_resource::clock::FixedClock::new(hundred_days_ago);
    let app =
        crate::helpers::spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..3 {
        assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    }
    app.state.close().await;
    let db = app.db.url().to_owned();
    let old = tessera(&db)
        .args(["audit", "export", "--since", "0"])
        .output()
        .unwrap();
    let old = String::from_utf8(old.stdout).unwrap().lines().count();
    assert!(old >= 3, "{old}");

    // …are pruned by the server under the default retention (90 days).
    let (mut child, _base) = serve(&db);
    let mut tail = String::new();
    for _ in 0..100 {
        let out = tessera(&db)
            .args(["audit", "tail", "-n", "1"])
            .output()
            .unwrap();
        tail = String::from_utf8(out.stdout).unwrap();
        if tail.contains("audit_pruned") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let event: Value = serde_json::from_str(tail.trim()).unwrap_or(Value::Null);
    assert_eq!(event["event"], "audit_pruned", "{tail}");
    assert_eq!(event["records"], old);
    assert_eq!(event["by"], "retention");
    let verify = tessera(&db).args(["audit", "verify"]).output().unwrap();
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && out.contains(&format!("records 1 to {old} were pruned")),
        "{out} {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    // Started with a low soft limit, as a shell or systemd would give it.
    let (_dir, db) = temp_db();
    let mut child = Command::new("prlimit")
        .arg("--nofile=256:")
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_ISSUER")
        .env_remove("TESSERA_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("prlimit (util-linux) runs the server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("listening"));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect();
    assert_eq!(open_files.len(), 2, "{limits}");
    assert_ne!(open_files[0], "256", "the soft limit was raised: {limits}");
    assert_eq!(open_files[0], open_files[1], "soft = hard: {limits}");
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_server() {
    let (_dir, db) = temp_db();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tessera(&db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A pipe whose reader has gone (`tessera serve | head -1` after its line).
    drop(child.stdout.take());
    let mut answered = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Ok(res) = reqwest::get(format!("http://127.0.0.1:{port}/health/live")).await {
            answered = Some(res.status());
            break;
        }
    }
    let exited = child.try_wait().unwrap();
    child.kill().ok();
    child.wait().unwrap();
    assert_eq!(exited, None, "the server exited");
    assert_eq!(answered, Some(reqwest::StatusCode::OK));
}
