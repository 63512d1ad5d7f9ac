//! The errors of `pslake serve`.

/// Why serve could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings file is unreadable or wrong.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong (never a password).
        message: String,
    },
    /// No user could log in.
    #[error(
        "no users: add serve.users to pslake.yml or set PSLAKE_SERVE_PASSWORD for the user pslake"
    )]
    NoUsers,
    /// The TLS certificate or key could not be used.
    #[error("tls: {0}")]
    Tls(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The lake could not be read.
    #[error(transparent)]
    Lake(#[from] pslake_lake::Error),
    /// DataFusion failed while setting up the catalog.
    #[error("{context}: {source}")]
    DataFusion {
        /// What was being done.
        context: String,
        /// The error.
        source: Box<datafusion::error::DataFusionError>,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
