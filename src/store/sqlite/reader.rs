//! Reads, on read-only connections of their own.
//!
//! Point reads on the request paths (the client, the session, the consent,
//! the code, the revocation list) run inline on the calling thread: each is a
//! primary-key or unique-index lookup of one row, WAL readers never wait for
//! the writer, and the pages come from SQLite's or the OS's cache, so such a
//! read holds an async worker no longer than a hand-off to another thread
//! would. Scans and listings (the CLI, the audit trail) run on the blocking
//! pool instead ([`super::Sqlite::scan`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::{Error, Result};

/// Idle connections kept for reuse; more are opened when more threads read
/// at once (about one per runtime worker), and the extras closed after use.
const KEEP: usize = 8;

#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Open the first connection now, so a bad path fails at start-up.
    pub fn open(path: PathBuf) -> Result<Self> {
        let first = connect(&path)
            .map_err(|e| Error::Open(format!("cannot open {} for reading: {e}", path.display())))?;
        Ok(Self {
            path,
            idle: Mutex::new(vec![first]),
        })
    }

    /// Run `f` on this thread, on an idle read-only connection (or a new one).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => connect(&self.path).map_err(super::database)?,
        };
        let out = f(&conn).map_err(super::database);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        out
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_committed_writes_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        let reader = Reader::open(path).unwrap();
        let count = |r: &Reader| {
            r.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
        };
        assert_eq!(count(&reader).unwrap(), 1);
        w.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(count(&reader).unwrap(), 2);
        let refused = reader.read(|c| c.execute("INSERT INTO t VALUES (3)", []));
        assert!(refused.is_err(), "a reader connection is read-only");
    }

    #[test]
    fn a_missing_database_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Reader::open(dir.path().join("absent.db")).is_err());
    }
}
