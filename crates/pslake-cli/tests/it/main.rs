//! End-to-end tests of the `pslake` binary: one test binary, a module per area.

mod after_run;
mod e2e;
mod hubspot_archive;
mod interop;
mod messy;
mod netsuite_dates;
mod print_env;
mod query;
mod reliability;
mod serve;
mod static_checks;
mod support;
