//! Declarative extractors: REST APIs and file drops, declared in `pipelines/*.yml`, landed as
//! Parquet in the raw Delta tables of the lake (`raw.<system>_<stream>`, docs/raw_tables.md).
//!
//! Entry point: [`extract`] with [`ExtractOptions`], returning an [`ExtractReport`]. Paging,
//! auth, record selection and typing are driven entirely by the pipeline
//! ([`pslake_core::pipeline`]); adding a REST system with a supported shape needs YAML only.
//!
//! Invariants:
//! - per stream and run, records received = landed + rejected (rejects go to `_pslake.rejects`);
//! - a stream's cursor (`_pslake.stream_state`) is committed strictly after its raw rows;
//! - a record deleted in the source is never removed from raw: a stream that declares
//!   `reconcile` appends a tombstone (`_deleted = true`) for it (module `reconcile`);
//! - secrets never appear in logs, errors, reports or tables (see [`redact`]).
#![warn(missing_docs)]

#[cfg(test)]
mod bad_input;
mod batch;
pub mod error;
mod files;
mod http;
mod json;
mod jwt;
mod page;
mod parent;
mod reconcile;
pub mod redact;
mod rest;
mod run;
pub mod secrets;
mod sink;
mod unnest;
mod values;

pub use batch::{RULE_MISSING, RULE_UNPARSEABLE, arrow_type, raw_schemas};
pub use error::{Error, Result, RetryHint};
pub use run::{
    ExtractOptions, ExtractReport, ProgressFn, StreamEnded, StreamEndedFn, StreamProgress,
    StreamReport, StreamStatus, extract, unknown_selectors,
};
