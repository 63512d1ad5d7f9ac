//! pslake spec types: pipelines (sources, streams, schedule, lake location), their loading and
//! validation, and the [`Sensitive`] wrapper for secrets.
//!
//! No network, DataFusion or Delta dependencies live here: `pslake validate` runs on this crate
//! alone. Entry points: [`pipeline::load_pipeline`], [`pipeline::validate_path`].
#![warn(missing_docs)]

pub mod pipeline;
pub mod sensitive;

pub use sensitive::Sensitive;
