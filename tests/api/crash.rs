//! Crash safety: the real `tessera` binary SIGKILLed many times under mixed
//! load (registrations, sign-in and consent, code redemptions, refreshes,
//! client-credentials tokens and their audit records), restarted on the same
//! database each time. Afterwards every write the server acknowledged is
//! still there: each registration is readable with its registration access
//! token (RFC 7592 §2.1) and has its durable audit record, each consent is
//! remembered and audited, each refresh family refreshes (RFC 6749 §6), the
//! audit hash chain verifies, and SQLite's `PRAGMA integrity_check` is `ok`.
//!
//! Acknowledged means a 2xx answer read in full. A request in flight at a
//! kill has an unknown outcome and is not counted, with one consequence:
//! the family of a refresh in flight at a kill is set aside, never presented
//! again (its current token is the old one or a new one never seen, and a
//! spent token presented again would start a second branch or revoke the
//! family). At most one refresh per refresher is in flight at a kill, which
//! bounds how many families are set aside.

use std::collections::{HashSet, VecDeque};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{cli_client, cli_json, serve_with, temp_db, tessera, with_stdin};
use crate::cluster::{
    Browser, CALLBACK, Page, code_in, example_config_with, exchange, form_on, http,
};
use crate::database::{Backend, backend};
use crate::flow::authorize_url;
use crate::helpers::ISSUER;

/// Kills; with the load times below, the test takes well under a minute.
const ROUNDS: u64 = 15;
/// Tasks refreshing families, each one family at a time.
const REFRESHERS: usize = 2;
/// Tasks going through sign-in and consent.
const FLOWS: usize = 3;
/// The pause between a registrar's or a machine client's requests: they
/// would otherwise take the cores from sign-ins, consents and refreshes.
const PACE: Duration = Duration::from_millis(5);
const PASSWORD: &str = "correct horse battery staple";

/// A refresh token family and its latest acknowledged token.
struct Family {
    client: String,
    token: String,
}

/// What the server acknowledged, and what went wrong while it was up.
#[derive(Default)]
struct Ledger {
    /// Client ids and their registration access tokens.
    registered: Vec<(String, String)>,
    /// Clients Alice consented to.
    consented: Vec<String>,
    /// Families no task is refreshing at the moment.
    families: VecDeque<Family>,
    /// Families whose refresh was in flight at a kill: set aside.
    set_aside: usize,
    refreshes: usize,
    machine_tokens: usize,
    /// Unexpected answers, and requests lost while the server was up.
    failures: Vec<String>,
}

/// A request's outcome as a client sees it.
enum Outcome {
    Acknowledged(Value),
    /// Never reached the server (the connection was refused).
    Unsent,
    /// No answer: the server may or may not have done it.
    Unknown,
    /// Answered, but not with the expected status (a failure, recorded).
    Refused,
}

/// One life of the server: where it listens, whether it has been killed,
/// and the ledger all lives share.
#[derive(Clone)]
struct Round {
    base: String,
    killed: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    http: reqwest::Client,
}

