//! Delta Lake access for pslake.
//!
//! A lake is a root location (a local folder or an object-store URL). The table `schema.name` is
//! the Delta table at `<root>/<schema>/<name>/` (SPEC section 6), so any Delta reader finds it by
//! path. [`Lake`] appends, overwrites and registers those tables in a DataFusion session;
//! [`ops`] holds the `_pslake` operational tables (runs, stream state, rejects, warnings);
//! [`release`] publishes a build's tables as one release and rolls an interrupted one forward;
//! [`Lake::lock`] keeps one writer per lake; [`Lake::maintain`] compacts and vacuums the tables
//! ([`maintain`]);
//! [`reconcile`] compares a source's current keys with a raw table's live keys (deletions).
//!
//! Invariant: every write of data is one Delta commit (a publish whose documentation changed on an
//! existing table adds one metadata-only commit after it, see [`Lake::commit_staged`]). A failed write leaves the table at its previous
//! version, which is what lets a failed run leave every published table readable.
#![warn(missing_docs)]

mod docs;
mod error;
pub mod events;
mod fault;
mod lake;
mod lock;
pub mod maintain;
mod months;
pub mod ops;
mod plain;
pub mod reconcile;
pub mod release;
mod staged;
pub mod unique;

pub use docs::{COMMENT_KEY, TableDocs};
pub use error::{Error, Result};
pub use fault::{FAULT_VAR, fault_point};
pub use lake::{DELETED, Lake, RAW_SCHEMA, TableName, env_storage_options, expose_deleted};
pub use lock::{LOCK_PATH, LakeLock, LockHolder};
pub use maintain::TableMaintenance;
pub use months::{Month, TableFile};
pub use release::ReleaseMember;
pub use staged::{Staged, TARGET_FILE_SIZE};
