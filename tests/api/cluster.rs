//! Two real `tessera serve` processes on one PostgreSQL database (a server of
//! the test's own, so that it can be restarted), driven over HTTP: nothing
//! may depend on which replica a request lands on.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Form, forms};
use crate::database::{Backend, backend};
use crate::flow::{VERIFIER, authorize_url};
use crate::helpers::{ISSUER, skipped};
use crate::private_postgres::{PrivatePostgres, eventually};

const PASSWORD: &str = "correct horse battery staple";
pub(crate) const CALLBACK: &str = "http://127.0.0.1:4567/callback";

/// A PostgreSQL server, its database URL, and the configuration file both
/// replicas and the CLI use.
struct Cluster {
    pg: PrivatePostgres,
    url: String,
    config: tempfile::NamedTempFile,
    replicas: Vec<Replica>,
}

/// A served process, killed when dropped (a failing test leaves none behind).
pub(crate) struct Replica {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// A private server with `alice`, or `None` (skipped: say why).
    fn new(test: &str, settings: &[(&str, &str)]) -> Option<Self> {
        if backend() == Backend::Postgres {
            return None; // One run is enough: it brings its own PostgreSQL.
        }
        let pg = match PrivatePostgres::start() {
            Ok(pg) => pg,
            Err(why) => {
                skipped(test, &why);
                return None;
            }
        };
        let config = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(config.path(), example_config_with(settings)).unwrap();
        let cluster = Self {
            url: pg.url("postgres"),
            pg,
            config,
            replicas: Vec::new(),
        };
        Some(cluster)
    }

    fn tessera(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
        for var in ["TESSERA_ISSUER", "TESSERA_LISTEN", "TESSERA_REDIS_URL"] {
            c.env_remove(var);
        }
        c.env("TESSERA_DATABASE_URL", &self.url)
            .env("TESSERA_CONFIG", self.config.path());
        c
    }

    /// Run the CLI; its stdout.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = self
            .tessera()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "tessera {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Start `n` replicas at the same moment (they migrate once, under a lock).
    fn start(&mut self, n: usize) {
        let starting: Vec<_> = (0..n).map(|_| self.spawn_replica()).collect();
        for s in starting {
            self.replicas.push(s.join().unwrap());
        }
    }

    fn spawn_replica(&self) -> std::thread::JoinHandle<Replica> {
        let mut command = self.tessera();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--issuer", ISSUER])
            // Errors only: the restart test makes every replica warn.
            .env("TESSERA_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        std::thread::spawn(move || {
            let mut child = command.spawn().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let first = lines.next().unwrap().unwrap();
            assert!(first.starts_with("Tessera is listening on "), "{first}");
            let addr = first.rsplit(' ').next().unwrap().to_owned();
            std::thread::spawn(move || for _ in lines {});
            Replica {
                child,
                base: format!("http://{addr}"),
            }
        })
    }

    fn base(&self, i: usize) -> &str {
        &self.replicas[i].base
    }

    /// A machine client made with the CLI: id and secret.
    fn machine_client(&self) -> (String, String) {
        let out = self.cli(
            &[
                "client",
                "add",
                "--name",
                "bot",
                "--scope",
                "mcp:tools:weather",
                "--json",
            ],
            None,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        let field = |n: &str| v[n].as_str().unwrap().to_owned();
        (field("client_id"), field("client_secret"))
    }
}

