//! Preparing one server for a suite, through the real interfaces only: the
//! CLI creates the machine client and the people, `POST /register` the public
//! client, and each person walks the sign-in and consent pages once so their
//! session and consent exist before the measured scenarios start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::http::Conn;
use crate::preload::{Preloaded, preload};
use crate::scenarios::{CALLBACK, Fixture, Identity, SCOPE, open_session};
use crate::server::{Server, cli, write_config};

const PASSWORD: &str = "correct horse battery staple";

/// A prepared server and what the suite shares.
pub struct Prepared {
    pub server: Server,
    pub fixture: Arc<Fixture>,
    /// Spawn to ready on the very first start (keys and `admin` are created then).
    pub first_start_ready: Duration,
    pub preloaded: Option<Preloaded>,
    pub dir: PathBuf,
}

/// A fresh database (SQLite in `dir`, or the empty `postgres` database),
/// optionally preloaded, with `people` people.
pub async fn prepare(
    bin: &Path,
    dir: &Path,
    postgres: Option<&str>,
    people: usize,
    preload_rows: Option<usize>,
) -> Result<Prepared, String> {
    let database = match postgres {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", dir.join("tessera.db").display()),
    };
    let preloaded = match preload_rows {
        Some(n) => {
            eprintln!("preloading {n} clients and {n} refresh-token families…");
            Some(preload(&database, n).await?)
        }
        None => None,
    };
    write_config(dir)?;
    // Only `serve` and `init` create a database; other commands need it to
    // exist. A binary from before `init` fails here and creates it at the
    // next command, so the harness can still measure an older build.
    let _ = cli(bin, &database, dir, &["init"], None);
    let (machine_basic, _) = add_client(bin, &database, dir, &["--scope", SCOPE])?;
    let (introspector_basic, _) = add_client(bin, &database, dir, &["--introspect"])?;
    let usernames = add_people(bin, &database, dir, people)?;
    // The first start generates the signing key and the first `admin`; the
    // figures come from a second start on the existing database.
    let first = Server::start(bin, &database, dir, "first-start").await?;
    let first_start_ready = first.ready;
    first.stop()?;
    let server = Server::start(bin, &database, dir, "bench").await?;
    let mut conn = Conn::new(server.addr);
    let public_client = register_public_client(&mut conn).await?;
    let authorize_path = Fixture::authorize_path(&public_client);
    let identities = open_sessions(server.addr, &authorize_path, usernames).await?;
    let access_token = machine_token(&mut conn, &machine_basic).await?;
    let kit = resource_kit(server.addr, 10_000, &access_token).await?;
    let kit_cold = resource_kit(server.addr, 0, &access_token).await?;
    let fixture = Arc::new(Fixture {
        addr: server.addr,
        machine_basic,
        introspector_basic,
        kit,
        kit_cold,
        access_token,
        public_client,
        authorize_path,
        password: PASSWORD.to_owned(),
        identities,
        registrations: AtomicU64::new(0),
    });
    Ok(Prepared {
        server,
        fixture,
        first_start_ready,
        preloaded,
        dir: dir.to_owned(),
    })
}

/// `tessera client add --name bench … --json`; returns the `Basic`
/// authorization value and the client id.
fn add_client(
    bin: &Path,
    database: &str,
    dir: &Path,
    extra: &[&str],
) -> Result<(String, String), String> {
    let mut args = vec!["client", "add", "--name", "bench", "--json"];
    args.extend_from_slice(extra);
    let out = cli(bin, database, dir, &args, None)?;
    let added: Value = serde_json::from_str(&out)
        .map_err(|e| format!("client add printed no JSON ({e}): {out}"))?;
    let id = added["client_id"]
        .as_str()
        .ok_or("client add: no client_id")?;
    let secret = added["client_secret"]
        .as_str()
        .ok_or("client add: no client_secret")?;
    let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    Ok((basic, id.to_owned()))
}

/// `tessera user add NAME --password-stdin`, once per person.
fn add_people(
    bin: &Path,
    database: &str,
    dir: &Path,
    people: usize,
) -> Result<Vec<String>, String> {
    (0..people.max(1))
        .map(|i| {
            let name = format!("bench-{i:03}");
            cli(
                bin,
                database,
                dir,
                &["user", "add", &name, "--password-stdin"],
                Some(&format!("{PASSWORD}\n")),
            )?;
            Ok(name)
        })
        .collect()
}

/// One client_credentials access token, for the introspection scenario.
async fn machine_token(conn: &mut Conn, basic: &str) -> Result<String, String> {
    let res = conn
        .post_form(
            "/token",
            "grant_type=client_credentials".to_owned(),
            &[(hyper::header::AUTHORIZATION, basic)],
        )
        .await?
        .expect(200, "a client_credentials token")?;
    res.json()?["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no access_token".to_owned())
}

/// `POST /register` as an MCP client does; returns the client id.
async fn register_public_client(conn: &mut Conn) -> Result<String, String> {
    let body = json!({"client_name": "Bench agent", "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"});
    let res = conn
        .post_json("/register", &body)
        .await?
        .expect(201, "register the public client")?;
    res.json()?["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "register: no client_id".to_owned())
}

/// Each person signs in and consents once, concurrently.
async fn open_sessions(
    addr: std::net::SocketAddr,
    authorize: &str,
    usernames: Vec<String>,
) -> Result<Vec<Identity>, String> {
    let tasks: Vec<_> = usernames
        .into_iter()
        .map(|username| {
            let authorize = authorize.to_owned();
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let session = open_session(&mut conn, &authorize, &username, PASSWORD).await?;
                Ok::<_, String>(Identity { username, session })
            })
        })
        .collect();
    let mut identities = Vec::with_capacity(tasks.len());
    for task in tasks {
        identities.push(task.await.map_err(|e| format!("session task: {e}"))??);
    }
    Ok(identities)
}

/// A resource-server kit for the example config's default resource, its key
/// set fetched (one validation) before the measurement starts.
async fn resource_kit(
    addr: std::net::SocketAddr,
    cache: usize,
    token: &str,
) -> Result<tessera_resource::ResourceKit, String> {
    let kit = tessera_resource::ResourceServer::new(
        &format!("http://{addr}"),
        "http://127.0.0.1:3000/mcp",
    )
    .verified_cache_capacity(cache)
    .build()
    .map_err(|e| format!("kit: {e}"))?;
    kit.verify(token)
        .await
        .map_err(|e| format!("kit warm-up: {e:?}"))?;
    Ok(kit)
}
