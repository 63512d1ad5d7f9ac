//! Model builds on an Apache Ballista cluster, and the cluster's processes.
//!
//! - [`Ballista`] is the client: `pslake build --engine ballista://HOST:PORT` plans each table
//!   model in pslake, then sends the physical plan to the scheduler, which splits it into
//!   stages for its executors; the rows come back into pslake's staging writer, audits and
//!   release ([`pslake_transform::Cluster`]).
//! - [`scheduler::run`] and [`executor::run`] are the scheduler and executor processes
//!   (`pslake ballista scheduler`, `pslake ballista executor`): the same build of pslake on
//!   every side (Ballista refuses a client whose version differs), with the lake's object
//!   store registered on each executor from its own environment (credentials never travel
//!   with a plan).
#![warn(missing_docs)]

mod client;
pub mod executor;
pub mod scheduler;

pub use client::{Ballista, ENGINE_SCHEME, parse_engine};

/// What can go wrong with a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--engine` is not `local` or `ballista://HOST:PORT`.
    #[error("invalid engine '{engine}': {reason} (expected `local` or `ballista://HOST:PORT`)")]
    Engine {
        /// What was given.
        engine: String,
        /// Why it was refused.
        reason: String,
    },
    /// A scheduler or executor stopped with an error.
    #[error("ballista {role}: {source}")]
    Process {
        /// `scheduler` or `executor`.
        role: &'static str,
        /// The underlying error.
        #[source]
        source: Box<ballista_core::error::BallistaError>,
    },
    /// The lake's object store could not be configured.
    #[error(transparent)]
    Lake(#[from] pslake_lake::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The bucket store of a cluster process's `--lake` (`None` without one, or for a local lake),
/// which the scheduler and the executors register in every session they run plans in.
fn lake_bucket(
    lake: Option<&pslake_lake::Lake>,
) -> Result<Option<(url::Url, std::sync::Arc<dyn object_store::ObjectStore>)>> {
    Ok(lake
        .map(pslake_lake::Lake::bucket_store)
        .transpose()?
        .flatten())
}
