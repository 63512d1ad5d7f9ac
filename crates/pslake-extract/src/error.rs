//! Errors of the extractor. [`Error::retry_hint`] tells the retry loop and the scheduler
//! whether trying again can help (STYLE section 2).
//!
//! Invariant: no message holds a secret. URLs are redacted ([`crate::redact::redact_url`]) and
//! response bodies pass through the client's scrubber before they are stored here.

/// Whether an error is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Transient: 429, 5xx, timeouts, resets, truncated bodies.
    WithBackoff,
    /// Permanent: other 4xx, bad config, schema drift.
    NoRetry,
}

/// What can go wrong extracting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline could not be used (bad secret reference, unreadable secrets file).
    #[error("{0}")]
    Config(String),
    /// A secret is not set.
    #[error("secret `{name}` is not set ({hint})")]
    MissingSecret {
        /// Secret name.
        name: String,
        /// Where it was looked for.
        hint: String,
    },
    /// An HTTP exchange failed in a way that may pass on retry.
    #[error("{method} {url}: {message}")]
    Transient {
        /// Method.
        method: String,
        /// Redacted URL.
        url: String,
        /// What happened (status and body excerpt, or transport error).
        message: String,
        /// `Retry-After` in seconds, when the server sent one.
        retry_after: Option<f64>,
    },
    /// An HTTP exchange failed for good (4xx other than 429, auth refused).
    #[error("{method} {url} returned {status}: {message}")]
    Status {
        /// Method.
        method: String,
        /// Redacted URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body excerpt, scrubbed.
        message: String,
    },
    /// Retries ran out.
    #[error("{method} {url} failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Method.
        method: String,
        /// Redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// A page did not have the declared shape.
    #[error("{url}: {message}")]
    Page {
        /// Redacted URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A required field is missing (or a field unparseable) in every record: schema drift.
    #[error("stream {stream}: schema drift: field `{field}` {detail}; nothing landed")]
    SchemaDrift {
        /// `system.stream`.
        stream: String,
        /// Column.
        field: String,
        /// Its path, what failed, how often, an example record key.
        detail: String,
    },
    /// Reading the file drop failed.
    #[error("file drop {location}: {message}")]
    Files {
        /// Folder or URL (no credentials).
        location: String,
        /// What happened.
        message: String,
    },
    /// A deletion reconciliation's keys pass cannot be trusted (nothing was marked deleted).
    #[error("keys pass of {stream}: {message}")]
    KeysPass {
        /// `system.stream`.
        stream: String,
        /// What is wrong.
        message: String,
    },
    /// The deletion reconciliation of a stream failed, after its incremental pass landed.
    #[error("reconcile: {0}")]
    Reconcile(Box<Error>),
    /// Writing to the lake failed.
    #[error("lake: {0}")]
    Lake(Box<pslake_lake::Error>),
    /// Building Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A worker task panicked or was cancelled.
    #[error("internal: {0}")]
    Task(String),
}

impl From<pslake_lake::Error> for Error {
    fn from(e: pslake_lake::Error) -> Self {
        Error::Lake(Box::new(e))
    }
}

impl Error {
    /// Whether retrying may help.
    pub fn retry_hint(&self) -> RetryHint {
        match self {
            Error::Transient { .. } => RetryHint::WithBackoff,
            Error::Lake(_) => RetryHint::WithBackoff,
            _ => RetryHint::NoRetry,
        }
    }

    /// The redacted URL the error is about, if any.
    pub fn url(&self) -> Option<&str> {
        match self {
            Error::Transient { url, .. }
            | Error::Status { url, .. }
            | Error::RetriesExhausted { url, .. }
            | Error::Page { url, .. } => Some(url),
            Error::Reconcile(e) => e.url(),
            _ => None,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most of a value or message kept in a reject row or an error (the whole record stays in
/// the reject's `raw`): a 1 MB string in a bad field must not become a 1 MB message.
pub(crate) const SHOWN_BYTES: usize = 1000;

/// `s`, cut at [`SHOWN_BYTES`] (on a character boundary) with its full length noted.
pub(crate) fn clip(s: String) -> String {
    if s.len() <= SHOWN_BYTES {
        return s;
    }
    let mut end = SHOWN_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("short".into()), "short");
        let long = "é".repeat(SHOWN_BYTES); // 2 bytes each
        let c = clip(long.clone());
        assert!(c.starts_with(&long[..SHOWN_BYTES]), "{c}");
        assert!(
            c.ends_with(&format!("… ({} bytes in all)", 2 * SHOWN_BYTES)),
            "{c}"
        );
        let odd = format!("a{long}");
        assert!(clip(odd).len() < SHOWN_BYTES + 40);
    }
}
