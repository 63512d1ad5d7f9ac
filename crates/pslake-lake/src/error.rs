//! Errors of the lake crate.

/// What can go wrong reading or writing the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake location is neither a path nor a supported URL.
    #[error("invalid lake location '{location}': {reason}")]
    Location {
        /// What the user gave.
        location: String,
        /// Why it was refused.
        reason: String,
    },
    /// A Delta operation on one table failed.
    #[error("delta table {table} ({url}): {source}")]
    Delta {
        /// `schema.name`.
        table: String,
        /// Where the table lives.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// A DataFusion operation failed.
    #[error("{context}: {source}")]
    DataFusion {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// An Arrow operation failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<arrow::error::ArrowError>,
    },
    /// Listing or reading the lake's storage failed.
    #[error("listing {url}: {source}")]
    Store {
        /// Where.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// Reading, writing or deleting an object of the lake (a release intent, the lock) failed.
    #[error("{action} {url}: {source}")]
    Object {
        /// What was being done, e.g. `writing the release intent`.
        action: String,
        /// The object.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A release intent cannot be read back.
    #[error("release intent {url} is unreadable: {reason}")]
    Intent {
        /// The intent object.
        url: String,
        /// Why.
        reason: String,
    },
    /// Another writer holds the lake's lock.
    #[error(
        "the lake is locked by {holder} (lock {url}); waited {waited_s}s. If that process is gone on another host, delete the lock object"
    )]
    Locked {
        /// Who holds it: pid, host, command and since when.
        holder: String,
        /// The lock object.
        url: String,
        /// How long this writer waited.
        waited_s: u64,
    },
    /// A table cannot be read as plain Parquet files (see [`crate::Lake::plain_files`]).
    #[error("delta table {table} cannot be read as plain Parquet files: {reason}")]
    NotPlain {
        /// `schema.name`.
        table: String,
        /// The Delta feature in the way.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
