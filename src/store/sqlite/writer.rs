//! The write queue: every write, audit records included, through one thread
//! that owns the database's one writer connection, group-committed.
//!
//! A write is a job: a plain function of its data and the connection.
//! Callers queue jobs and audit records for the thread, which takes what has
//! gathered (up to [`MAX_BATCH`] items) and runs it back to back inside one
//! `BEGIN IMMEDIATE … COMMIT`: one fsync (`synchronous = FULL`) makes the
//! whole batch durable, and a caller hears back only after that commit, so an
//! acknowledged write is on disk. While one batch commits the next gathers.
//!
//! Audit records ride the same batches, after the batch's jobs, extending the
//! hash chain from its tip inside the transaction (so no other writer can fork
//! it). Most records have nobody waiting for them; a batch made only of such
//! records waits up to [`LINGER`] for company first, because a transaction
//! costs the same for one record as for hundreds. A batch that carries a job
//! or a durable record goes at once, and one arriving during the wait ends it:
//! a caller never waits for records nobody waits for.
//!
//! A job that fails rolls its batch back; every job of that batch then runs
//! again alone, and the audit records in a transaction of their own, so one
//! bad write fails only its own caller. Jobs are therefore re-runnable: they
//! read their data by reference and keep no state.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{Notify, mpsc, oneshot};

use super::audit;
use crate::store::chain::{ChainKey, KeySlot};
use crate::store::{Error, Result};

/// The most items (jobs and audit records) one transaction carries.
const MAX_BATCH: usize = 512;
/// Items that may wait before callers feel back-pressure.
const QUEUE: usize = 65_536;
/// How long a batch of audit records nobody waits for gathers company.
const LINGER: Duration = Duration::from_millis(2);

/// A write: a function of its data and the connection (inside a transaction).
pub type Job<D, T> = fn(&D, &Connection) -> rusqlite::Result<T>;

/// A queued job with its data and the caller's reply channel, type-erased.
trait Queued: Send {
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()>;
    fn deliver(self: Box<Self>);
    fn fail(self: Box<Self>, error: Error);
}

struct Pending<D, T> {
    data: D,
    job: Job<D, T>,
    out: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<D: Send + Sync, T: Send> Queued for Pending<D, T> {
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.out = Some((self.job)(&self.data, conn)?);
        Ok(())
    }

    fn deliver(self: Box<Self>) {
        let result = self.out.ok_or(Error::Closed);
        let _ = self.reply.send(result);
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}

/// An audit record on its way to the chain.
struct Record {
    at: i64,
    json: String,
    /// Told whether the record was committed, for a caller that waits.
    ack: Option<oneshot::Sender<bool>>,
}

enum Item {
    Job(Box<dyn Queued>),
    Record(Record),
    /// Commit what came before, close the connection and stop.
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Item>,
    /// Audit records queued and not yet written (the `audit_backlog` gauge).
    backlog: Arc<AtomicI64>,
    /// Ends a linger when something someone waits for was queued.
    waiting: Arc<Notify>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write queue item")
    }
}

impl Writer {
    /// Start the thread; it owns `conn` until [`Writer::close`] or until every
    /// handle is gone.
    pub fn start(conn: Connection, chain_key: KeySlot) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Error::Open(format!("cannot build the writer's runtime: {e}")))?;
        let (queue, items) = mpsc::channel(QUEUE);
        let backlog = Arc::new(AtomicI64::new(0));
        let waiting = Arc::new(Notify::new());
        let thread = Thread {
            conn,
            chain_key,
            items,
            backlog: backlog.clone(),
            waiting: waiting.clone(),
        };
        std::thread::Builder::new()
            .name("tessera-writer".into())
            .spawn(move || runtime.block_on(thread.run()))
            .map_err(|e| Error::Open(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            queue,
            backlog,
            waiting,
        })
    }

    /// Run `job` on `data` in the next batch; returns after its commit.
    pub async fn write<D, T>(&self, data: D, job: Job<D, T>) -> Result<T>
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
            .send(Item::Job(pending))
            .await
            .map_err(|_| Error::Closed)?;
        self.waiting.notify_waiters();
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Queue an audit record for the chain. With `durable`, return once it is
    /// committed; otherwise once it is queued (a crash can lose the last
    /// milliseconds of such records; a graceful close writes them).
    pub async fn audit(&self, at: i64, json: String, durable: bool) -> Result<()> {
        let item = |ack| Item::Record(Record { at, json, ack });
        let failed = || Error::Database("the audit record could not be written".into());
        let (queue, backlog, waiting) = (&self.queue, &self.backlog, &self.waiting);
        crate::store::audit::hand_over(queue, backlog, waiting, durable, item, failed).await
    }

    pub fn audit_backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Write everything queued so far, then close the connection. Later
    /// writes fail with [`Error::Closed`].
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Item::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// The writer thread's side of the queue.
struct Thread {
    conn: Connection,
    chain_key: KeySlot,
    items: mpsc::Receiver<Item>,
    backlog: Arc<AtomicI64>,
    waiting: Arc<Notify>,
}

