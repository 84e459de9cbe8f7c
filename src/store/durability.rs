//! Group commit: many transactions made durable by one `fsync` of the WAL.
//!
//! The connections run WAL with `synchronous = NORMAL`, so a `COMMIT` appends
//! its frames to the `-wal` file without waiting for the disk; SQLite itself
//! still syncs the WAL before every checkpoint and the database after it.
//! Before a write is acknowledged its caller awaits [`WalSync::sync`], which
//! returns once an `fdatasync` of the WAL file that *started after* the
//! caller's commit has finished. `fsync` flushes the file (the inode), not
//! one descriptor, so it covers every frame SQLite wrote before it began.
//! Commits that arrive while a sync runs share the next one: under load one
//! disk flush acknowledges a whole batch, where `synchronous = FULL` made the
//! single writer connection wait for the disk once per transaction.
//!
//! The WAL file is opened afresh for each sync: SQLite deletes it when the
//! last connection closes (after a checkpoint that syncs the database, so
//! nothing is lost) and a new one may take its place. When its inode changes
//! the directory is synced too, so the new file's name is durable as well.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

/// How far the WAL is known to be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    /// Every ticket up to this one is durable.
    Upto(u64),
    /// An `fsync` failed: the disk can no longer be trusted (after a failed
    /// `fsync` Linux may drop the dirty pages), so every later write fails.
    Failed,
}

#[derive(Debug)]
struct Shared {
    wal: Option<PathBuf>,
    tickets: AtomicU64,
    wake: Notify,
    synced: watch::Sender<Synced>,
}

/// Handle to the group-commit flusher of one database; cheap to clone.
#[derive(Debug, Clone)]
pub struct WalSync {
    shared: Arc<Shared>,
}

impl WalSync {
    /// A flusher for the database file `db` (`None` for an in-memory
    /// database, which has nothing to sync). Spawns its task.
    pub fn start(db: Option<PathBuf>) -> Self {
        let wal = db.map(|p| {
            let mut name = p.into_os_string();
            name.push("-wal");
            PathBuf::from(name)
        });
        let (synced, _) = watch::channel(Synced::Upto(0));
        let shared = Arc::new(Shared {
            wal,
            tickets: AtomicU64::new(0),
            wake: Notify::new(),
            synced,
        });
        if shared.wal.is_some() {
            tokio::spawn(flusher(shared.clone()));
        }
        Self { shared }
    }

    /// Wait until everything committed before this call is on disk.
    pub async fn sync(&self) -> Result<(), sqlx::Error> {
        if self.shared.wal.is_none() {
            return Ok(());
        }
        // Taking the ticket after the caller's commit is what ties the two:
        // the flusher reads the counter before it starts the fsync.
        let ticket = self.shared.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rx = self.shared.synced.subscribe();
        self.shared.wake.notify_one();
        let seen = rx
            .wait_for(|s| match s {
                Synced::Upto(n) => *n >= ticket,
                Synced::Failed => true,
            })
            .await
            .map(|s| *s)
            .map_err(|_| io_error("the WAL flusher stopped"))?;
        match seen {
            Synced::Failed => Err(io_error("an fsync of the database WAL failed")),
            Synced::Upto(_) => Ok(()),
        }
    }
}

fn io_error(what: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(what.to_owned()))
}

async fn flusher(shared: Arc<Shared>) {
    let Some(wal) = shared.wal.clone() else {
        return;
    };
    let mut inode = None;
    loop {
        shared.wake.notified().await;
        let upto = shared.tickets.load(Ordering::SeqCst);
        if shared.synced.borrow().eq(&Synced::Upto(upto)) {
            continue;
        }
        let path = wal.clone();
        let done = tokio::task::spawn_blocking(move || sync_wal(&path, inode)).await;
        let next = match done {
            Ok(Ok(seen)) => {
                inode = seen.or(inode);
                Synced::Upto(upto)
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, wal = %wal.display(), "fsync of the WAL failed: refusing further writes");
                Synced::Failed
            }
            Err(_) => Synced::Failed,
        };
        shared.synced.send_replace(next);
        if next == Synced::Failed {
            return;
        }
    }
}

/// `fdatasync` the WAL (and its directory when the file is new); returns the
/// inode synced. A missing WAL was checkpointed and removed: nothing to do.
fn sync_wal(path: &std::path::Path, known: Option<u64>) -> std::io::Result<Option<u64>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.sync_data()?;
    let ino = file.metadata()?.ino();
    if known != Some(ino) {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(Some(ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_databases_need_no_sync() {
        WalSync::start(None).sync().await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_waiters_share_flushes_and_all_return() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-wal"), b"frames").unwrap();
        let sync = WalSync::start(Some(db));
        let waiters: Vec<_> = (0..64)
            .map(|_| {
                let s = sync.clone();
                tokio::spawn(async move { s.sync().await })
            })
            .collect();
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        assert_eq!(*sync.shared.synced.borrow(), Synced::Upto(64));
    }

    #[tokio::test]
    async fn a_missing_wal_is_already_durable() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::start(Some(dir.path().join("absent.db")));
        sync.sync().await.unwrap();
    }
}
