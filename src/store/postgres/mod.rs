//! The PostgreSQL backend, for several replicas on one database.
//!
//! A pool of connections (sqlx, TLS on rustls when the URL asks for it with
//! `sslmode`), each with the configured statement timeout; acquiring a
//! connection waits at most [`pool::ACQUIRE_TIMEOUT`] (less once the database
//! is known to be down, [`pool`]), so a request meets an unreachable database
//! with `Error::Unavailable` (503) within seconds, and the pool reconnects by
//! itself once the database is back. Migrations
//! (`migrations/postgres/`) run at start-up under sqlx's advisory lock, so
//! replicas starting together migrate once.
//!
//! Every write is a transaction of its own, committed before it returns
//! (PostgreSQL's default `synchronous_commit` makes a commit durable). Single
//! use is a guarded `UPDATE … RETURNING`, as on SQLite: of two replicas
//! redeeming one code at the same moment, one finds the row changed and is
//! refused. Audit records are appended in batches under a transaction-scoped
//! advisory lock ([`audit`]), so concurrent replicas never fork the chain.
//!
//! The queries are grouped by aggregate in the submodules, with the same
//! method names and shapes as the SQLite backend's: `store::on_backend!`
//! dispatches one call to either.

mod assertions;
mod audit;
mod changes;
mod clients;
mod codes;
mod consents;
mod factors;
mod import;
mod keys;
mod maintenance;
mod passkeys;
mod people;
mod pool;
mod rate_windows;
mod refresh;
mod revocation;
mod sessions;
mod settings;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::store::{Error, Options, Result};

/// A pooled connection idle longer than this is pinged before it is used, so
/// that one left broken by a database restart is replaced, not handed to a
/// request. Busier connections are not: a ping per use would double every
/// round trip.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// An open PostgreSQL database.
#[derive(Debug)]
pub struct Postgres {
    pool: Arc<pool::Pool>,
    audit: audit::Queue,
}

/// Does `url` name a PostgreSQL database?
pub fn is_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("…"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Postgres {
    /// Connect, and migrate the database at `url`.
    pub async fn open(url: &str, options: &Options) -> Result<Self> {
        let shown = redacted(url);
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Unsupported(format!("database URL '{shown}' is not valid: {e}")))?
            .options([(
                "statement_timeout",
                format!("{}ms", options.statement_timeout.as_millis()),
            )]);
        // A read-only command's session refuses every write in the database.
        let read_only = options.access == crate::store::Access::ReadOnly;
        let connect = if read_only {
            connect.options([("default_transaction_read_only", "on")])
        } else {
            connect
        };
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(pool::ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| Error::Open(format!("cannot connect to {shown}: {e}")))?;
        if !read_only {
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| Error::Open(format!("database migration failed on {shown}: {e}")))?;
        }
        let pool = Arc::new(pool::Pool::new(pool));
        Ok(Self {
            audit: audit::Queue::start(pool.clone()),
            pool,
        })
    }

    /// Run `f` in a transaction and commit it.
    async fn transaction<T>(
        &self,
        f: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> Result<T> {
        self.pool.transaction(f).await
    }

    pub async fn audit(&self, at: i64, json: String, durable: bool) -> Result<()> {
        self.audit.append(at, json, durable).await
    }

    pub fn chain_key(&self) -> &crate::store::chain::KeySlot {
        self.audit.key()
    }

    pub fn audit_backlog(&self) -> i64 {
        self.audit.backlog()
    }

    /// Write the audit records queued so far, then close the pool.
    pub async fn close(&self) {
        self.audit.close().await;
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.pool.conn().await?)
            .await
            .map(|_| ())
            .map_err(database)
    }

    /// PostgreSQL's own tools make consistent copies of a live database.
    pub async fn backup(&self, _to: &std::path::Path) -> Result<()> {
        Err(Error::Unsupported(
            "backup copies SQLite databases; for PostgreSQL use pg_dump".into(),
        ))
    }
}

/// A driver error in the store's terms: a database that cannot be reached is
/// [`Error::Unavailable`] (the client may retry), anything else a failure.
pub(super) fn database(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
        sqlx::Error::Database(ref db) if db.code().is_some_and(|c| unavailable_code(&c)) => {
            Error::Unavailable(e.to_string())
        }
        e => Error::Database(Box::new(e)),
    }
}

/// SQLSTATEs of a server shutting down, starting, or out of connections.
fn unavailable_code(code: &str) -> bool {
    matches!(
        code,
        "57P01" | "57P02" | "57P03" | "53300" | "08000" | "08003" | "08006"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_recognised_and_their_passwords_never_shown() {
        assert!(is_url("postgres://u@h/db") && is_url("postgresql://u@h/db"));
        assert!(!is_url("sqlite://tessera.db"));
        let shown = redacted("postgres://tessera:s3cret@db.example:5432/tessera?sslmode=require");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }
}
