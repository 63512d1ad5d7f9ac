//! Pipeline definitions (`pipelines/*.yml`): serde shape ([`raw`]), validated model ([`model`]),
//! loading with env interpolation and validation that reports every problem with file and line
//! ([`load`]).
//!
//! Precedence of values: `${NAME:-default}` in the file is replaced, before parsing, by the
//! caller's variables (e.g. the sandbox URL the CLI started), then the process environment, then
//! the default. Secret references `${env:NAME}` / `${secret:NAME}` are *not* replaced at load
//! time: they stay references in the model and are resolved only when a request is sent.

pub mod load;
pub mod model;
pub mod raw;
pub mod triggers;

pub use load::{ConfigProblem, load_pipeline, load_pipeline_with, parse_duration, validate_path};
pub use model::*;
pub use triggers::{EventFormat, SignatureScheme, Trigger};
