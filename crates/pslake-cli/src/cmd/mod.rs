//! One module per command group. Each command returns the process exit code; errors bubble up
//! as `anyhow::Error` and are printed with their cause chain by `main`.

pub(crate) mod ballista;
pub(crate) mod build;
pub(crate) mod docs;
pub(crate) mod extract;
pub(crate) mod lineage;
pub(crate) mod listen;
pub(crate) mod maintain;
pub(crate) mod run;
pub(crate) mod sandbox;
pub(crate) mod schedule;
pub(crate) mod serve;
pub(crate) mod source;
pub(crate) mod status;
pub(crate) mod writer;

/// An error that is the user's to fix (bad flags, bad configuration): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// 2 for usage and configuration errors, 1 for everything else.
pub(crate) fn exit_code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        2
    } else {
        1
    }
}
