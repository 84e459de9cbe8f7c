//! The writer thread: where write transactions on the hot paths run.
//!
//! sqlx hands every SQLite statement to the connection's worker thread and
//! wakes the awaiting task when the answer is back. A transaction is several
//! such hops, and on the server's runtime each wake-up queues behind whatever
//! the workers are doing (signing tokens, serving HTTP): the one writer
//! connection then sits idle between statements while the transaction that
//! holds it waits for a turn. Jobs sent here run on a runtime of their own,
//! on a thread that does nothing else, so a transaction's statements follow
//! each other as fast as the connection answers and the writer is held only
//! for the SQL itself.

use std::future::Future;

use anyhow::Context;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Owns the writer thread; dropping the last handle stops it.
#[derive(Debug)]
pub struct WriterThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl WriterThread {
    pub fn start() -> anyhow::Result<Self> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot build the writer runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("tessera-writer".into())
            .spawn(move || {
                // Runs until the store is dropped; pending jobs end with it.
                let _ = runtime.block_on(stopped);
            })
            .context("cannot start the writer thread")?;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }

    /// Run `job` on the writer thread and wait for its result.
    pub async fn run<T, F>(&self, job: F) -> Result<T, sqlx::Error>
    where
        F: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            let _ = tx.send(job.await);
        });
        rx.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_writer_thread() {
        let writer = WriterThread::start().unwrap();
        let name = writer
            .run(async { Ok(std::thread::current().name().map(str::to_owned)) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("tessera-writer"));
    }

    #[tokio::test]
    async fn errors_come_back_to_the_caller() {
        let writer = WriterThread::start().unwrap();
        let got: Result<(), _> = writer.run(async { Err(sqlx::Error::RowNotFound) }).await;
        assert!(matches!(got, Err(sqlx::Error::RowNotFound)));
    }
}
