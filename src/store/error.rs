//! The store's one error type: what callers may need to tell apart, and
//! nothing of the driver underneath.

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL names no database this store can open.
    #[error("{0}")]
    Unsupported(String),
    /// The database could not be opened or migrated; the text says which file
    /// and why.
    #[error("{0}")]
    Open(String),
    /// The store was closed (the server is shutting down); nothing was written.
    #[error("the database is closed")]
    Closed,
    /// The database cannot be reached now (down, restarting, out of
    /// connections); the operation may succeed later. Nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored value cannot be read back (e.g. JSON written by another version).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A store failure reaching a client is a server fault (`server_error`), or,
/// when the database cannot be reached, `temporarily_unavailable`: its cause
/// is logged, never sent.
impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable(_) => Self::unavailable(e),
            e => Self::internal(e),
        }
    }
}

impl Error {
    /// An error from a layer above the store (`anyhow`), as a client sees it:
    /// a store error inside keeps its meaning (unreachable: 503), anything
    /// else is a server fault.
    pub fn classify(e: anyhow::Error) -> crate::error::Error {
        match e.downcast::<Error>() {
            Ok(store) => store.into(),
            Err(other) => crate::error::Error::internal(other),
        }
    }
}