impl Round {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }

    fn running(&self) -> bool {
        !self.killed.load(Ordering::SeqCst)
    }

    /// A request that got no answer: expected once the kill was decided
    /// (the flag is set before the signal), a failure before.
    fn lost(&self, what: &str, e: &reqwest::Error) -> Outcome {
        if self.running() {
            self.ledger()
                .failures
                .push(format!("{what}: no answer: {e}"));
        }
        if e.is_connect() {
            Outcome::Unsent
        } else {
            Outcome::Unknown
        }
    }

    fn refused(&self, what: &str, status: StatusCode, body: &str) -> Outcome {
        // A page's title says what went wrong; a JSON error fits whole.
        let title = body.split_once("<title>").map(|(_, t)| t.split('<').next());
        let said = title.flatten().unwrap_or(body);
        let failure = format!("{what}: {status} {said}");
        self.ledger().failures.push(failure);
        Outcome::Refused
    }

    /// Send `req`; its JSON body if the answer is `expected`.
    async fn call(&self, what: &str, req: reqwest::RequestBuilder, expected: u16) -> Outcome {
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return self.lost(what, &e),
        };
        let status = res.status();
        let body = match res.text().await {
            Ok(body) => body,
            Err(e) => return self.lost(what, &e),
        };
        if status != expected {
            return self.refused(what, status, &body);
        }
        Outcome::Acknowledged(serde_json::from_str(&body).unwrap())
    }

    async fn token(&self, what: &str, form: &[(&str, &str)]) -> Outcome {
        let req = self.http.post(format!("{}/token", self.base)).form(form);
        self.call(what, req, 200).await
    }

    /// A page a browser got with `expected` status: its `Location` and body.
    fn page(&self, what: &str, got: reqwest::Result<Page>, expected: u16) -> Option<Page> {
        match got {
            Ok(page) if page.0 == expected => Some(page),
            Ok((status, _, body)) => {
                self.refused(what, status, &body);
                None
            }
            Err(e) => {
                self.lost(what, &e);
                None
            }
        }
    }
}

/// Register a public client; its id once acknowledged.
async fn register(r: &Round) -> Option<String> {
    let body = json!({"client_name": "crash", "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none"});
    let req = r.http.post(format!("{}/register", r.base)).json(&body);
    let Outcome::Acknowledged(v) = r.call("registration", req, 201).await else {
        return None;
    };
    let field = |name: &str| v[name].as_str().unwrap().to_owned();
    let id = field("client_id");
    r.ledger()
        .registered
        .push((id.clone(), field("registration_access_token")));
    Some(id)
}

/// Alice signs in (unless her session lives on) and allows `client`; the
/// redirect back, with a code, once acknowledged.
async fn consent(r: &Round, browser: &mut Browser, client: &str) -> Option<String> {
    let start = browser.get(&r.base, &authorize_url(client, &[])).await;
    let (_, _, mut page) = r.page("authorization request", start, 200)?;
    let mut form = form_on(&page);
    if form.fields.iter().any(|(name, _)| name == "password") {
        form.set("username", "alice");
        form.set("password", PASSWORD);
        let signed_in = browser.submit(&r.base, &form, None).await;
        let (_, next, _) = r.page("sign-in", signed_in, 303)?;
        let shown = browser.get(&r.base, &next).await;
        page = r.page("consent page", shown, 200)?.2;
        form = form_on(&page);
    }
    let allowed = browser.submit(&r.base, &form, Some("allow")).await;
    let (_, back, _) = r.page("consent", allowed, 303)?;
    r.ledger().consented.push(client.to_owned());
    Some(back)
}

/// Register, consent and redeem the code, again and again: new
/// registrations, consents and refresh families. The browser (Alice's
/// session) lives on from one life of the server to the next.
async fn flows(r: Round, mut browser: Browser) -> Browser {
    while r.running() && flow(&r, &mut browser).await.is_some() {}
    browser
}

async fn flow(r: &Round, browser: &mut Browser) -> Option<()> {
    let client = register(r).await?;
    let back = consent(r, browser, &client).await?;
    let redeem = exchange(&code_in(&back), &client);
    let Outcome::Acknowledged(tokens) = r.token("code redemption", &redeem.each()).await else {
        return None;
    };
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    r.ledger().families.push_back(Family { client, token });
    Some(())
}

/// Refresh families in turn, each by one task at a time, never presenting
/// a token twice.
async fn refresher(r: Round) {
    while r.running() {
        let next = r.ledger().families.pop_front();
        let Some(mut family) = next else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", &family.token),
            ("client_id", &family.client),
        ];
        let outcome = r.token("refresh", &form).await;
        let mut ledger = r.ledger();
        match outcome {
            Outcome::Acknowledged(tokens) => {
                family.token = tokens["refresh_token"].as_str().unwrap().to_owned();
                ledger.refreshes += 1;
                ledger.families.push_back(family);
            }
            Outcome::Unsent => ledger.families.push_back(family),
            Outcome::Unknown => ledger.set_aside += 1,
            Outcome::Refused => {}
        }
    }
}

