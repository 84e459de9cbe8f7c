//! Group commit: the hot write paths share transactions on a writer thread.
//!
//! Every write is one job: a plain function of its data and the connection.
//! Jobs queue for a thread that runs them back to back, in arrival order,
//! inside one `BEGIN IMMEDIATE … COMMIT`: one fsync (`synchronous = FULL`)
//! makes the whole batch durable, and a job's caller hears back only after
//! that commit, so an acknowledged write is on disk. While one batch commits
//! the next one gathers, so under load a commit serves many requests where it
//! used to serve one.
//!
//! The jobs run synchronously, through rusqlite, on the writer connection's
//! own SQLite handle, which sqlx lends out for the batch (`lock_handle`): its
//! worker thread stands aside until the batch is done. Through sqlx every
//! statement was a round trip to that worker thread, two thread switches, and
//! under load those switches cost more CPU than SQLite itself (BENCHMARKS.md,
//! "Thread hand-offs"); now a batch costs one round trip, for the handle.
//! The same connection still serves sqlx's few direct writes between batches.
//!
//! A job that fails rolls its whole batch back; every job of that batch then
//! runs again alone, so one bad write fails only its own caller. Jobs are
//! therefore re-runnable: they read their data by reference and keep no state.

use std::borrow::Cow;

use anyhow::Context;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use sqlx::SqlitePool;
use sqlx::sqlite::LockedSqliteHandle;
use tokio::runtime::Builder;
use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction carries.
const MAX_BATCH: usize = 128;
/// Jobs that may wait before callers feel back-pressure.
const QUEUE: usize = 4096;

/// A write: a function of its data and the connection (inside a transaction).
pub type Job<D, T> = fn(&D, &Connection) -> rusqlite::Result<T>;

/// A queued job with its data and the caller's reply channel, type-erased.
trait Queued: Send {
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()>;
    fn deliver(self: Box<Self>);
    fn fail(self: Box<Self>, error: sqlx::Error);
}

struct Pending<D, T> {
    data: D,
    job: Job<D, T>,
    out: Option<T>,
    reply: oneshot::Sender<Result<T, sqlx::Error>>,
}

impl<D: Send + Sync, T: Send> Queued for Pending<D, T> {
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.out = Some((self.job)(&self.data, conn)?);
        Ok(())
    }

    fn deliver(self: Box<Self>) {
        let result = self.out.ok_or(sqlx::Error::WorkerCrashed);
        let _ = self.reply.send(result);
    }

    fn fail(self: Box<Self>, error: sqlx::Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// Handle to the writer thread; the thread ends when every handle is gone.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Queued>>,
}

impl std::fmt::Debug for dyn Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write job")
    }
}

impl Writer {
    /// Start the thread; it writes through `pool` (the one writer connection).
    pub fn start(pool: SqlitePool) -> anyhow::Result<Self> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot build the writer runtime")?;
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("tessera-writer".into())
            .spawn(move || runtime.block_on(run_batches(pool, jobs)))
            .context("cannot start the writer thread")?;
        Ok(Self { queue })
    }

    /// Run `job` on `data` in the next batch; returns after its commit.
    pub async fn write<D, T>(&self, data: D, job: Job<D, T>) -> Result<T, sqlx::Error>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Box::new(Pending {
            data,
            job,
            out: None,
            reply,
        });
        self.queue
            .send(pending)
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

async fn run_batches(pool: SqlitePool, mut jobs: mpsc::Receiver<Box<dyn Queued>>) {
    let mut batch: Vec<Box<dyn Queued>> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Err(e) = run_batch(&pool, &mut batch).await {
            let why = e.to_string();
            for job in batch.drain(..) {
                job.fail(sqlx::Error::Protocol(why.clone()));
            }
        }
    }
}

/// Borrow the writer connection's SQLite handle and run the batch on it.
/// Fails (leaving `batch` to the caller) only if the handle cannot be had.
async fn run_batch(pool: &SqlitePool, batch: &mut Vec<Box<dyn Queued>>) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    with_handle(&mut handle, |db| match run_together(db, batch) {
        Ok(()) => batch.drain(..).for_each(|job| job.deliver()),
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                job.fail(into_sqlx(e));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, jobs = batch.len(), "write batch rolled back; running its jobs one by one");
            for mut job in batch.drain(..) {
                match run_together(db, std::slice::from_mut(&mut job)) {
                    Ok(()) => job.deliver(),
                    Err(e) => job.fail(into_sqlx(e)),
                }
            }
        }
    })?;
    Ok(())
}

