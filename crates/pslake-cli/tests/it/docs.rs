//! `pslake lineage` and `pslake docs`: column lineage from the models' plans down to the vendor
//! fields, and the static site, loaded in headless Chromium (Debian's `chromium`, which
//! `scripts/test` installs): no console errors, the graph rendered, a screenshot kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{pslake, repo_root, run_demo, show};

/// The lines of the section of `text` that starts with a line beginning with `heading`, up to
/// the next blank line.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// Whether a line of `lines` names `column` (first word) with `origin` after it.
fn names(lines: &[&str], column: &str, origin: &str) -> bool {
    lines.iter().any(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(column) && l.contains(origin)
    })
}

#[test]
fn lineage_of_gross_margin_names_kantata_workday_and_treasury_fields() {
    let out = pslake(&["lineage", "canonical.margin.gross_margin_usd"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // The values gross_margin_usd is computed from (sql/canonical/margin.sql and its parents):
    // labour cost = approved minutes (Kantata time entries) x the employee's hourly cost
    // (Workday Workers) at the treasury rate; T&M revenue = minutes x the entry's bill rate at
    // the treasury rate; expenses from NetSuite lines.
    let sources = section(&text, "Source fields");
    for (column, vendor) in [
        (
            "raw.kantata_time_entries.time_in_minutes",
            "kantata time_entries: time_in_minutes",
        ),
        (
            "raw.kantata_time_entries.rate_in_cents",
            "kantata time_entries: rate_in_cents",
        ),
        (
            "raw.workday_workers.hourly_cost_rate",
            "workday Workers: Hourly_Cost_Rate",
        ),
        (
            "raw.treasury_fx_rates.usd_per_unit",
            "treasury fx_rates: usd_per_unit",
        ),
        (
            "raw.netsuite_transactionline.foreignamount",
            "netsuite transactionline: foreignamount",
        ),
    ] {
        assert!(
            names(&sources, column, vendor),
            "{column} ({vendor}) among the source fields:\n{text}"
        );
    }
    // Columns that only decide which value is taken are conditions, not sources: whether an
    // entry is billable, which currency a rate is looked up for.
    let conditions = section(&text, "Conditions");
    for column in [
        "raw.kantata_time_entries.billable",
        "raw.workday_workers.cost_rate_currency",
    ] {
        assert!(
            names(&conditions, column, "") && !names(&sources, column, ""),
            "{column} is a condition:\n{text}"
        );
    }
    // Identifiers and landing metadata are not where a margin comes from.
    for l in &sources {
        assert!(
            !l.contains("_run_id") && !l.contains("_extracted_at") && !l.contains(".id "),
            "unexpected source field {l}:\n{text}"
        );
    }
    // The path runs through the models that compute it.
    for step in [
        "└── intermediate.int_project_month_activity.gross_margin_usd_exact",
        "intermediate.int_time_entries_checked.cost_usd_minutes",
        "staging.stg_workday_workers.hourly_cost_rate",
        "staging.stg_treasury_fx_rates.usd_per_unit",
    ] {
        assert!(text.contains(step), "{step} in the tree:\n{text}");
    }

    // Downstream of a raw field, and the table level.
    let out = pslake(&["lineage", "raw.workday_workers.hourly_cost_rate"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Landed from workday Workers: Hourly_Cost_Rate")
            && text.contains("  canonical.margin.gross_margin_usd\n")
            && text.contains("  canonical.dim_employee.hourly_cost\n"),
        "{text}"
    );
    let out = pslake(&["lineage", "canonical.margin"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("└── intermediate.int_project_month_activity\n")
            && text.contains("raw.kantata_time_entries")
            && text.contains("quality.warnings_missing_fx_rate"),
        "{text}"
    );

    // An unknown column: exit 1, named, with the table's columns.
    let out = pslake(&["lineage", "canonical.margin.gross_margin"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown column canonical.margin.gross_margin")
            && err.contains("gross_margin_usd"),
        "{err}"
    );
    let out = pslake(&["lineage", "canonical.nope.x"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown table canonical.nope"),
        "{}",
        show(&out)
    );
}

/// Debian's `chromium` (or `$CHROMIUM`); the test fails, naming what to do, without it.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium is not installed: this test loads the docs site in headless Chromium. \
         Run scripts/test (it installs Debian's chromium), or `apt-get install -y chromium`, \
         or set CHROMIUM to a Chromium binary"
    );
}

fn headless(browser: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let url = format!("file://{}", page.display());
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,1000",
        ])
        .args(args)
        .arg(&url)
        .output()
        .expect("chromium runs")
}

#[test]
fn docs_site_renders_in_headless_chromium_without_console_errors() {
    let browser = chromium();
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, out) = run_demo(dir.path(), &repo_root().join("fixtures"), &["--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let run_id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")?
                .split_once(": as of")
                .map(|(id, _)| id.to_string())
        })
        .unwrap_or_else(|| panic!("the run's id in its output:\n{}", show(&out)));
    // A second build changes nothing, so it reuses every table and skips the tests that passed:
    // the page still shows their results, from the run that ran them.
    let out = pslake(&["build", "--lake", lake.to_str().expect("utf8"), "--quiet"]);
    assert!(out.status.success(), "{}", show(&out));
    let site = dir.path().join("site");
    let t0 = Instant::now();
    let out = pslake(&[
        "docs",
        "--out",
        site.to_str().expect("utf8"),
        "--lake",
        lake.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    eprintln!("pslake docs: {:.1}s", t0.elapsed().as_secs_f64());
    let index = site.join("index.html");
    for f in ["index.html", "site.css", "site.js"] {
        assert!(site.join(f).is_file(), "{f} written");
    }
    let html = fs_err::read_to_string(&index).expect("index.html");
    // Nothing from the network: no http(s) URL is loaded.
    for needle in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(needle), "{needle} in the page");
    }
    // Every model has its section, with its SQL; the canonical tables their column lineage;
    // tests carry their last result from the lake.
    let models: Vec<String> = fs_err::read_dir(repo_root().join("sql"))
        .expect("sql/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .flat_map(|schema| {
            let s = schema.file_name().to_string_lossy().to_string();
            fs_err::read_dir(schema.path())
                .expect("schema dir")
                .filter_map(|e| e.ok())
                .filter_map(move |f| {
                    let name = f.file_name().to_string_lossy().to_string();
                    name.strip_suffix(".sql").map(|n| format!("{s}.{n}"))
                })
        })
        .collect();
    assert!(models.len() > 40, "{models:?}");
    for m in &models {
        assert!(
            html.contains(&format!(
                "<section class=\"table model s-{}\" id=\"t-{m}\"",
                m.split('.').next().expect("schema")
            )),
            "a section for {m}"
        );
    }
    assert!(html.contains("CAST(gross_margin_exact AS DECIMAL(18,2))   AS gross_margin_usd"));
    assert!(html.contains("id=\"columns-canonical.margin\""));
    assert!(html.contains("treasury fx_rates: usd_per_unit"));
    assert!(html.contains("<code>not_null(project_id)</code> <span class=\"badge pass\""));
    assert!(
        !html.contains("badge not-run"),
        "every test ran in the demo"
    );
    assert!(
        html.contains(&format!("Last results from run <code>{run_id}</code>")),
        "test results from the run that ran them ({run_id})"
    );
    assert!(html.contains("unchanged (published table reused)"));

    // The browser: a screenshot and the DOM after the scripts ran.
    let shot = dir.path().join("docs.png");
    let t0 = Instant::now();
    let out = headless(
        &browser,
        &[&format!("--screenshot={}", shot.display())],
        &index,
    );
    assert!(out.status.success(), "{}", show(&out));
    let dom = headless(&browser, &["--dump-dom"], &index);
    assert!(dom.status.success(), "{}", show(&dom));
    eprintln!("chromium: {:.1}s", t0.elapsed().as_secs_f64());
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    for err in [&out.stderr, &dom.stderr] {
        let err = String::from_utf8_lossy(err);
        for line in err.lines() {
            assert!(
                !line.contains("Uncaught") && !line.contains("console.error"),
                "browser error: {line}"
            );
        }
    }
    assert!(
        dom_text.contains("<pre id=\"console-errors\" hidden=\"\"></pre>"),
        "errors recorded in the page: {}",
        dom_text
            .split("id=\"console-errors\"")
            .nth(1)
            .map(|s| &s[..s.len().min(2000)])
            .unwrap_or("(no #console-errors element)")
    );
    assert!(
        dom_text.contains("data-ready=\"true\""),
        "site.js ran to its end"
    );
    assert!(
        dom_text.contains("Interactive: "),
        "the graph status line was written by site.js"
    );
    // The graph: one node per model (and per table read), one edge per read.
    let graph = dom_text
        .split("<svg id=\"table-graph\"")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the table graph is in the DOM");
    for m in &models {
        assert!(
            graph.contains(&format!("data-id=\"{m}\"")),
            "a graph node for {m}"
        );
    }
    assert!(graph.matches("<rect").count() > models.len());
    assert!(graph.matches("<path class=\"edge").count() > models.len());

    // The screenshot, kept where the test says.
    let png = fs_err::read(&shot).expect("screenshot written");
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG screenshot ({} bytes)",
        png.len()
    );
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-screenshot.png");
    fs_err::copy(&shot, &kept).expect("keep the screenshot");
    eprintln!("docs screenshot: {}", kept.display());
}
