//! A build beside the extraction that lands its raw tables (`pslake run`): each model starts
//! once the raw tables it reads have landed, reads them as landed, and nothing is published
//! before the whole extraction succeeded.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use pslake_lake::TableName;
use pslake_transform::{BuildOptions, LandingSender, ModelStatus, Reporter};
use tokio::sync::mpsc;

use crate::{Fixture, opts, status_of};

/// The schema [`Fixture::raw`] writes.
fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
    ]))
}

/// Sends the name of every model that ended.
struct Ended(mpsc::UnboundedSender<String>);

impl Reporter for Ended {
    fn on_model_done(&self, model: &str, _rows: u64, _elapsed: Duration, _status: &ModelStatus) {
        let _ = self.0.send(model.to_string());
    }
}

/// Waits until `model` is reported ended.
async fn ended(rx: &mut mpsc::UnboundedReceiver<String>, model: &str) {
    let wait = async {
        while let Some(m) = rx.recv().await {
            if m == model {
                return;
            }
        }
        panic!("the build ended without {model}");
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("{model} did not run while the other raw table was landing"));
}

fn two_models(f: &Fixture) {
    f.write("sql/canonical/from_a.sql", "SELECT id, amount FROM raw.a")
        .write(
            "sql/canonical/from_b.sql",
            "SELECT id, amount * 2 AS amount FROM raw.b",
        );
}

/// The two models over `raw.a` and `raw.b`, and the options of a build beside an extraction
/// landing both, with its sender.
fn beside_extraction(f: &Fixture, run_id: &str) -> (LandingSender, BuildOptions) {
    two_models(f);
    let (landed, landing) = pslake_transform::landing(vec![
        (TableName::new("raw", "a"), raw_schema()),
        (TableName::new("raw", "b"), raw_schema()),
    ]);
    let mut o = opts(run_id);
    o.landing = Some(landing);
    (landed, o)
}

#[tokio::test]
async fn a_model_runs_as_soon_as_its_raw_table_lands_and_nothing_publishes_before_the_end() {
    // A first run: neither raw table is in the lake when the build starts (it plans against
    // their declared schemas).
    let f = Fixture::new();
    let (landed, o) = beside_extraction(&f, "run-1");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reporter = Ended(tx);
    let project = f.project();
    let extraction = async {
        f.raw("a", &[("1", 10), ("2", 20)]).await;
        landed.landed(TableName::new("raw", "a"));
        // canonical.from_a is built while raw.b is still landing (without the overlap this
        // waits forever), and not published yet.
        ended(&mut rx, "canonical.from_a").await;
        assert_eq!(f.version("canonical.from_a").await, None, "published early");
        f.raw("b", &[("1", 1), ("2", 2), ("3", 3)]).await;
        landed.landed(TableName::new("raw", "b"));
        landed.finished();
    };
    let (report, ()) = tokio::join!(
        pslake_transform::build(&project, &f.lake, &o, &reporter),
        extraction
    );
    let report = report.expect("build runs");
    assert!(report.is_success() && report.published, "{report}");
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.from_a").await,
        ["1|10", "2|20"]
    );
    // raw.b as landed: 1, 2, 3 doubled.
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.from_b").await,
        ["1|2", "2|4", "3|6"]
    );
}

#[tokio::test]
async fn a_raw_table_landed_during_the_build_is_read_at_its_new_version() {
    let f = Fixture::new();
    let (landed, o) = beside_extraction(&f, "run-2");
    f.raw("a", &[("1", 10)]).await;
    f.raw("b", &[("1", 1)]).await;
    let first = f.build(None).await;
    assert!(first.published, "{first}");

    // The second run re-lands raw.a with a new row once the build has started: the model
    // reads the new version (not the one the build saw when it started) and is rebuilt, not
    // reused; raw.b lands unchanged content and from_b is reused.
    let project = f.project();
    let extraction = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        f.raw("a", &[("1", 10), ("2", 20)]).await;
        landed.landed(TableName::new("raw", "a"));
        landed.landed(TableName::new("raw", "b"));
        landed.finished();
    };
    let (report, ()) = tokio::join!(
        pslake_transform::build(&project, &f.lake, &o, &pslake_transform::NoopReporter),
        extraction
    );
    let report = report.expect("build runs");
    assert!(report.is_success() && report.published, "{report}");
    assert_eq!(
        f.rows("SELECT id, amount FROM canonical.from_a").await,
        ["1|10", "2|20"]
    );
    let reused = |m: &str| report.models.iter().any(|r| r.model == m && r.reused);
    assert!(!reused("canonical.from_a"), "{report}");
    assert!(reused("canonical.from_b"), "{report}");
}

#[tokio::test]
async fn a_failed_stream_publishes_nothing_and_skips_the_models_still_waiting() {
    let f = Fixture::new();
    let (landed, o) = beside_extraction(&f, "run-1");
    let project = f.project();
    let extraction = async {
        f.raw("a", &[("1", 10)]).await;
        landed.landed(TableName::new("raw", "a"));
        landed.failed("raw.b: HTTP 500 after 5 retries");
        landed.finished();
    };
    let (report, ()) = tokio::join!(
        pslake_transform::build(&project, &f.lake, &o, &pslake_transform::NoopReporter),
        extraction
    );
    let report = report.expect("build runs");
    assert!(!report.published, "{report}");
    match status_of(&report, "canonical.from_b") {
        ModelStatus::Skipped(why) => assert!(
            why.contains("the extraction failed (raw.b: HTTP 500 after 5 retries)"),
            "{why}"
        ),
        s => panic!("from_b: {s:?}"),
    }
    assert_eq!(
        f.version("canonical.from_a").await,
        None,
        "nothing published"
    );
    assert_eq!(
        f.version("canonical.from_b").await,
        None,
        "nothing published"
    );
    // What from_a staged, if it ran before the failure, is gone.
    let parquet = walkdir(&f.root().join("lake/canonical"));
    assert!(parquet.is_empty(), "staged files left: {parquet:?}");
}

/// Every `.parquet` file under `dir` (none when it does not exist).
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}