/// Client-credentials tokens for a machine client: each an audit record.
async fn machine(r: Round, id: String, secret: String) {
    while r.running() {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let Outcome::Acknowledged(_) = r.token("client credentials", &form).await else {
            return;
        };
        r.ledger().machine_tokens += 1;
        tokio::time::sleep(PACE).await;
    }
}

/// The server on `db` with `config`, at the test issuer (whose pages link to
/// it), on a new port.
fn start(db: &str, config: &str) -> (Child, String) {
    serve_with(db, &["--config", config, "--issuer", ISSUER], Stdio::null())
}

/// How long round `round` loads the server before the kill: 200 – 600 ms,
/// varied so that kills land at different moments of the work.
fn load_time(round: u64) -> Duration {
    Duration::from_millis(200 + round * 137 % 400)
}

/// Registrations, one after another.
async fn registrar(r: Round) {
    while r.running() && register(&r).await.is_some() {
        tokio::time::sleep(PACE).await;
    }
}

/// The database under test, and what lives on across the server's lives.
struct Rig {
    db: String,
    config: String,
    machine_client: (String, String),
    ledger: Arc<Mutex<Ledger>>,
    browsers: Vec<Browser>,
}

/// Wait for a task that stops once the server is gone.
async fn stopped<T>(task: tokio::task::JoinHandle<T>) -> T {
    let stopped = tokio::time::timeout(Duration::from_secs(60), task).await;
    stopped
        .expect("a task stops once the server is gone")
        .unwrap()
}

impl Rig {
    /// One life of the server: mixed load, then SIGKILL while it serves.
    async fn kill_under_load(&mut self, round: u64) {
        let (mut child, base) = start(&self.db, &self.config);
        let r = Round {
            base,
            killed: Arc::new(AtomicBool::new(false)),
            ledger: self.ledger.clone(),
            http: http(),
        };
        let (id, secret) = self.machine_client.clone();
        let mut tasks = vec![
            tokio::spawn(machine(r.clone(), id, secret)),
            tokio::spawn(registrar(r.clone())),
        ];
        for _ in 0..REFRESHERS {
            tasks.push(tokio::spawn(refresher(r.clone())));
        }
        let flows: Vec<_> = (self.browsers.drain(..))
            .map(|b| tokio::spawn(flows(r.clone(), b)))
            .collect();
        tokio::time::sleep(load_time(round)).await;
        // Decided before the signal: a request that fails from here on
        // failed because of the kill.
        r.killed.store(true, Ordering::SeqCst);
        child.kill().unwrap(); // SIGKILL: no shutdown hooks, no flushing
        child.wait().unwrap();
        for task in tasks {
            stopped(task).await;
        }
        for task in flows {
            self.browsers.push(stopped(task).await);
        }
    }
}

/// Every request comes from 127.0.0.1, and thousands of them within a few
/// seconds: no limit may refuse one.
const UNLIMITED: [(&str, &str); 5] = [
    ("registration", "rate_limit_burst = 1000000"),
    ("rate_limits", "authorize_per_ip = 1000000"),
    ("rate_limits", "sign_in_per_ip = 1000000"),
    ("rate_limits", "token_default = 1000000"),
    ("rate_limits", "token_premium = 1000000"),
];

