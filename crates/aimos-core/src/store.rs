//! The `Store` trait: where insights and the ledger of runs live.
//!
//! aimos-store implements it for SQLite (one file, the default) and, later, PostgreSQL.
//! Calls are blocking and short; a caller on an async runtime may move them off its threads.

use crate::insight::Insight;
use crate::run::RunRecord;

/// Persistent insights and runs.
pub trait Store: Send + Sync {
    /// Saves a new insight. Once this returns, the insight survives a crash.
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError>;

    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError>;

    /// Newest first; `text` filters by words in the problem, diagnosis and key facts.
    fn insights(
        &self,
        text: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Insight>, StoreError>;

    /// Saves a run with its steps, atomically.
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Newest first.
    fn runs(&self, limit: usize, offset: usize) -> Result<Vec<RunRecord>, StoreError>;
}

/// Why the store could not do what was asked. Nothing already stored is harmed by any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the store {location} is locked by another process; try again when it finishes")]
    Locked { location: String },
    #[error(
        "the store {location} was written by a newer aimos (schema version {found}, this build knows up to {supported}); upgrade aimos"
    )]
    NewerSchema { location: String, found: i64, supported: i64 },
    #[error("{location} is not an aimos store, or it is damaged: {message}")]
    Corrupt { location: String, message: String },
    #[error("store error at {location}: {message}")]
    Backend { location: String, message: String },
}
