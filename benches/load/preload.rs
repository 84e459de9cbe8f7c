//! Data-growth mode: fill a fresh database with N clients and N refresh-token
//! families (one live token each) before the server starts.
//!
//! The schema comes from the crate's own migrations (`Store::open`); rows go
//! in through multi-row `INSERT`s in large transactions, on a connection of
//! the harness's own. Rows look real: 128-bit random client ids, 32-byte
//! keyed-hash-sized secret and token hashes, half public registration clients
//! (the families hang off those, spread over a thousand people) and half
//! administrator machine clients.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde_json::json;
use tessera::store::Store;

use crate::scenarios::{CALLBACK, SCOPE};

const PEOPLE: usize = 1000;
/// Rows per `INSERT` (10 columns × 500 stays far below SQLite's variable limit).
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per transaction.
const ROWS_PER_COMMIT: usize = 50_000;
const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

/// What the preload did.
#[derive(Debug, Clone, Copy)]
pub struct Preloaded {
    pub clients: usize,
    pub families: usize,
    pub seconds: f64,
}

pub async fn preload(database: &str, n: usize) -> Result<Preloaded, String> {
    let started = Instant::now();
    let store = Store::open(database).await.map_err(|e| format!("{e:#}"))?;
    store.close().await;
    let path = database
        .strip_prefix("sqlite://")
        .ok_or_else(|| format!("preload: {database} is not a sqlite:// URL"))?
        .to_owned();
    tokio::task::spawn_blocking(move || fill(&path, n))
        .await
        .map_err(|e| format!("preload: {e}"))??;
    Ok(Preloaded {
        clients: n,
        families: n,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn fill(path: &str, n: usize) -> Result<(), String> {
    let mut conn = Connection::open(path).map_err(|e| format!("preload: {e}"))?;
    let now = unix_now();
    let people = insert_people(&mut conn, now)?;
    let mut public_clients = Vec::with_capacity(n.div_ceil(2));
    let mut done = 0;
    while done < n {
        let rows = ROWS_PER_COMMIT.min(n - done);
        let ids = insert_clients(&mut conn, done, rows, now)?;
        public_clients.extend(ids);
        done += rows;
        eprintln!("  preload: {done}/{n} clients");
    }
    let mut done = 0;
    while done < n {
        let rows = ROWS_PER_COMMIT.min(n - done);
        insert_families(&mut conn, done, rows, &public_clients, &people, now)?;
        done += rows;
        eprintln!("  preload: {done}/{n} refresh-token families");
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the system random generator failed".to_owned())?;
    Ok(buf)
}

fn placeholders(columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// Run a multi-row `INSERT` of `values` (row after row) inside `tx`.
fn insert(tx: &Connection, sql: &str, values: Vec<Value>, what: &str) -> Result<(), String> {
    tx.execute(sql, params_from_iter(values))
        .map(|_| ())
        .map_err(|e| format!("preload {what}: {e}"))
}

/// A thousand people to own the families (their password hashes match nothing).
fn insert_people(conn: &mut Connection, now: i64) -> Result<Vec<String>, String> {
    let tx = conn.transaction().map_err(|e| format!("preload: {e}"))?;
    let ids: Vec<String> = (0..PEOPLE)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let (salt, hash) = (B64.encode(random_bytes(16)?), B64.encode(random_bytes(32)?));
        let values = vec![
            Value::from(id.clone()),
            Value::from(format!("preload-{i}")),
            Value::from(format!("$argon2id$v=19$m=19456,t=2,p=1${salt}${hash}")),
            Value::from(now),
        ];
        insert(
            &tx,
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
            values,
            "users",
        )?;
    }
    tx.commit().map_err(|e| format!("preload commit: {e}"))?;
    Ok(ids)
}

/// One client row: even numbers are public registration clients, odd ones
/// administrator machine clients.
struct ClientRow {
    id: String,
    secret_hash: Option<Vec<u8>>,
    auth_method: &'static str,
    grant_types: &'static str,
    scope: &'static str,
    metadata: String,
    created_by: &'static str,
}

fn client_row(n: usize, id_bytes: &[u8], hash: &[u8]) -> ClientRow {
    let id = B64.encode(id_bytes);
    if n.is_multiple_of(2) {
        let metadata = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "client_name": format!("Preloaded app {n}")});
        ClientRow {
            id,
            secret_hash: None,
            auth_method: "none",
            grant_types: "authorization_code refresh_token",
            scope: "",
            metadata: metadata.to_string(),
            created_by: "registration",
        }
    } else {
        let metadata = json!({"redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"], "response_types": [],
            "client_name": format!("Preloaded machine {n}"), "scope": SCOPE});
        ClientRow {
            id,
            secret_hash: Some(hash.to_vec()),
            auth_method: "client_secret_basic",
            grant_types: "client_credentials",
            scope: SCOPE,
            metadata: metadata.to_string(),
            created_by: "admin",
        }
    }
}

/// Insert `rows` clients numbered from `first`; returns the public clients' ids.
fn insert_clients(
    conn: &mut Connection,
    first: usize,
    rows: usize,
    now: i64,
) -> Result<Vec<String>, String> {
    let random = random_bytes(rows * 48)?;
    let all: Vec<ClientRow> = (0..rows)
        .map(|i| {
            client_row(
                first + i,
                &random[i * 48..i * 48 + 16],
                &random[i * 48 + 16..i * 48 + 48],
            )
        })
        .collect();
    let tx = conn.transaction().map_err(|e| format!("preload: {e}"))?;
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO clients (id, secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
             metadata, created_by, created_at) VALUES {}",
            placeholders(10, chunk.len())
        );
        let mut values = Vec::with_capacity(chunk.len() * 10);
        for c in chunk {
            values.extend([
                Value::from(c.id.clone()),
                Value::from(c.secret_hash.clone()),
                Value::from(0_i64),
                Value::from(c.auth_method.to_owned()),
                Value::from(c.grant_types.to_owned()),
                Value::from(c.scope.to_owned()),
                Value::from(String::new()),
                Value::from(c.metadata.clone()),
                Value::from(c.created_by.to_owned()),
                Value::from(now),
            ]);
        }
        insert(&tx, &sql, values, "clients")?;
    }
    tx.commit().map_err(|e| format!("preload commit: {e}"))?;
    Ok(all
        .into_iter()
        .filter(|c| c.secret_hash.is_none())
        .map(|c| c.id)
        .collect())
}