impl Thread {
    async fn run(mut self) {
        let mut batch: Vec<Item> = Vec::with_capacity(MAX_BATCH);
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut records = Vec::with_capacity(MAX_BATCH);
        while self.items.recv_many(&mut batch, MAX_BATCH).await > 0 {
            if lingers(&batch) {
                self.linger(&mut batch).await;
            }
            let mut close = None;
            for item in batch.drain(..) {
                match item {
                    Item::Job(job) => jobs.push(job),
                    Item::Record(record) => records.push(record),
                    Item::Close(done) => close = Some(done),
                }
            }
            let written = records.len() as i64;
            commit(&self.conn, self.chain_key.get(), &mut jobs, &mut records);
            self.backlog.fetch_sub(written, Ordering::Relaxed);
            if let Some(done) = close {
                self.items.close();
                drop(self);
                let _ = done.send(());
                return;
            }
        }
    }

    /// Let a batch of records nobody waits for gather company for up to
    /// [`LINGER`], but no longer than until something arrives that someone
    /// waits for. Records that arrive do not wake the thread; the waiting
    /// jobs' senders do.
    async fn linger(&mut self, batch: &mut Vec<Item>) {
        let waiting = self.waiting.clone();
        let woken = waiting.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // What was queued before the wake-up could be armed.
        if !take_queued(&mut self.items, batch) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(LINGER) => {}
            () = woken => {}
        }
        take_queued(&mut self.items, batch);
    }
}

/// Move what is queued into the batch; `true` while it still lingers.
fn take_queued(items: &mut mpsc::Receiver<Item>, batch: &mut Vec<Item>) -> bool {
    while batch.len() < MAX_BATCH {
        match items.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    lingers(batch)
}

/// Only audit records nobody waits for, and room for more: worth waiting for company.
fn lingers(batch: &[Item]) -> bool {
    batch.len() < MAX_BATCH
        && batch
            .iter()
            .all(|item| matches!(item, Item::Record(Record { ack: None, .. })))
}

/// Commit the jobs and records together; on failure, each job alone and the
/// records on their own, so that one bad job fails only its caller.
fn commit(
    conn: &Connection,
    key: Option<&ChainKey>,
    jobs: &mut Vec<Box<dyn Queued>>,
    records: &mut Vec<Record>,
) {
    let rows: Vec<(i64, &str)> = records.iter().map(|r| (r.at, r.json.as_str())).collect();
    let committed = match together(conn, key, jobs, &rows) {
        Ok(()) => {
            jobs.drain(..).for_each(|job| job.deliver());
            true
        }
        Err(e) if jobs.len() == 1 && rows.is_empty() => {
            if let Some(job) = jobs.pop() {
                job.fail(super::database(e));
            }
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, jobs = jobs.len(), records = rows.len(), "write batch rolled back; running its parts one by one");
            for mut job in jobs.drain(..) {
                match together(conn, key, std::slice::from_mut(&mut job), &[]) {
                    Ok(()) => job.deliver(),
                    Err(e) => job.fail(super::database(e)),
                }
            }
            records_alone(conn, key, &rows)
        }
    };
    drop(rows);
    for record in records.drain(..) {
        if let Some(ack) = record.ack {
            let _ = ack.send(committed);
        }
    }
}

/// Audit records in a transaction of their own, retried once.
fn records_alone(conn: &Connection, key: Option<&ChainKey>, rows: &[(i64, &str)]) -> bool {
    if rows.is_empty() {
        return true;
    }
    let mut written = together(conn, key, &mut [], rows);
    if written.is_err() {
        // One retry: a busy database (another process's write) is the usual cause.
        std::thread::sleep(Duration::from_millis(50));
        written = together(conn, key, &mut [], rows);
    }
    if let Err(e) = &written {
        tracing::error!(error = %e, events = rows.len(), "audit records could not be written");
    }
    written.is_ok()
}

