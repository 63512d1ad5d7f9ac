//! Crash points for the kill tests: `PSLAKE_FAULT=<point>` makes the process abort when it reaches
//! that point, as a SIGKILL would (no destructor runs, no buffer is flushed, no lock released).
//!
//! The points are compiled in and cost one comparison with a cached `None` when the variable is
//! unset. Every point, where it is and what it leaves behind, is listed in `docs/RELIABILITY.md`:
//!
//! | point | where |
//! |---|---|
//! | `extract:page:<table>:<n>` | the n-th page of a stream decoded, before its rows are landed |
//! | `extract:after_commit:<table>` | a raw commit of a stream done, the stream's cursor not stored |
//! | `extract:before_cursor:<table>` | every raw commit of a stream done, its cursor not stored |
//! | `extract:after_cursor:<table>` | the stream's cursor stored |
//! | `run:after_extract` | every stream landed; the models over them may be staged (the build runs beside the extraction), nothing published |
//! | `build:after_model:<schema.model>` | a model built and audited (staged, not published) |
//! | `build:before_publish` | every model staged, no intent written |
//! | `publish:after_intent` | the release intent written, no table committed |
//! | `publish:after_table:<n>` | after the n-th table commit of the release (from 1) |
//! | `publish:before_release` | every table committed, no release rows |
//! | `publish:after_release` | release rows committed, the intent not deleted |
//! | `build:after_release` | the release complete, the build's rejects, warnings and run rows not written |

use std::fmt::Display;
use std::sync::OnceLock;

/// The environment variable naming the point to abort at.
pub const FAULT_VAR: &str = "PSLAKE_FAULT";

fn armed() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| std::env::var(FAULT_VAR).ok().filter(|p| !p.is_empty()))
        .as_deref()
}

/// Aborts the process when `PSLAKE_FAULT` names `point`; a no-op when it is unset. Pass
/// `format_args!(..)` for a point with a name or number in it: it is only formatted when armed.
pub fn fault_point(point: impl Display) {
    let Some(armed) = armed() else { return };
    let point = point.to_string();
    if armed == point {
        tracing::error!(point, "PSLAKE_FAULT: aborting the process");
        eprintln!("PSLAKE_FAULT: aborting at {point}");
        std::process::abort();
    }
}
