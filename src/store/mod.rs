//! Persistence: an embedded SQLite database through sqlx.
//!
//! The connection is tuned for an issuer whose answers must be durable: WAL
//! journal, `synchronous = FULL` (a 200/201 means the commit reached the disk),
//! foreign keys on, and a busy timeout so writers queue instead of failing.
//! The hot writes (codes, refresh rotation, consents, sessions, the audit
//! trail) are group-committed by the [`writer`] thread: many requests, one
//! transaction, one fsync.
//!
//! Point reads on the request paths run inline through [`reader`]; other
//! reads go to a pool of connections (WAL lets both run beside a writer);
//! every write goes through one dedicated writer connection. SQLite admits one
//! writer at a time anyway: queueing for that connection in the pool is fair
//! and cheap, where many connections racing for the write lock fall into
//! SQLite's sleeping busy handler and stall for seconds under load.
//! Migrations are embedded and run at start-up. Queries are grouped by
//! aggregate in the submodules; handlers never hold SQL.

pub mod audit;
pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod keys;
pub mod maintenance;
pub mod reader;
pub mod refresh;
pub mod revocation;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod writer;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
    batches: writer::Writer,
    reader: std::sync::Arc<reader::Reader>,
    clients: client_cache::ClientCache,
}

impl Store {
    /// Open (creating if missing) and migrate the database at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if !url.starts_with("sqlite:") {
            bail!("database URL '{url}' is not supported: use sqlite://PATH");
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database URL '{url}' is not a valid SQLite URL"))?;
        // Point reads use connections of their own (`reader`), which would each
        // see a different, empty in-memory database.
        if url.contains(":memory:") || url.contains("mode=memory") {
            bail!(
                "database URL '{url}' is an in-memory database, which is not supported: use sqlite://PATH"
            );
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // The writer is never recycled: one connection for the server's life.
        // Neither pool pings a connection before handing it out: sqlx's ping
        // is a round trip to the connection's thread, on every query, and a
        // file connection does not go stale like a socket (sqlx still pings
        // on release and drops a connection that fails).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open database {url}"))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&writer)
            .await
            .context("database migration failed")?;
        let reader = reader::Reader::open(options.get_filename().to_owned())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {url}"))?;
        Ok(Self {
            pool,
            batches: writer::Writer::start(writer.clone())?,
            reader: std::sync::Arc::new(reader),
            writer,
            clients: client_cache::ClientCache::default(),
        })
    }

    /// Connections for reads.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The one connection for writes (and read-then-write transactions).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Run a write job in the next group-committed batch (see [`writer`]);
    /// returns once its transaction is on disk.
    pub async fn write<D, T>(&self, data: D, job: writer::Job<D, T>) -> Result<T, sqlx::Error>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.batches.write(data, job).await
    }

    /// Run a point read inline (see [`reader`]).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        self.reader.read(f)
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

impl Store {
    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// A consistent copy of the live database at `path` (SQLite `VACUUM INTO`),
    /// safe while the server runs.
    pub async fn backup(&self, path: &str) -> anyhow::Result<()> {
        if std::path::Path::new(path).exists() {
            bail!("{path} already exists: choose a new file");
        }
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.pool)
            .await
            .context("backup failed")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Store;

    #[tokio::test]
    async fn unsupported_database_urls_are_refused_with_a_reason() {
        for (url, why) in [
            ("postgres://localhost/tessera", "is not supported"),
            ("sqlite::memory:", "is an in-memory database"),
            ("sqlite://?mode=memory", "is an in-memory database"),
        ] {
            let Err(err) = Store::connect(url).await else {
                panic!("{url} was accepted");
            };
            let err = err.to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn a_file_database_opens_and_answers_a_point_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        assert!(!store.user_exists("nobody").await.unwrap());
    }
}