/// The jobs, then the audit records, in one transaction.
fn together(
    conn: &Connection,
    key: Option<&ChainKey>,
    jobs: &mut [Box<dyn Queued>],
    records: &[(i64, &str)],
) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for job in jobs.iter_mut() {
        job.run(&tx)?;
    }
    if !records.is_empty() {
        audit::append(&tx, key, records)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        schema(Connection::open_in_memory().unwrap())
    }

    fn schema(conn: Connection) -> Connection {
        conn.execute_batch(
            "CREATE TABLE t (v INTEGER NOT NULL UNIQUE);
             CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, event TEXT NOT NULL,
                                     prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
             CREATE TABLE audit_anchor (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL,
                                        pruned_at INTEGER NOT NULL);
             CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
        )
        .unwrap();
        conn
    }

    /// A test key (the real MAC is HMAC: `secrets::audit_chain_mac`).
    fn key() -> ChainKey {
        ChainKey::new(|input| {
            ring::digest::digest(&ring::digest::SHA256, input)
                .as_ref()
                .to_vec()
        })
    }

    /// A writer whose chain key is loaded.
    fn start(conn: Connection) -> Writer {
        let slot = KeySlot::default();
        let _ = slot.set(key());
        Writer::start(conn, slot).unwrap()
    }

    fn insert(v: &i64, conn: &Connection) -> rusqlite::Result<usize> {
        conn.prepare_cached("INSERT INTO t (v) VALUES (?)")?
            .execute([v])
    }

    fn count(table: &&'static str, conn: &Connection) -> rusqlite::Result<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
    }

    #[tokio::test]
    async fn concurrent_jobs_all_commit() {
        let writer = start(connection());
        let jobs: Vec<_> = (0..200)
            .map(|v| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(v, insert).await })
            })
            .collect();
        for j in jobs {
            assert_eq!(j.await.unwrap().unwrap(), 1);
        }
        assert_eq!(writer.write("t", count).await.unwrap(), 200);
    }

    /// `entered` gets a permit when the gate job runs; it returns once `open` has one.
    struct Gate {
        entered: tokio::sync::Semaphore,
        open: tokio::sync::Semaphore,
    }

    /// A job that holds its batch open until the test lets it go (jobs are
    /// synchronous: it blocks the writer thread, as a long job would).
    fn gate(g: &Arc<Gate>, _conn: &Connection) -> rusqlite::Result<()> {
        g.entered.add_permits(1);
        while g.open.try_acquire().is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Hold the writer inside a batch; returns the gate and the held job.
    async fn hold(writer: &Writer) -> (Arc<Gate>, tokio::task::JoinHandle<Result<()>>) {
        let g = Arc::new(Gate {
            entered: tokio::sync::Semaphore::new(0),
            open: tokio::sync::Semaphore::new(0),
        });
        let held = {
            let (w, g) = (writer.clone(), g.clone());
            tokio::spawn(async move { w.write(g, gate).await })
        };
        drop(g.entered.acquire().await.unwrap());
        (g, held)
    }

    /// Wait until the writer's queue holds `n` items.
    async fn queued(writer: &Writer, n: usize) {
        while QUEUE - writer.queue.capacity() != n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone_and_the_audit_records_of_its_batch_survive() {
        let writer = start(connection());
        // Hold the writer inside a first batch, so that the next items queue
        // and are committed together: the duplicate 7 must roll that shared
        // batch back, and the other jobs and the records must still commit.
        let (g, held) = hold(&writer).await;
        let jobs: Vec<_> = [1, 7, 2, 7, 3]
            .into_iter()
            .map(|v| {
                let w = writer.clone();
                tokio::spawn(async move { w.write(v, insert).await })
            })
            .collect();
        let record = {
            let w = writer.clone();
            tokio::spawn(async move { w.audit(5, "{\"event\":\"x\"}".into(), true).await })
        };
        queued(&writer, 6).await;
        g.open.add_permits(1);
        held.await.unwrap().unwrap();
        let mut failed = Vec::new();
        for j in jobs {
            if let Err(e) = j.await.unwrap() {
                failed.push(e.to_string());
            }
        }
        assert_eq!(failed.len(), 1);
        assert!(failed[0].contains("UNIQUE"), "{failed:?}");
        record.await.unwrap().unwrap();
        assert_eq!(writer.write("t", count).await.unwrap(), 4);
        assert_eq!(writer.write("audit_log", count).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn records_nobody_waits_for_are_written_together_and_by_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = start(schema(Connection::open(&path).unwrap()));
        for n in 0..100 {
            writer
                .audit(n, format!("{{\"n\":{n}}}"), false)
                .await
                .unwrap();
        }
        writer.close().await;
        assert_eq!(writer.audit_backlog(), 0);
        let refused = writer.audit(0, "{}".into(), false).await;
        assert!(matches!(refused, Err(Error::Closed)), "{refused:?}");
        assert!(matches!(writer.write("t", count).await, Err(Error::Closed)));
    }

    #[tokio::test]
    async fn the_chain_links_every_record_to_the_one_before() {
        let writer = start(connection());
        for n in 0..3 {
            writer
                .audit(n, format!("{{\"n\":{n}}}"), true)
                .await
                .unwrap();
        }
        let records = writer
            .write((), |(), conn| {
                conn.prepare("SELECT seq, at, event, prev_hash, hash FROM audit_log ORDER BY seq")?
                    .query_map([], |r| {
                        Ok(crate::store::chain::Record {
                            seq: r.get(0)?,
                            at: r.get(1)?,
                            event: r.get(2)?,
                            prev_hash: r.get(3)?,
                            hash: r.get(4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 3);
        let linker = crate::store::chain::Linker {
            key: key(),
            keyed_from: 1,
        };
        assert_eq!(crate::store::chain::first_break(&linker, &records), None);
    }

    #[tokio::test]
    async fn without_a_chain_key_records_are_refused_and_jobs_still_commit() {
        let writer = Writer::start(connection(), KeySlot::default()).unwrap();
        let refused = writer.audit(1, "{}".into(), true).await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(writer.write(7, insert).await.unwrap(), 1);
        assert_eq!(writer.write("audit_log", count).await.unwrap(), 0);
    }
}