/// The example configuration with `settings`: each a section and a
/// `key = value` line.
pub(crate) fn example_config_with(settings: &[(&str, &str)]) -> String {
    let mut text = tessera::config::EXAMPLE_CONFIG.to_owned();
    for (section, line) in settings {
        // The example's own line for the key (set or commented), else a
        // new line under the section's header.
        let key = line.split(" = ").next().unwrap();
        let old = text
            .lines()
            .find(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")))
            .map(|l| format!("{l}\n"));
        text = match old {
            Some(old) => text.replacen(&old, &format!("{line}\n"), 1),
            None => {
                let header = format!("[{section}]\n");
                text.replacen(&header, &format!("{header}{line}\n"), 1)
            }
        };
    }
    text
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A browser whose every request may go to another replica: cookies are
/// kept across them, as behind a load balancer. A request that gets no
/// answer (its server was killed) is an `Err`.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// A page as a browser got it: status, `Location` (or empty), body.
pub(crate) type Page = (StatusCode, String, String);

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: http(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Result<Page> {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header("cookie", cookie).send().await?;
        for v in res.headers().get_all("set-cookie") {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            self.cookies
                .insert(c.name().to_owned(), c.value().to_owned());
        }
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Ok((status, location, res.text().await?))
    }

    pub(crate) async fn get(&mut self, base: &str, path: &str) -> reqwest::Result<Page> {
        let req = self.http.get(format!("{base}{}", path_of(path)));
        self.send(req).await
    }

    pub(crate) async fn submit(
        &mut self,
        base: &str,
        form: &Form,
        button: Option<&str>,
    ) -> reqwest::Result<Page> {
        let req = self
            .http
            .post(format!("{base}{}", path_of(&form.action)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.body(button));
        self.send(req).await
    }
}

/// The path (and query) of a URL or path: every replica serves every path.
fn path_of(url: &str) -> String {
    match url.strip_prefix(ISSUER) {
        Some(rest) => rest.to_owned(),
        None => url.to_owned(),
    }
}

pub(crate) fn form_on(page: &str) -> Form {
    forms(page)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no form on the page: {page}"))
}

pub(crate) fn code_in(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let code = url.query_pairs().find(|(k, _)| k == "code");
    code.unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned()
}

/// The public client's code redemption (RFC 6749 §4.1.3, with PKCE).
pub(crate) struct Exchange {
    code: String,
    client: String,
}

pub(crate) fn exchange(code: &str, client: &str) -> Exchange {
    Exchange {
        code: code.to_owned(),
        client: client.to_owned(),
    }
}

impl Exchange {
    pub(crate) fn each(&self) -> [(&str, &str); 5] {
        [
            ("grant_type", "authorization_code"),
            ("code", &self.code),
            ("code_verifier", VERIFIER),
            ("client_id", &self.client),
            ("redirect_uri", CALLBACK),
        ]
    }
}

async fn register_public_client(base: &str) -> String {
    let res = http()
        .post(format!("{base}/register"))
        .json(
            &json!({"client_name": "cluster", "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn token(base: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let res = http()
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn client_credentials(base: &str, id: &str, secret: &str) -> StatusCode {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    token(base, &form).await.0
}

async fn refresh(base: &str, client: &str, token_: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token_),
        ("client_id", client),
    ];
    token(base, &form).await
}

async fn jwks_kids(base: &str) -> Vec<String> {
    let keys: Value = http()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_replicas_share_sign_in_codes_refresh_families_limits_keys_and_removals() {
    let test = "two_replicas_share_sign_in_codes_refresh_families_limits_keys_and_removals";
    // The limited client's id is only known once it exists: a per-client
    // limit is set for it after the CLI made it, before the replicas start.
    // The public client rotates often here: only the limited client is.
    let generous = [("rate_limits", "token_default = 1000000")];
    let Some(mut cluster) = Cluster::new(test, &generous) else {
        return;
    };
    cluster.cli(
        &["user", "add", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let (limited, limited_secret) = cluster.machine_client();
    let (doomed, doomed_secret) = cluster.machine_client();
    let text = std::fs::read_to_string(cluster.config.path())
        .unwrap()
        .replacen(
            "[rate_limits]\n",
            &format!("[rate_limits]\ntoken_per_client = {{ \"{limited}\" = 10 }}\n"),
            1,
        );
    std::fs::write(cluster.config.path(), text).unwrap();
    cluster.start(2);
    let (a, b) = (cluster.base(0).to_owned(), cluster.base(1).to_owned());

    // Sign in on A, consent and get the code on B, redeem it on B, refresh on A.
    let client = register_public_client(&a).await;
    let mut browser = Browser::new();
    let (status, _, page) = browser.get(&a, &authorize_url(&client, &[])).await.unwrap();
    assert_eq!(status, 200, "{page}");
    let mut sign_in = form_on(&page);
    sign_in.set("username", "alice");
    sign_in.set("password", PASSWORD);
    let (status, next, _) = browser.submit(&a, &sign_in, None).await.unwrap();
    assert_eq!(status, 303);
    let (status, _, consent) = browser.get(&b, &next).await.unwrap();
    assert_eq!(
        status, 200,
        "the session signed in on A continues on B: {consent}"
    );
    let (status, back, _) = browser
        .submit(&b, &form_on(&consent), Some("allow"))
        .await
        .unwrap();
    assert_eq!(status, 303);
    let redeem = exchange(&code_in(&back), &client);
    let (status, tokens) = token(&b, &redeem.each()).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, mut tokens) =
        refresh(&a, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");

    // Another code (consent remembered: straight back from A), redeemed at
    // both replicas at the same moment: one token.
    let (status, back, _) = browser.get(&a, &authorize_url(&client, &[])).await.unwrap();
    assert_eq!(status, 302);
    let redeem = exchange(&code_in(&back), &client);
    let form = redeem.each();
    let (x, y) = tokio::join!(token(&a, &form), token(&b, &form));
    let mut statuses = [x.0.as_u16(), y.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{x:?} {y:?}");

    // The same refresh token at both replicas at once, many times: no 5xx,
    // at least one rotation each time, and the family still works.
    for _ in 0..25 {
        let current = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (x, y) = tokio::join!(
            refresh(&a, &client, &current),
            refresh(&b, &client, &current)
        );
        for (status, body) in [&x, &y] {
            assert!(status.is_success() || *status == 400, "{status}: {body}");
        }
        tokens = [x, y]
            .into_iter()
            .find(|(s, _)| s.is_success())
            .expect("one of two concurrent rotations succeeds")
            .1;
    }
    let (status, _) = refresh(&b, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    // A client's limit holds for the cluster: 10 in all, not 10 each.
    let mut allowed = 0;
    for i in 0..16 {
        let base = if i % 2 == 0 { &a } else { &b };
        match client_credentials(base, &limited, &limited_secret).await {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(allowed, 10);

    // A key rotated by the CLI is published by both within a second.
    let before = jwks_kids(&a).await;
    cluster.cli(&["keys", "rotate"], None);
    let listed: Value =
        serde_json::from_str(&cluster.cli(&["keys", "list", "--json"], None)).unwrap();
    let new_kid = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .find(|k| !before.contains(k))
        .expect("a new key");
    let rotated = Instant::now();
    for base in [&a, &b] {
        let published = eventually(Duration::from_secs(1), async || {
            jwks_kids(base).await.contains(&new_kid)
        })
        .await;
        assert!(
            published,
            "{base} did not publish {new_kid} within a second"
        );
    }
    assert!(rotated.elapsed() < Duration::from_secs(2));

    // A client removed by the CLI is refused by both within a second.
    for base in [&a, &b] {
        assert_eq!(client_credentials(base, &doomed, &doomed_secret).await, 200);
    }
    cluster.cli(&["client", "remove", &doomed], None);
    for base in [&a, &b] {
        let refused = eventually(Duration::from_secs(1), async || {
            client_credentials(base, &doomed, &doomed_secret).await == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(
            refused,
            "{base} still served the removed client after a second"
        );
    }
}

/// Register at `base`; the new client's id, or the status when refused.
async fn try_register(http: &reqwest::Client, base: &str) -> Result<String, StatusCode> {
    let sent = http
        .post(format!("{base}/register"))
        .json(&json!({"client_name": "burst", "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none"}))
        .send()
        .await;
    let res = match sent {
        Ok(res) => res,
        Err(_) => return Err(StatusCode::BAD_GATEWAY),
    };
    if res.status() != 201 {
        return Err(res.status());
    }
    Ok(res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned())
}

/// Registrations at `bases` in turn for `for_how_long`, timing each answer:
/// the ids acknowledged, the statuses refused, the slowest answer.
async fn register_for(
    bases: Vec<String>,
    for_how_long: Duration,
) -> (Vec<String>, Vec<StatusCode>, Duration) {
    let http = http();
    let (mut ids, mut refused, mut slowest) = (Vec::new(), Vec::new(), Duration::ZERO);
    let until = Instant::now() + for_how_long;
    let mut i = 0;
    while Instant::now() < until {
        let started = Instant::now();
        match try_register(&http, &bases[i % bases.len()]).await {
            Ok(id) => ids.push(id),
            Err(status) => refused.push(status),
        }
        slowest = slowest.max(started.elapsed());
        i += 1;
    }
    (ids, refused, slowest)
}

/// Is client `id` readable at `base`? Its authorization request shows the
/// sign-in page, where an unknown client gets an error page.
async fn known_at(base: &str, id: &str) -> StatusCode {
    let res = http()
        .get(format!("{base}{}", authorize_url(id, &[])))
        .send()
        .await
        .unwrap();
    res.status()
}

fn audit_verifies(cluster: &Cluster) {
    let out = cluster
        .tessera()
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn two_replicas_survive_a_postgresql_restart_and_the_loss_of_one_of_them() {
    let test = "two_replicas_survive_a_postgresql_restart_and_the_loss_of_one_of_them";
    // Every request comes from 127.0.0.1: registrations are not limited here.
    let unlimited = [
        ("registration", "rate_limit_burst = 1000000"),
        ("rate_limits", "authorize_per_ip = 1000000"),
    ];
    let Some(mut cluster) = Cluster::new(test, &unlimited) else {
        return;
    };
    cluster.start(2);
    let bases: Vec<String> = cluster.replicas.iter().map(|r| r.base.clone()).collect();

    // Concurrent writers on both replicas never fork the audit chain.
    let bursts: Vec<_> = (0..4)
        .map(|i| {
            tokio::spawn(register_for(
                vec![bases[i % 2].clone()],
                Duration::from_secs(2),
            ))
        })
        .collect();
    let mut acknowledged = Vec::new();
    for burst in bursts {
        let (ids, refused, _) = burst.await.unwrap();
        assert!(refused.is_empty(), "{refused:?}");
        acknowledged.extend(ids);
    }
    assert!(acknowledged.len() > 20);
    audit_verifies(&cluster);

    // PostgreSQL restarted under load: every request is answered within 5 s,
    // with success or 503; then both replicas serve again by themselves.
    // The outage outlasts the 3 s a request waits for a connection
    // (ACQUIRE_TIMEOUT): a shorter one may be bridged by a request that waits
    // and then succeeds, and go unnoticed.
    let load = tokio::spawn(register_for(bases.clone(), Duration::from_secs(8)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.pg.stop("fast").unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.pg.start_again().unwrap();
    let (ids, refused, slowest) = load.await.unwrap();
    assert!(
        slowest < Duration::from_secs(5),
        "an answer took {slowest:?}"
    );
    assert!(refused.iter().all(|s| *s == 503), "{refused:?}");
    assert!(!refused.is_empty(), "the restart was not noticed");
    acknowledged.extend(ids);
    for base in &bases {
        let healthy = eventually(Duration::from_secs(10), async || {
            let res = http().get(format!("{base}/health")).send().await;
            res.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(healthy, "{base} did not recover");
    }
    let (ids, refused, _) = register_for(bases.clone(), Duration::from_millis(500)).await;
    assert!(refused.is_empty(), "{refused:?}");
    acknowledged.extend(ids);

    // One replica killed: the other serves on, and reads everything either
    // acknowledged.
    let (ids, _, _) = register_for(vec![bases[0].clone()], Duration::from_millis(500)).await;
    acknowledged.extend(ids);
    let mut killed = cluster.replicas.remove(0);
    killed.child.kill().unwrap(); // SIGKILL
    killed.child.wait().unwrap();
    for id in &acknowledged {
        let status = known_at(&bases[1], id).await;
        assert_eq!(status, 200, "acknowledged client {id} is lost");
    }
    audit_verifies(&cluster);
}
