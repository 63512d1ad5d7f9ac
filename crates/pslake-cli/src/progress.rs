//! Progress display on stderr (indicatif), hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cmd::run::ModelProgress;

/// Makes spinners and bars that draw only on an interactive stderr.
pub(crate) struct Progress {
    visible: bool,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            visible: std::io::stderr().is_terminal(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A spinner with a message, ticking until finished.
    pub(crate) fn spinner(&self, message: String) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A bar over `n` models, showing the one running.
    pub(crate) fn model_reporter(&self, n: usize) -> ModelProgress {
        let bar = ProgressBar::with_draw_target(Some(n as u64), self.target());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} models {msg}")
                .expect("static template"),
        );
        ModelProgress::new(bar)
    }
}
