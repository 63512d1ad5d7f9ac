//! Errors of the transform crate: [`Problem`] for anything wrong in `sql/` or `models/` (always with
//! a file and, when known, a line), [`Error`] for everything that stops a command.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the project, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file at fault (relative to the project root when it is inside it).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column on that line, when known.
    pub column: Option<usize>,
    /// What is wrong, lowercase, naming the thing.
    pub message: String,
}

impl Problem {
    /// A problem in `file` at `line`.
    pub fn new(file: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// A problem in `file` at `line` and `column` (both 1-based), when known.
    pub fn at(
        file: impl Into<PathBuf>,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1).filter(|&c| c > 0),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found while loading or planning a project, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectErrors(pub Vec<Problem>);

impl fmt::Display for ProjectErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in the models",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  • {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProjectErrors {}

/// What stops a build, test, plan or query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project (sql/, models/) is invalid.
    #[error(transparent)]
    Project(#[from] ProjectErrors),
    /// Some models do not plan against the lake (nothing was written).
    #[error("planning failed, nothing was written: {0}")]
    Plan(ProjectErrors),
    /// The `--select` expression is invalid or selects nothing.
    #[error("invalid selection '{select}': {reason}")]
    Select {
        /// The expression.
        select: String,
        /// Why.
        reason: String,
    },
    /// A query (`pslake query`, `pslake show`) failed; the message is DataFusion's, once.
    #[error("{0}")]
    Query(String),
    /// The lake failed.
    #[error(transparent)]
    Lake(Box<pslake_lake::Error>),
    /// DataFusion failed outside a model.
    #[error("{context}: {source}")]
    DataFusion {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// Arrow failed outside a model.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
}

impl From<pslake_lake::Error> for Error {
    fn from(e: pslake_lake::Error) -> Self {
        Self::Lake(Box::new(e))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
