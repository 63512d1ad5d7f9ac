//! `pslake validate` plans every model before any data exists (issue 8, item 2): against the
//! column types the pipelines declare for the raw tables and the contracts of upstream models,
//! so an unknown column, a type error and a contract mismatch fail with file, line and column.

use crate::support::{copy_project, line_col, pslake_in, show};

fn edit(path: &std::path::Path, from: &str, to: &str) -> String {
    let text = fs_err::read_to_string(path).expect("read");
    assert!(text.contains(from), "{from:?} in {}", path.display());
    let text = text.replacen(from, to, 1);
    fs_err::write(path, &text).expect("write");
    text
}

#[test]
fn validate_finds_typos_type_errors_and_contract_mismatches_with_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path();
    copy_project(project);
    let out = pslake_in(project, &["validate"]);
    assert!(out.status.success(), "the demo validates:\n{}", show(&out));

    let sql = project.join("sql/canonical");
    let margin = edit(
        &sql.join("margin.sql"),
        "        expense_usd_exact,\n",
        "        expense_usd_exactt,\n",
    );
    let revenue = edit(
        &sql.join("revenue.sql"),
        "    currency,\n",
        "    CAST(currency AS DATE) AS currency,\n",
    );
    let revenue = revenue + "WHERE month >= 1\n";
    fs_err::write(sql.join("revenue.sql"), &revenue).expect("write");
    let utilization = edit(
        &sql.join("utilization.sql"),
        "WHERE period = 'actual'",
        "WHERE period = 'actual' AND week_start <> 'last week'",
    );

    let out = pslake_in(project, &["validate"]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let at = |file: &str, text: &str, needle: &str| {
        let (l, c) = line_col(text, needle);
        format!("sql/canonical/{file}:{l}:{c}: ")
    };
    let expected = [
        (
            at("margin.sql", &margin, "expense_usd_exactt"),
            "No field named expense_usd_exactt",
        ),
        (
            at("revenue.sql", &revenue, "currency,\n"),
            "contract: column currency: expected varchar, got date",
        ),
        (
            at("revenue.sql", &revenue, "month >= 1"),
            "`month >= 1` compares a date (month) with a number",
        ),
        (
            at("utilization.sql", &utilization, "week_start <> 'last week'"),
            "with 'last week', which is not a date",
        ),
    ];
    for (position, message) in expected {
        assert!(
            text.lines()
                .any(|l| l.contains(&position) && l.contains(message)),
            "{position}{message}:\n{text}"
        );
    }
}
