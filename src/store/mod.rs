//! Persistence: the one boundary between Tessera and its database.
//!
//! [`Store`] is the whole interface: methods grouped by aggregate in the
//! submodules (`clients`, `codes`, `refresh`, `consents`, `sessions`,
//! `users`, `people`, `factors` (second factors, sign-ins), `passkeys`, `keys`, `settings`, `revocation`, `audit`,
//! `maintenance`), taking
//! and returning plain values and the store's own [`Error`]. Behind it sits a
//! backend that owns every detail of one database: SQLite ([`sqlite`], the
//! default: one file, one process writing) or PostgreSQL ([`postgres`]:
//! several replicas on one database). Only these two modules know a driver,
//! a dialect or a transaction mode; each has the same methods, and
//! `on_backend!` dispatches a call to either.
//!
//! What every backend guarantees, and the rest of Tessera relies on:
//! - a method that writes returns only once its transaction is committed and
//!   durable, so an answer of 200/201 never names data a crash can lose;
//! - single-use things (codes, refresh tokens) are spent by a guarded update,
//!   never check-then-write, so of two racing redemptions one wins;
//! - the audit chain is extended inside the write lock, so concurrent writers
//!   never fork it;
//! - the request paths' reads are point lookups by primary key or unique index.

pub mod assertions;
pub mod audit;
pub mod chain;
pub mod changes;
pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod copy;
mod error;
pub mod factors;
pub mod keys;
pub mod maintenance;
pub mod passkeys;
pub mod people;
mod postgres;
pub mod private_file;
pub mod rate_windows;
pub mod refresh;
pub mod revocation;
pub mod sessions;
pub mod settings;
mod sqlite;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, Result};

/// The database behind a [`Store`].
#[derive(Debug)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Run `$body` with `$db` bound to the store's backend, whichever it is.
macro_rules! on_backend {
    ($store:expr, $db:ident => $body:expr) => {
        match &*$store.backend {
            $crate::store::Backend::Sqlite($db) => $body,
            $crate::store::Backend::Postgres($db) => $body,
        }
    };
}

/// How a store is opened: what it may create and write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Create the database if missing, and migrate it (`tessera serve`).
    #[default]
    Create,
    /// The database must exist; migrate it and write (the CLI's changes).
    Existing,
    /// The database must exist and is only read: no migration, no generated
    /// setting stored, and any write is refused by the database itself.
    ReadOnly,
}

/// How a store is opened, and how a PostgreSQL store connects.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections in the pool.
    pub pool_size: u32,
    /// The longest a statement may run before the database cancels it.
    pub statement_timeout: Duration,
    /// What opening may create and write.
    pub access: Access,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            access: Access::Create,
        }
    }
}
pub(crate) use on_backend;

/// A connection to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<Backend>,
    clients: client_cache::ClientCache,
    read_only: bool,
}

impl Store {
    /// Open and migrate the database at `url`: `sqlite://PATH` (created if
    /// missing) with the default options.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &Options::default()).await
    }

    /// Open the database at `url`: `sqlite://PATH` or `postgres://…` /
    /// `postgresql://…`, created, migrated or only read as `options.access`
    /// says.
    pub async fn open_with(url: &str, options: &Options) -> Result<Self> {
        let access = options.access;
        let backend = if postgres::is_url(url) {
            Backend::Postgres(postgres::Postgres::open(url, options).await?)
        } else {
            let url = url.to_owned();
            let sqlite = tokio::task::spawn_blocking(move || sqlite::Sqlite::open(&url, access))
                .await
                .map_err(|e| Error::Open(format!("opening the database failed: {e}")))??;
            Backend::Sqlite(sqlite)
        };
        Ok(Self {
            backend: Arc::new(backend),
            clients: client_cache::ClientCache::default(),
            read_only: access == Access::ReadOnly,
        })
    }

    /// Opened only to read: nothing may be generated or scheduled.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `sqlite` or `postgresql`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match *self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgresql",
        }
    }

    /// The directory holding a SQLite database's file (`None` on
    /// PostgreSQL): where files that belong with the data go.
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        match &*self.backend {
            Backend::Sqlite(db) => db.path().parent().map(Path::to_path_buf),
            Backend::Postgres(_) => None,
        }
    }

    /// Whether several serving processes may share this database (PostgreSQL),
    /// so that what each process counts alone must be counted in it.
    pub fn is_shared(&self) -> bool {
        matches!(*self.backend, Backend::Postgres(_))
    }

    /// Write everything queued, then close. Later writes fail with
    /// [`Error::Closed`].
    pub async fn close(&self) {
        on_backend!(self, db => db.close().await)
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, db => db.ping().await)
    }

    /// A consistent copy of the live database at `path`, safe while the
    /// server runs. Refuses to overwrite an existing file.
    pub async fn backup(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(Error::Open(format!(
                "{} already exists: choose a new file",
                path.display()
            )));
        }
        on_backend!(self, db => db.backup(path).await)
    }
}

/// A space-separated list column, as both backends store them.
fn split_list(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Store;

    #[tokio::test]
    async fn a_file_database_opens_and_answers_a_point_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        assert!(!store.user_exists("nobody").await.unwrap());
    }

    #[tokio::test]
    async fn a_closed_store_refuses_writes_and_keeps_what_it_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        assert!(store.create_user("u1", "alice", "hash", 1).await.unwrap());
        store.close().await;
        let refused = store.create_user("u2", "bob", "hash", 1).await;
        assert!(matches!(refused, Err(super::Error::Closed)), "{refused:?}");
        let again = Store::open(&url).await.unwrap();
        assert_eq!(again.user_count().await.unwrap(), 1);
    }
}
