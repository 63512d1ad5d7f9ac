//! End-to-end tests of the `pslake` binary: one test binary, a module per area.

mod after_run;
mod artifacts;
mod ballista;
mod determinism;
mod docs;
mod e2e;
mod faults;
mod histories;
mod hubspot_archive;
mod interop;
mod kill;
mod listen;
mod maintain;
mod messy;
mod netsuite_dates;
mod object_store;
mod print_env;
mod query;
mod reliability;
mod schedule;
mod security;
mod serve;
mod snapshot;
mod static_checks;
mod status;
mod support;
