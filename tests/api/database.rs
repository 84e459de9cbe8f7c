//! A database of each test's own, on the backend under test.
//!
//! The suite runs twice: on SQLite (each test a file in a temporary
//! directory) and, when `TESSERA_TEST_POSTGRES_URL` names a PostgreSQL
//! server, on PostgreSQL (each test a fresh database on that server, created
//! here and dropped when the test ends). `backends.rs` starts the second run;
//! `TESSERA_TEST_BACKEND=postgres` is how that run knows it is the second.

use std::time::Duration;

use sqlx::Connection;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend this run of the suite tests.
pub fn backend() -> Backend {
    match std::env::var("TESSERA_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// The server the PostgreSQL run creates its databases on.
pub fn postgres_server() -> Option<String> {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A test's database, and a temporary directory for its other files.
pub struct TestDatabase {
    pub dir: TempDir,
    url: String,
    /// The PostgreSQL database to drop with this one.
    postgres: Option<String>,
}

impl TestDatabase {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend() {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
                dir,
                postgres: None,
            },
            Backend::Postgres => {
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                on_server(&format!("CREATE DATABASE {name}"));
                Self {
                    url: with_database(&server(), &name),
                    dir,
                    postgres: Some(name),
                }
            }
        }
    }

    /// A SQLite database, whichever backend this run tests.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
            dir,
            postgres: None,
        }
    }

    /// A new PostgreSQL database on the test server, if there is one.
    pub fn postgres() -> Option<Self> {
        let server = postgres_server()?;
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        on_server(&format!("CREATE DATABASE {name}"));
        Some(Self {
            url: with_database(&server, &name),
            dir: tempfile::tempdir().unwrap(),
            postgres: Some(name),
        })
    }

    /// A database the caller made and owns at `url` (not dropped with this).
    pub fn at(url: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            url: url.to_owned(),
            postgres: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres {
            // FORCE ends the connections the test's pools still hold.
            on_server(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn server() -> String {
    postgres_server().expect("the PostgreSQL run needs TESSERA_TEST_POSTGRES_URL")
}

/// `url` naming the database `name` on the same server.
fn with_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).expect("TESSERA_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Run one statement on the server's own database, from a thread of its
/// own: fixtures are made from synchronous and asynchronous tests alike,
/// and a drop cannot await.
fn on_server(statement: &str) {
    let url = server();
    let statement = statement.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn =
                tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&url))
                    .await
                    .expect("the PostgreSQL server answers")
                    .expect("connecting to the PostgreSQL server");
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .unwrap();
            let _ = conn.close().await;
        });
    })
    .join()
    .unwrap();
}

/// A value bound to a statement of [`execute`].
pub enum Param<'a> {
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Run `sql` (with `?` placeholders) on the database at `url` behind the
/// server's back, as another process could.
pub async fn execute(url: &str, sql: &str, params: &[Param<'_>]) {
    if url.starts_with("sqlite://") {
        let conn = crate::helpers::database(url);
        let values: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                Param::Text(t) => rusqlite::types::Value::from((*t).to_owned()),
                Param::Blob(b) => rusqlite::types::Value::from(b.to_vec()),
            })
            .collect();
        conn.execute(sql, rusqlite::params_from_iter(values))
            .unwrap();
        return;
    }
    let mut numbered = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            numbered.push_str(&format!("${n}"));
        } else {
            numbered.push(c);
        }
    }
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(numbered));
    for p in params {
        query = match p {
            Param::Text(t) => query.bind((*t).to_owned()),
            Param::Blob(b) => query.bind(b.to_vec()),
        };
    }
    query.execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
}

/// The one signing key's `encrypted` flag and stored private key.
pub async fn stored_signing_key(url: &str) -> (bool, Vec<u8>) {
    const SQL: &str = "SELECT encrypted, private_der FROM signing_keys";
    if url.starts_with("sqlite://") {
        return crate::helpers::database(url)
            .query_row(SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
    }
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let row: (bool, Vec<u8>) = sqlx::query_as(SQL).fetch_one(&mut conn).await.unwrap();
    let _ = conn.close().await;
    row
}
