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
//! bounds how many families are set aside, and the refresher always keeps one
//! family back, so some family is always asserted on. Before the first kill
//! each browser goes through one whole flow, so that every kind of write is
//! acknowledged at least once however slow the machine.

mod load;

use std::collections::{HashSet, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::binary::{cli_client, cli_json, serve_with, temp_db, tessera, with_stdin};
use crate::cluster::{Browser, Replica, example_config_with, http};
use crate::database::{Backend, backend};
use crate::helpers::ISSUER;
use load::{Family, Ledger, PASSWORD, Round, flow, flows, machine, ready, refresher, registrar};

/// Kills; with the load times below, the test takes well under a minute.
const ROUNDS: u64 = 15;
/// Tasks refreshing families, each one family at a time. One: each kill
/// then sets aside at most one family.
const REFRESHERS: usize = 1;
/// Tasks going through sign-in and consent.
const FLOWS: usize = 3;

/// The server on `db` with `config`, at the test issuer (whose pages link to
/// it), on a new port.
fn start(db: &str, config: &str) -> Replica {
    let args = ["--config", config, "--issuer", ISSUER];
    let (child, base) = serve_with(db, &args, Stdio::null());
    Replica { child, base }
}

/// SIGKILL: no shutdown hooks, no flushing.
fn kill(mut server: Replica) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// How long round `round` loads the server before the kill: 200 – 600 ms,
/// varied so that kills land at different moments of the work.
fn load_time(round: u64) -> Duration {
    Duration::from_millis(200 + round * 137 % 400)
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
    /// Before any kill, one whole flow in each browser: Alice signs in there
    /// once (hashing a password takes longer than a life of the server on a
    /// busy machine); her sessions are acknowledged writes too.
    async fn sign_in(&mut self, r: &Round) {
        for browser in &mut self.browsers {
            let signed_in = flow(r, browser).await.is_some();
            assert!(signed_in, "{:#?}", r.ledger().failures);
        }
    }

    /// One life of the server: mixed load, then SIGKILL while it serves.
    async fn kill_under_load(&mut self, round: u64) {
        let server = start(&self.db, &self.config);
        let r = Round {
            base: server.base.clone(),
            killed: Arc::new(AtomicBool::new(false)),
            ledger: self.ledger.clone(),
            http: http(),
        };
        ready(&r).await;
        if round == 0 {
            self.sign_in(&r).await;
        }
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
        kill(server);
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
    assert!(!ledger.families.is_empty(), "one is always kept back");

    let server = start(&db, config);
    registrations_are_readable(&server.base, &ledger.registered).await;
    families_refresh(&server.base, &ledger.families).await;
    kill(server);
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
