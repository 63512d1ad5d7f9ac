//! Integration tests of the sandbox crate: one binary, a module per area.

mod generate;
mod generate_messy;
mod histories;
mod server;
