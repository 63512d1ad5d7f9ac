//! Delta Lake access for pslake.
//!
//! A lake is a root location (a local folder or an object-store URL). The table `schema.name` is
//! the Delta table at `<root>/<schema>/<name>/` (SPEC section 6), so any Delta reader finds it by
//! path. [`Lake`] appends, overwrites and registers those tables in a DataFusion session;
//! [`ops`] holds the `_pslake` operational tables (runs, stream state, rejects, warnings);
//! [`reconcile`] compares a source's current keys with a raw table's live keys (deletions).
//!
//! Invariant: every write of data is one Delta commit (a publish whose documentation changed on an
//! existing table adds one metadata-only commit after it, see [`Lake::publish`]). A failed write leaves the table at its previous
//! version, which is what lets a failed run leave every published table readable.
#![warn(missing_docs)]

mod docs;
mod error;
mod lake;
mod months;
pub mod ops;
pub mod reconcile;
mod staged;

pub use docs::{COMMENT_KEY, TableDocs};
pub use error::{Error, Result};
pub use lake::{DELETED, Lake, RAW_SCHEMA, TableName, expose_deleted};
pub use months::{Month, TableFile};
pub use staged::{Staged, TARGET_FILE_SIZE};
