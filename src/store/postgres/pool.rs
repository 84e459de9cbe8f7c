//! The connection pool, with a memory of the database being down.
//!
//! While PostgreSQL answers, a request waits up to [`ACQUIRE_TIMEOUT`] for a
//! connection (a saturated pool frees one soon). Once a connection could not
//! be had, the database is taken to be down, and later requests wait at most
//! [`WHILE_DOWN`] each: a request that needs several round trips is still
//! answered 503 within 5 s, and every request keeps probing, so the first
//! connection made again ends the outage without a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres as Pg};

use super::database;
use crate::store::{Error, Result};

/// How long a request waits for a pooled connection while the database answers.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// … and once it did not: long enough to connect to a database that is back.
const WHILE_DOWN: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Pool {
    inner: PgPool,
    down: AtomicBool,
}

impl Pool {
    pub fn new(inner: PgPool) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
        }
    }

    /// A connection, or `Unavailable` within the wait above.
    pub async fn conn(&self) -> Result<PoolConnection<Pg>> {
        let wait = if self.down.load(Ordering::Relaxed) {
            WHILE_DOWN
        } else {
            ACQUIRE_TIMEOUT
        };
        match tokio::time::timeout(wait, self.inner.acquire()).await {
            Ok(Ok(conn)) => {
                self.down.store(false, Ordering::Relaxed);
                Ok(conn)
            }
            Ok(Err(e)) => {
                let e = database(e);
                if matches!(e, Error::Unavailable(_)) {
                    self.down.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
            Err(_) => {
                self.down.store(true, Ordering::Relaxed);
                Err(Error::Unavailable(format!(
                    "no database connection within {} ms",
                    wait.as_millis()
                )))
            }
        }
    }

    /// Run `f` in a transaction on a connection of [`Pool::conn`], and commit.
    pub async fn transaction<T>(
        &self,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(database)?;
        let out = f(&mut tx).await.map_err(database)?;
        tx.commit().await.map_err(database)?;
        Ok(out)
    }

    pub async fn close(&self) {
        self.inner.close().await;
    }
}