#[tokio::test]
async fn every_acknowledged_write_survives_repeated_kill_9_under_mixed_load() {
    let (dir, db) = temp_db();
    let config = dir.dir.path().join("tessera.toml");
    std::fs::write(&config, example_config_with(&UNLIMITED)).unwrap();
    let config = config.to_str().unwrap();
    let alice = with_stdin(
        &db,
        &["user", "add", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(alice.status.success(), "{alice:?}");
    let mut rig = Rig {
        machine_client: cli_client(&db, "mcp:tools:*"),
        db: db.clone(),
        config: config.to_owned(),
        ledger: Arc::new(Mutex::new(Ledger::default())),
        browsers: (0..FLOWS).map(|_| Browser::new()).collect(),
    };
    for round in 0..ROUNDS {
        rig.kill_under_load(round).await;
    }
    let ledger = Arc::into_inner(rig.ledger).unwrap().into_inner().unwrap();
    assert!(ledger.failures.is_empty(), "{:#?}", ledger.failures);
    println!("{}", summary(&ledger));
    assert!(
        ledger.set_aside <= REFRESHERS * ROUNDS as usize,
        "more refreshes in flight at the kills than refreshers"
    );
    assert!(
        ledger.refreshes > 0 && ledger.machine_tokens > 0 && !ledger.families.is_empty(),
        "the load did too little to prove anything: {}",
        summary(&ledger)
    );

    let (mut child, base) = start(&db, config);
    registrations_are_readable(&base, &ledger.registered).await;
    families_refresh(&base, &ledger.families).await;
    child.kill().unwrap();
    child.wait().unwrap();
    consents_are_remembered(&db, &ledger.consented);
    audit_chain_holds_every_durable_record(&db, &ledger);
    sqlite_is_intact(&db);
}

fn summary(ledger: &Ledger) -> String {
    format!(
        "crash safety: {ROUNDS} kills; acknowledged: {} registrations, {} consents, {} refresh \
         families, {} refreshes, {} client-credentials tokens; {} families set aside (a refresh \
         in flight at a kill)",
        ledger.registered.len(),
        ledger.consented.len(),
        ledger.families.len(),
        ledger.refreshes,
        ledger.machine_tokens,
        ledger.set_aside,
    )
}

/// Each registration, read with its registration access token (RFC 7592 §2.1).
async fn registrations_are_readable(base: &str, registered: &[(String, String)]) {
    let http = http();
    for (id, token) in registered {
        let res = http
            .get(format!("{base}/register/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "acknowledged registration {id} is lost");
        let read: Value = res.json().await.unwrap();
        assert_eq!(read["client_id"], id.as_str());
    }
}

/// Each family's latest acknowledged token refreshes (RFC 6749 §6).
async fn families_refresh(base: &str, families: &VecDeque<Family>) {
    let http = http();
    for Family { client, token } in families {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
            ("client_id", client.as_str()),
        ];
        let res = http
            .post(format!("{base}/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "the family of client {client} broke: {body}");
    }
}

fn consents_are_remembered(db: &str, consented: &[String]) {
    let listed = cli_json(db, &["consent", "list", "alice", "--json"]);
    let remembered: HashSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    for client in consented {
        assert!(
            remembered.contains(client.as_str()),
            "Alice's acknowledged consent to {client} is lost"
        );
    }
}

/// The chain verifies, and holds the durable record of each acknowledged
/// registration and consent. Token requests' records are written without
/// waiting (`audit` module): a kill may lose the last few, by design.
fn audit_chain_holds_every_durable_record(db: &str, ledger: &Ledger) {
    let verify = tessera(db).args(["audit", "verify"]).output().unwrap();
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let export = tessera(db)
        .args(["audit", "export", "--since", "0"])
        .output()
        .unwrap();
    let records: Vec<Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let clients_in = |event: &str| -> HashSet<String> {
        let of_kind = records.iter().filter(|r| r["event"] == event);
        of_kind
            .map(|r| r["client_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let registered = clients_in("client_registered");
    for (id, _) in &ledger.registered {
        assert!(
            registered.contains(id),
            "no client_registered record for {id}"
        );
    }
    let consented = clients_in("consent_granted");
    for id in &ledger.consented {
        assert!(consented.contains(id), "no consent_granted record for {id}");
    }
}

/// After the last stop, SQLite finds the file sound. (PostgreSQL's own
/// recovery is its business; the checks above ran on both.)
fn sqlite_is_intact(db: &str) {
    if backend() != Backend::Sqlite {
        return;
    }
    let conn = crate::helpers::database(db);
    let mut check = conn.prepare("PRAGMA integrity_check").unwrap();
    let found: Vec<String> = check
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(found, ["ok"]);
}
