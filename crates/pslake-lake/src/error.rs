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
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
