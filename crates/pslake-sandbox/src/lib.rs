//! The vendor-API sandbox and the synthetic-firm generator.
//!
//! - [`layout`]: the fixture directory layout of SPEC section 6 (`<system>/<stream>.jsonl`,
//!   `treasury/fx_rates_YYYY-MM.csv`, `manifest.json`), shared by the generator and the server.
//! - [`generate`]: `pslake fixtures generate`, a deterministic synthetic consultancy.
//! - [`server`]: `pslake sandbox`, one HTTP server that speaks each vendor's own protocol over
//!   the fixture files, with injectable faults.
#![warn(missing_docs)]

pub mod generate;
pub mod layout;
pub mod server;
