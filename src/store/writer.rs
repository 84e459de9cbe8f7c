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
//! The thread is a runtime of its own because sqlx hands each statement to
//! the connection's worker thread and wakes the awaiting task afterwards: on
//! the server's runtime that wake-up queues behind signing and HTTP work, and
//! the one writer connection would sit idle between statements.
//!
//! A job that fails rolls its whole batch back; every job of that batch then
//! runs again alone, so one bad write fails only its own caller. Jobs are
//! therefore re-runnable: they read their data by reference and keep no state.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::runtime::Builder;
use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction carries.
const MAX_BATCH: usize = 128;
/// Jobs that may wait before callers feel back-pressure.
const QUEUE: usize = 4096;

type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// A write: a function of its data and the connection (inside a transaction).
pub type Job<D, T> =
    for<'c> fn(&'c D, &'c mut SqliteConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>;

/// A queued job with its data and the caller's reply channel, type-erased.
trait Queued: Send {
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
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
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let out = (self.job)(&self.data, conn).await?;
            self.out = Some(out);
            Ok(())
        })
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
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                let why = e.to_string();
                for job in batch.drain(..) {
                    job.fail(sqlx::Error::Protocol(why.clone()));
                }
                continue;
            }
        };
        match run_together(&mut conn, &mut batch).await {
            Ok(()) => batch.drain(..).for_each(|job| job.deliver()),
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.fail(e);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, jobs = batch.len(), "write batch rolled back; running its jobs one by one");
                for job in batch.drain(..) {
                    run_alone(&mut conn, job).await;
                }
            }
        }
    }
}

/// Every job of the batch in one transaction.
async fn run_together(
    conn: &mut SqliteConnection,
    batch: &mut [Box<dyn Queued>],
) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
    for job in batch.iter_mut() {
        job.run(&mut tx).await?;
    }
    tx.commit().await
}

async fn run_alone(conn: &mut SqliteConnection, mut job: Box<dyn Queued>) {
    match run_together(conn, std::slice::from_mut(&mut job)).await {
        Ok(()) => job.deliver(),
        Err(e) => job.fail(e),
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

    fn insert<'c>(
        v: &'c i64,
        conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = sqlx::query("INSERT INTO t (v) VALUES (?)")
                .bind(v)
                .execute(conn)
                .await?;
            Ok(done.rows_affected())
        })
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

    /// A job that holds its batch open until the test lets it go.
    fn gate<'c>(
        g: &'c std::sync::Arc<Gate>,
        _conn: &'c mut SqliteConnection,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            g.entered.add_permits(1);
            let _pass = g.open.acquire().await;
            Ok(())
        })
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
        let mut failed = 0;
        for j in jobs {
            failed += usize::from(j.await.unwrap().is_err());
        }
        assert_eq!(failed, 1);
        assert_eq!(count(&pool).await, 4);
    }
}
