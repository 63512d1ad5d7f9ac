//! End-to-end tests of the `pslake` binary: one test binary, a module per area.

mod e2e;
mod interop;
mod messy;
mod query;
mod support;
