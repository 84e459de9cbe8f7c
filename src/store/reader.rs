//! Hot point reads, run inline on the calling thread.
//!
//! sqlx gives every SQLite connection a worker thread: a query is a message to
//! that thread and a wake-up back, two thread switches around a lookup that
//! takes SQLite a few microseconds. On the request paths (the client, the
//! session, the consent, the code, the revocation list) those switches cost
//! more than the reads (BENCHMARKS.md, "Thread hand-offs"). These reads go
//! through rusqlite connections of their own instead, opened read-only on the
//! same file and used directly by the task that needs the row.
//!
//! Running a read on an async worker is sound here because every one of them
//! is a primary-key or unique-index lookup of one row: WAL readers never wait
//! for the writer, and the pages come from SQLite's or the OS's cache. Scans
//! and listings (the CLI, the admin pages, the audit trail) stay on sqlx's
//! pool, off the request threads.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

use super::writer::into_sqlx;

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
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let first = connect(&path)
            .with_context(|| format!("cannot open {} for reading", path.display()))?;
        Ok(Self {
            path,
            idle: Mutex::new(vec![first]),
        })
    }

    /// Run `f` on this thread, on an idle read-only connection (or a new one).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => connect(&self.path).map_err(into_sqlx)?,
        };
        let out = f(&conn).map_err(into_sqlx);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        out
    }
}

fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
    // A plain path, never a `file:` URI (sqlx has already resolved the URL).
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
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
