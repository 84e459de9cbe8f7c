//! The SQLite backend: one database file, driven through rusqlite.
//!
//! The database is tuned for an issuer whose answers must be durable: WAL
//! journal, `synchronous = FULL` (a 200/201 means the commit reached the
//! disk), foreign keys on, and a busy timeout so that another process's write
//! (the CLI's, beside a running server) is waited for instead of failing.
//!
//! Two kinds of connection, and nothing else: the one writer connection,
//! owned by the [`writer`] thread, through which every write of this process
//! passes, group-committed; and read-only connections ([`reader`]) for reads.
//! SQLite admits one writer at a time anyway: one connection queueing the
//! writes is fair and cheap, where many connections racing for the write lock
//! fall into SQLite's sleeping busy handler and stall for seconds under load.
//!
//! The queries are grouped by aggregate in the submodules; this is the only
//! place in the crate that knows SQLite's dialect, placeholders, transaction
//! modes or file handling.

mod assertions;
mod audit;
mod changes;
mod clients;
mod codes;
mod consents;
mod export;
mod factors;
mod files;
mod keys;
mod maintenance;
mod migrate;
mod passkeys;
mod people;
mod rate_windows;
mod reader;
mod refresh;
mod revocation;
mod sessions;
mod settings;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::{Access, Error, Result};

pub use writer::Job;

/// An open SQLite database.
#[derive(Debug)]
pub struct Sqlite {
    path: PathBuf,
    writer: writer::Writer,
    reader: Arc<reader::Reader>,
    /// The audit chain's key, shared with the writer thread once loaded.
    chain_key: crate::store::chain::KeySlot,
}

/// The file a `sqlite:` URL names: `sqlite://tessera.db` (relative),
/// `sqlite:///var/lib/tessera.db`, `sqlite:tessera.db`; percent-encoded;
/// `?mode=rwc` (the default) is the only parameter accepted.
pub fn path_of(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "database URL '{url}' is not supported: use sqlite://PATH or postgres://…"
            ))
        })?;
    let (file, params) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = || {
        Error::Unsupported(format!(
            "database URL '{url}' is an in-memory database, which is not supported: use sqlite://PATH"
        ))
    };
    for (key, value) in url::form_urlencoded::parse(params.as_bytes()) {
        match (&*key, &*value) {
            ("mode", "rwc") => {}
            ("mode", "memory") => return Err(memory()),
            _ => {
                return Err(Error::Unsupported(format!(
                    "database URL '{url}': parameter '{key}={value}' is not supported"
                )));
            }
        }
    }
    if file == ":memory:" {
        return Err(memory());
    }
    let file = percent_encoding::percent_decode_str(file)
        .decode_utf8()
        .map_err(|_| Error::Unsupported(format!("database URL '{url}' is not valid UTF-8")))?;
    if file.is_empty() {
        return Err(Error::Unsupported(format!(
            "database URL '{url}' names no file: use sqlite://PATH"
        )));
    }
    Ok(PathBuf::from(file.into_owned()))
}