/// Run `f` with rusqlite over the SQLite handle that sqlx lent out.
///
/// The only `unsafe` in the crate. `f` gets a shared reference, so it cannot
/// move the connection out and outlive the loan.
#[allow(unsafe_code)]
fn with_handle<R>(
    handle: &mut LockedSqliteHandle<'_>,
    f: impl FnOnce(&Connection) -> R,
) -> rusqlite::Result<R> {
    // SAFETY: while `handle` (a lock on the connection's state) is held,
    // sqlx's worker thread waits for it and touches nothing; `db` is dropped
    // before this function returns, so it never outlives the loan. A
    // connection made by `from_handle` does not close the handle when
    // dropped; it finalizes only the statements it prepared itself.
    let db = unsafe { Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let out = f(&db);
    if !db.is_autocommit() {
        // Never hand sqlx a connection inside a transaction (run_together
        // always ends its own; this is the belt to those braces).
        let _ = db.execute_batch("ROLLBACK");
    }
    drop(db);
    Ok(out)
}

/// Every job of the batch in one transaction; any failure rolls it all back
/// (a rusqlite `Transaction` rolls back when dropped uncommitted).
fn run_together(db: &Connection, batch: &mut [Box<dyn Queued>]) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(db, TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        job.run(&tx)?;
    }
    tx.commit()
}

/// A failed write in sqlx's terms, so callers handle every store error alike
/// (constraint kinds included).
pub(super) fn into_sqlx(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Database(Box::new(WriteError {
        message: e.to_string(),
        source: e,
    }))
}

#[derive(Debug)]
struct WriteError {
    message: String,
    source: rusqlite::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl sqlx::error::DatabaseError for WriteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.source
            .sqlite_error()
            .map(|e| Cow::Owned(e.extended_code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.source.sqlite_error().map(|e| e.extended_code) {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool() -> SqlitePool {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    fn insert(v: &i64, conn: &Connection) -> rusqlite::Result<usize> {
        conn.prepare_cached("INSERT INTO t (v) VALUES (?)")?
            .execute([v])
    }

    async fn count(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_jobs_all_commit() {
        let pool = pool().await;
        let writer = Writer::start(pool.clone()).unwrap();
        let jobs: Vec<_> = (0..200)
            .map(|v| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(v, insert).await })
            })
            .collect();
        for j in jobs {
            assert_eq!(j.await.unwrap().unwrap(), 1);
        }
        assert_eq!(count(&pool).await, 200);
    }

    /// `entered` gets a permit when the gate job runs; it returns once `open` has one.
    struct Gate {
        entered: tokio::sync::Semaphore,
        open: tokio::sync::Semaphore,
    }

    /// A job that holds its batch open until the test lets it go (jobs are
    /// synchronous: it blocks the writer thread, as a long job would).
    fn gate(g: &std::sync::Arc<Gate>, _conn: &Connection) -> rusqlite::Result<()> {
        g.entered.add_permits(1);
        while g.open.try_acquire().is_err() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    }

    /// Wait until the writer's queue holds `n` jobs.
    async fn queued(writer: &Writer, n: usize) {
        while QUEUE - writer.queue.capacity() != n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone() {
        let pool = pool().await;
        let writer = Writer::start(pool.clone()).unwrap();
        // Hold the writer inside a first batch, so the next five jobs queue
        // and are committed together: the duplicate 7 must roll that shared
        // batch back, and the other four must still commit when rerun alone.
        let g = std::sync::Arc::new(Gate {
            entered: tokio::sync::Semaphore::new(0),
            open: tokio::sync::Semaphore::new(0),
        });
        let held = {
            let (w, g) = (writer.clone(), g.clone());
            tokio::spawn(async move { w.write(g, gate).await })
        };
        drop(g.entered.acquire().await.unwrap());
        let jobs: Vec<_> = [1, 7, 2, 7, 3]
            .into_iter()
            .map(|v| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(v, insert).await })
            })
            .collect();
        queued(&writer, 5).await;
        g.open.add_permits(1);
        held.await.unwrap().unwrap();
        let mut failed = Vec::new();
        for j in jobs {
            if let Err(e) = j.await.unwrap() {
                failed.push(e);
            }
        }
        assert_eq!(failed.len(), 1);
        // The caller sees SQLite's own failure, in sqlx's terms.
        let db = failed[0].as_database_error().expect("a database error");
        assert!(db.is_unique_violation(), "{db}");
        assert!(db.message().contains("UNIQUE"), "{db}");
        assert_eq!(count(&pool).await, 4);
    }
}
