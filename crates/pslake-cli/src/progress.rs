//! Progress display on stderr (indicatif), hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pslake_extract::StreamProgress;

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

    /// One line per stream as its pages arrive: records so far and records per second, under a
    /// spinner naming the whole. [`StreamLines::finish`] clears them.
    pub(crate) fn streams(&self, message: String) -> StreamLines {
        let multi = MultiProgress::with_draw_target(self.target());
        let head = multi.add(ProgressBar::new_spinner());
        head.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"),
        );
        head.set_message(message);
        head.enable_steady_tick(Duration::from_millis(120));
        StreamLines {
            multi,
            head,
            bars: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// The per-stream lines of an extraction (see [`Progress::streams`]).
pub(crate) struct StreamLines {
    multi: MultiProgress,
    head: ProgressBar,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl StreamLines {
    /// The callback the extractor calls after every page.
    pub(crate) fn callback(&self) -> StreamProgress {
        let multi = self.multi.clone();
        let bars = self.bars.clone();
        StreamProgress(Arc::new(move |table: &str, received: u64| {
            let Ok(mut bars) = bars.lock() else { return };
            let bar = bars.entry(table.to_string()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::no_length());
                bar.set_style(
                    ProgressStyle::with_template(
                        "  {prefix:<34} {human_pos:>10} records {rate:>12}",
                    )
                    .expect("static template")
                    .with_key(
                        "rate",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0}/s", s.per_sec());
                        },
                    ),
                );
                bar.set_prefix(table.to_string());
                bar
            });
            bar.set_position(received);
        }))
    }

    /// A bar over `n` models under the streams' lines, for a build running beside the
    /// extraction.
    pub(crate) fn model_reporter(&self, n: usize) -> ModelProgress {
        let bar = self.multi.add(ProgressBar::new(n as u64));
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} models {msg}")
                .expect("static template"),
        );
        ModelProgress::new(bar)
    }

    /// Clears every line.
    pub(crate) fn finish(self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                b.finish_and_clear();
            }
        }
        self.head.finish_and_clear();
        let _ = self.multi.clear();
    }
}