impl Sqlite {
    /// Open and migrate the database at `url` (creating it only under
    /// [`Access::Create`]; under [`Access::ReadOnly`] neither migrated nor
    /// writable); blocking.
    pub fn open(url: &str, access: Access) -> Result<Self> {
        let path = path_of(url)?;
        let opening = |e: rusqlite::Error| {
            Error::Open(format!("cannot open database {}: {e}", path.display()))
        };
        files::check_place(&path, access)?;
        if access == Access::Create {
            // Created owner-only before SQLite sees it; SQLite gives its -wal
            // and -shm files the same mode.
            match crate::store::private_file::create(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Open(format!(
                        "cannot create database {}: {e}",
                        path.display()
                    )));
                }
                _ => {}
            }
        }
        let mut conn = writer_connection(&path, access).map_err(opening)?;
        if access == Access::ReadOnly {
            migrate::check(&conn).map_err(|e| prefixed(&path, e))?;
        } else {
            migrate::run(&mut conn).map_err(|e| prefixed(&path, e))?;
            files::warn_if_exposed(&path);
        }
        let reader = reader::Reader::open(path.clone())?;
        let chain_key = crate::store::chain::KeySlot::default();
        Ok(Self {
            writer: writer::Writer::start(conn, chain_key.clone())?,
            reader: Arc::new(reader),
            path,
            chain_key,
        })
    }

    /// Run a write job in the next group-committed batch; returns once its
    /// transaction is on disk.
    pub async fn write<D, T>(&self, data: D, job: Job<D, T>) -> Result<T>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.writer.write(data, job).await
    }

    /// A point read, inline (see [`reader`]).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.reader.read(f)
    }

    /// A scan or listing, on the blocking pool.
    pub async fn scan<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || reader.read(f))
            .await
            .map_err(|e| Error::Database(Box::new(e)))?
    }

    pub async fn audit(&self, at: i64, json: String, durable: bool) -> Result<()> {
        self.writer.audit(at, json, durable).await
    }

    pub fn audit_backlog(&self) -> i64 {
        self.writer.audit_backlog()
    }

    pub fn chain_key(&self) -> &crate::store::chain::KeySlot {
        &self.chain_key
    }

    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A round trip through the write queue (a batch that changes nothing
    /// commits without touching the disk) and a read.
    pub async fn ping(&self) -> Result<()> {
        self.write((), |(), conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await?;
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
    }

    /// A consistent copy of the live database at `to` (`VACUUM INTO`), taken
    /// on a connection of its own while the server keeps writing. `to` is
    /// created owner-only first, and must not exist.
    pub async fn backup(&self, to: &Path) -> Result<()> {
        let from = self.path.clone();
        let to = to.to_owned();
        crate::store::private_file::create(&to).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Open(format!(
                "{} already exists: choose a new file",
                to.display()
            )),
            _ => Error::Open(format!("cannot create {}: {e}", to.display())),
        })?;
        let target = to.clone();
        let copied = tokio::task::spawn_blocking(move || {
            let conn = Connection::open_with_flags(
                &from,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.execute("VACUUM INTO ?", [target.to_string_lossy()])
                .map(|_| ())
        })
        .await
        .map_err(|e| Error::Database(Box::new(e)))?
        .map_err(database);
        if copied.is_err() {
            // Not a backup: do not leave an empty file that looks like one.
            let _ = std::fs::remove_file(&to);
        }
        copied
    }
}

/// A migration error naming the database it is about.
fn prefixed(path: &Path, e: Error) -> Error {
    match e {
        Error::Open(text) => Error::Open(format!("database {}: {text}", path.display())),
        e => e,
    }
}

/// The writer connection: WAL, durable commits. Read-only under
/// [`Access::ReadOnly`] (every write fails in SQLite), and never creating the
/// file unless [`Access::Create`].
fn writer_connection(path: &Path, access: Access) -> rusqlite::Result<Connection> {
    let flags = match access {
        Access::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        Access::Existing => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if access == Access::ReadOnly {
        return Ok(conn);
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The writer runs every write statement of the crate: keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// A driver error in the store's terms.
pub(super) fn database(e: rusqlite::Error) -> Error {
    Error::Database(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        for (url, file) in [
            ("sqlite://tessera.db", "tessera.db"),
            ("sqlite:tessera.db", "tessera.db"),
            ("sqlite:///var/lib/t.db", "/var/lib/t.db"),
            ("sqlite://my%20data.db?mode=rwc", "my data.db"),
        ] {
            assert_eq!(path_of(url).unwrap(), PathBuf::from(file), "{url}");
        }
    }

    #[test]
    fn unsupported_database_urls_are_refused_with_a_reason() {
        for (url, why) in [
            ("postgres://localhost/tessera", "is not supported"),
            ("sqlite::memory:", "is an in-memory database"),
            ("sqlite://?mode=memory", "is an in-memory database"),
            ("sqlite://x.db?cache=shared", "is not supported"),
            ("sqlite://", "names no file"),
        ] {
            let err = path_of(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
