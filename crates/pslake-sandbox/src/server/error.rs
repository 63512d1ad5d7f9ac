//! Errors of `pslake sandbox`: everything here stops the sandbox at start.

use std::path::PathBuf;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A fixture line is not valid JSON or lacks what the server needs (id, cursor).
    #[error("{} line {line}: {message}", path.display())]
    FixtureLine {
        /// The fixture file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, e.g. `expected value at column 3`.
        message: String,
    },
    /// A fixture file as a whole is unusable (unreadable manifest, bad CSV header).
    #[error("{}: {message}", path.display())]
    FixtureFile {
        /// The fixture file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The fixture directory does not exist or is not a directory.
    #[error("fixture directory {} does not exist", path.display())]
    NoFixtureDir {
        /// The directory given.
        path: PathBuf,
    },
    /// A token of `--faults` is not understood.
    #[error("bad fault '{token}': {reason}")]
    Fault {
        /// The token as written.
        token: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The NetSuite certificate key is not a usable RSA PEM key (the key itself is never shown).
    #[error("the NetSuite certificate key is unusable: {0}")]
    Key(String),
    /// Reading a fixture file failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result type of the sandbox server.
pub type Result<T, E = Error> = std::result::Result<T, E>;
