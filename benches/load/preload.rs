//! Data-growth mode: fill a fresh database with N clients and N refresh-token
//! families (one live token each) before the server starts.
//!
//! The schema comes from the crate's own migrations (`Store::connect`); rows
//! go in through multi-row `INSERT`s in large transactions. Rows look real:
//! 128-bit random client ids, 32-byte keyed-hash-sized secret and token hashes,
//! half public registration clients (the families hang off those, spread over
//! a thousand people) and half administrator machine clients.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;
use sqlx::{Sqlite, SqlitePool, Transaction};
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
    let store = Store::connect(database)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let pool = store.pool();
    let now = unix_now();
    let people = insert_people(pool, now).await?;
    let mut public_clients = Vec::with_capacity(n.div_ceil(2));
    let mut done = 0;
    while done < n {
        let rows = ROWS_PER_COMMIT.min(n - done);
        let ids = insert_clients(pool, done, rows, now).await?;
        public_clients.extend(ids);
        done += rows;
        eprintln!("  preload: {done}/{n} clients");
    }
    let mut done = 0;
    while done < n {
        let rows = ROWS_PER_COMMIT.min(n - done);
        insert_families(pool, done, rows, &public_clients, &people, now).await?;
        done += rows;
        eprintln!("  preload: {done}/{n} refresh-token families");
    }
    store.close().await;
    Ok(Preloaded {
        clients: n,
        families: n,
        seconds: started.elapsed().as_secs_f64(),
    })
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

async fn begin(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, String> {
    pool.begin().await.map_err(|e| format!("preload: {e}"))
}

async fn commit(tx: Transaction<'static, Sqlite>) -> Result<(), String> {
    tx.commit()
        .await
        .map_err(|e| format!("preload commit: {e}"))
}

/// A thousand people to own the families (their password hashes match nothing).
async fn insert_people(pool: &SqlitePool, now: i64) -> Result<Vec<String>, String> {
    let mut tx = begin(pool).await?;
    let ids: Vec<String> = (0..PEOPLE)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let (salt, hash) = (B64.encode(random_bytes(16)?), B64.encode(random_bytes(32)?));
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(format!("preload-{i}"))
        .bind(format!("$argon2id$v=19$m=19456,t=2,p=1${salt}${hash}"))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| format!("preload users: {e}"))?;
    }
    commit(tx).await?;
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
async fn insert_clients(
    pool: &SqlitePool,
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
    let mut tx = begin(pool).await?;
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO clients (id, secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
             metadata, created_by, created_at) VALUES {}",
            placeholders(10, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q
                .bind(&c.id)
                .bind(&c.secret_hash)
                .bind(0_i64)
                .bind(c.auth_method)
                .bind(c.grant_types)
                .bind(c.scope)
                .bind("")
                .bind(&c.metadata)
                .bind(c.created_by)
                .bind(now);
        }
        q.execute(&mut *tx)
            .await
            .map_err(|e| format!("preload clients: {e}"))?;
    }
    commit(tx).await?;
    Ok(all
        .into_iter()
        .filter(|c| c.secret_hash.is_none())
        .map(|c| c.id)
        .collect())
}

/// Insert `rows` families (and their one live token) numbered from `first`.
async fn insert_families(
    pool: &SqlitePool,
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
    let mut tx = begin(pool).await?;
    for (c, chunk) in families.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = format!(
            "INSERT INTO refresh_families (id, client_id, user_id, scope, resources, auth_time, created_at) VALUES {}",
            placeholders(7, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (j, id) in chunk.iter().enumerate() {
            let n = first + c * ROWS_PER_STATEMENT + j;
            q = q
                .bind(id)
                .bind(&clients[n % clients.len()])
                .bind(&people[n % people.len()])
                .bind(SCOPE)
                .bind(RESOURCE)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx)
            .await
            .map_err(|e| format!("preload families: {e}"))?;
    }
    for (c, chunk) in families.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = format!(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES {}",
            placeholders(4, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (j, id) in chunk.iter().enumerate() {
            let k = c * ROWS_PER_STATEMENT + j;
            q = q
                .bind(&hashes[k * 32..k * 32 + 32])
                .bind(id)
                .bind(now)
                .bind(now + 30 * 86_400);
        }
        q.execute(&mut *tx)
            .await
            .map_err(|e| format!("preload tokens: {e}"))?;
    }
    commit(tx).await
}
