//! Moving an installation from SQLite to PostgreSQL (`tessera db copy`):
//! every table that holds state (clients, people, sessions, consents, codes,
//! refresh families, revocations, keys, settings such as the client-secret
//! pepper, and the audit chain with its anchor), copied row for row in one
//! transaction on the target, so that a failed copy leaves it empty.
//!
//! Rows travel as backend-neutral [`Value`]s: the SQLite backend reads them
//! in rowid order, the PostgreSQL backend converts each to its column's type.
//! The change feed and rate-limit windows are not copied: they describe
//! the moment, not the installation.

use super::{Backend, Error, Result, Store};

/// The tables copied, parents before children.
pub const TABLES: [&str; 17] = [
    "settings",
    "clients",
    "users",
    "user_identities",
    "signing_keys",
    "consents",
    "sessions",
    "refresh_families",
    "refresh_tokens",
    "authorization_codes",
    "revoked_tokens",
    "totp_factors",
    "recovery_codes",
    "sign_ins",
    "passkeys",
    "audit_anchor",
    "audit_log",
];

/// Rows read per round trip.
pub const CHUNK: i64 = 5_000;

/// A column's value, as SQLite stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Rows of one table: column names and, per row, its rowid and values.
#[derive(Debug, Default)]
pub struct Chunk {
    pub columns: Vec<String>,
    pub rows: Vec<(i64, Vec<Value>)>,
}

impl Store {
    /// Rows of `table` after `rowid`, at most [`CHUNK`] (SQLite only).
    pub async fn export_rows(&self, table: &'static str, after: i64) -> Result<Chunk> {
        match &*self.backend {
            Backend::Sqlite(db) => db.export_rows(table, after, CHUNK).await,
            Backend::Postgres(_) => Err(unsupported()),
        }
    }

    /// How many rows `table` holds.
    pub async fn count_rows(&self, table: &'static str) -> Result<u64> {
        super::on_backend!(self, db => db.count_rows(table).await)
    }

    /// Copy every table of [`TABLES`] from `source` (SQLite) into this
    /// PostgreSQL database, in one transaction; rows copied per table.
    pub async fn import_from(&self, source: &Store) -> Result<Vec<(&'static str, u64)>> {
        match (&*self.backend, &*source.backend) {
            (Backend::Postgres(db), Backend::Sqlite(_)) => db.import(source).await,
            _ => Err(unsupported()),
        }
    }
}

fn unsupported() -> Error {
    Error::Unsupported("tessera db copy moves a SQLite database to PostgreSQL".into())
}
