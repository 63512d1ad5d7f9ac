//! `pslake serve`: the PostgreSQL wire protocol over the lake, for BI tools (Power BI, Tableau,
//! Metabase, Superset, Excel, DBeaver, psql), built on `datafusion-postgres`.
//!
//! - Every Delta table of the lake is `schema.table` in the database `pslake` (a client may
//!   name any database: it is the same lake), at the versions of the last completely published
//!   build ([`versions`]), refreshed without a restart ([`snapshot`]).
//! - `pg_catalog`, `information_schema`, `SET`/`SHOW`, cursors and transactions are the
//!   crate's; [`catalog`] adds the lake's table and column comments and `version()`;
//!   [`hooks`] adds `DISCARD ALL` and refuses everything that is not a read.
//! - Passwords: SCRAM-SHA-256 (or MD5) for the users of [`config`]; optional TLS; per-user
//!   schemas; a memory pool per query, a statement timeout and a connection limit
//!   ([`service`], [`server`]).
//!
//! Entry points: [`ServeConfig::load`], then [`Server::bind`] and [`Server::run`].

#![warn(missing_docs)]

pub mod catalog;
pub mod config;
mod coop;
mod error;
mod hooks;
mod rewrite;
mod server;
mod service;
pub mod snapshot;
pub mod versions;

pub use config::{AuthMethod, Overrides, ServeConfig, TlsPaths, User};
pub use error::{Error, Result};
pub use server::Server;
pub use snapshot::{DATABASE, Snapshot};
pub use versions::{Pins, ReleaseVersions, RunsVersions, VersionSource};