/// Insert `rows` families (and their one live token) numbered from `first`.
fn insert_families(
    conn: &mut Connection,
    first: usize,
    rows: usize,
    clients: &[String],
    people: &[String],
    now: i64,
) -> Result<(), String> {
    if clients.is_empty() {
        return Err("preload: no public client to hang the families on".to_owned());
    }
    let families: Vec<String> = (0..rows)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let hashes = random_bytes(rows * 32)?;
    let tx = conn.transaction().map_err(|e| format!("preload: {e}"))?;
    for (c, chunk) in families.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = format!(
            "INSERT INTO refresh_families (id, client_id, user_id, scope, resources, auth_time, created_at) VALUES {}",
            placeholders(7, chunk.len())
        );
        let mut values = Vec::with_capacity(chunk.len() * 7);
        for (j, id) in chunk.iter().enumerate() {
            let n = first + c * ROWS_PER_STATEMENT + j;
            values.extend([
                Value::from(id.clone()),
                Value::from(clients[n % clients.len()].clone()),
                Value::from(people[n % people.len()].clone()),
                Value::from(SCOPE.to_owned()),
                Value::from(RESOURCE.to_owned()),
                Value::from(now),
                Value::from(now),
            ]);
        }
        insert(&tx, &sql, values, "families")?;
    }
    for (c, chunk) in families.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = format!(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES {}",
            placeholders(4, chunk.len())
        );
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for (j, id) in chunk.iter().enumerate() {
            let k = c * ROWS_PER_STATEMENT + j;
            values.extend([
                Value::from(hashes[k * 32..k * 32 + 32].to_vec()),
                Value::from(id.clone()),
                Value::from(now),
                Value::from(now + 30 * 86_400),
            ]);
        }
        insert(&tx, &sql, values, "tokens")?;
    }
    tx.commit().map_err(|e| format!("preload commit: {e}"))
}
