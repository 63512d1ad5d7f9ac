//! Deliberate data-quality cases.
//!
//! Row rules and warnings of SPEC section 5 go into the generated streams themselves (with
//! [`super::GenerateOptions::bad_rows`]), each with a fixed id that does not depend on the seed or
//! the scale, so tests and docs can name them. Table rules would block publishing, so they are
//! overlays: [`write_edge_overlays`] writes `edge/<case>/<system>/<stream>.jsonl`, a full copy of
//! one generated stream with a single record changed (or added), to be copied over a fixture
//! directory.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::Value;

use super::calendar::{as_of, iso, kantata_dt, netsuite, next_weekday};
use super::emit::{HQ_OFFSET, KtTimeEntry};
use super::firm::{Billing, Firm};
use super::ledger::{ExpenseLine, InvoiceLine, LedgerWriter, employee_entity};
use super::writer::{JsonlWriter, io};
use super::{Error, Result};
use crate::layout::StreamId;

/// Kantata workspace id that no workspace has.
pub(crate) const UNKNOWN_WORKSPACE: &str = "39999001";
/// Kantata workspace whose `external_reference` is no NetSuite job.
pub(crate) const ORPHAN_WORKSPACE: &str = "39999002";
/// The project code of [`ORPHAN_WORKSPACE`].
pub(crate) const UNKNOWN_PROJECT_CODE: &str = "PRJ-99999";
/// Kantata user id that no user has.
pub(crate) const UNKNOWN_USER: &str = "8899999";
/// Kantata user whose `external_reference` is no Workday worker.
pub(crate) const UNMATCHED_USER: &str = "8899001";
/// The Workday id of [`UNMATCHED_USER`], absent from Workers.
pub(crate) const UNKNOWN_EMPLOYEE_ID: &str = "109999";

/// One deliberate bad row or warning case written into the main fixture streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliberate {
    /// The system, e.g. `kantata`.
    pub system: String,
    /// The stream, e.g. `time_entries`.
    pub stream: String,
    /// The record's primary key.
    pub id: String,
    /// The SPEC section 5 rule it exercises (`(support row)` for rows that only make another
    /// row bad).
    pub rule: String,
    /// What is wrong with it.
    pub description: String,
}

impl Deliberate {
    pub(crate) fn new(system: &str, stream: &str, id: &str, rule: &str, description: &str) -> Self {
        Self {
            system: system.to_owned(),
            stream: stream.to_owned(),
            id: id.to_owned(),
            rule: rule.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// Appends the bad time entries (ids `599000001`..) to `kantata/time_entries.jsonl`.
pub(crate) fn write_bad_time_entries(
    firm: &Firm,
    w: &mut JsonlWriter,
    deliberate: &mut Vec<Deliberate>,
) -> Result<()> {
    let e0 = &firm.employees[0];
    let internal = &firm.projects[firm.internal_project];
    let client = firm
        .projects
        .iter()
        .find(|p| {
            p.status == 2 && p.logs_time && !p.internal && p.billing == Billing::TimeAndMaterials
        })
        .unwrap_or(internal);
    let day = next_weekday(as_of() - Duration::days(40));
    let mut saturday = as_of() - Duration::days(60);
    while saturday.weekday() != Weekday::Sat {
        saturday -= Duration::days(1);
    }
    let leaver = firm
        .employees
        .iter()
        .find(|e| e.term.is_some_and(|t| t < as_of() - Duration::days(7)))
        .unwrap_or(e0);
    let after_term = next_weekday(leaver.term.unwrap_or(as_of()) + Duration::days(3));
    let stale = next_weekday(as_of() - Duration::days(45));

    struct Bad<'a> {
        ws: &'a str,
        user: &'a str,
        date: String,
        minutes: i64,
        approved: bool,
        currency: &'a str,
        rate_cents: i64,
        rule: &'static str,
        what: String,
    }
    let cases = vec![
        Bad {
            ws: UNKNOWN_WORKSPACE,
            user: &e0.user_id,
            date: iso(day),
            minutes: 120,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: time entry on an unknown project",
            what: format!("workspace_id {UNKNOWN_WORKSPACE} is no Kantata workspace"),
        },
        Bad {
            ws: ORPHAN_WORKSPACE,
            user: &e0.user_id,
            date: iso(day),
            minutes: 90,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: time entry on an unknown project",
            what: format!(
                "workspace {ORPHAN_WORKSPACE} exists but its ERP project {UNKNOWN_PROJECT_CODE} does not"
            ),
        },
        Bad {
            ws: &internal.workspace_id,
            user: UNKNOWN_USER,
            date: iso(day),
            minutes: 60,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: time entry on an unknown employee",
            what: format!("user_id {UNKNOWN_USER} is no Kantata user"),
        },
        Bad {
            ws: &internal.workspace_id,
            user: UNMATCHED_USER,
            date: iso(day),
            minutes: 60,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: time entry on an unknown employee",
            what: format!(
                "user {UNMATCHED_USER} maps to Employee_ID {UNKNOWN_EMPLOYEE_ID}, absent from Workday"
            ),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &e0.user_id,
            date: iso(day),
            minutes: 0,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: hours <= 0",
            what: "time_in_minutes 0".to_owned(),
        },
        Bad {
            ws: &client.workspace_id,
            user: &e0.user_id,
            date: iso(day),
            minutes: 1500,
            approved: true,
            currency: client.currency,
            rate_cents: 15_000,
            rule: "row: hours > 24",
            what: "time_in_minutes 1500 (25 h) in one entry".to_owned(),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &e0.user_id,
            date: iso(saturday),
            minutes: 780,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: an employee's approved hours on one day > 24",
            what: format!("13 h on {saturday}; with 599000008 the day has 26 approved hours"),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &e0.user_id,
            date: iso(saturday),
            minutes: 780,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: an employee's approved hours on one day > 24",
            what: format!("13 h on {saturday}; with 599000007 the day has 26 approved hours"),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &leaver.user_id,
            date: iso(after_term),
            minutes: 240,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: work date outside the employee's employment",
            what: format!(
                "{} left on {}, entry dated {after_term}",
                leaver.id,
                leaver.term.map(iso).unwrap_or_default()
            ),
        },
        Bad {
            ws: &client.workspace_id,
            user: &e0.user_id,
            date: iso(day),
            minutes: 120,
            approved: true,
            currency: "CHF",
            rate_cents: 20_000,
            rule: "row: an amount in a currency-month with no FX rate",
            what: "currency CHF: treasury has no CHF rates".to_owned(),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &e0.user_id,
            date: "not-a-date".to_owned(),
            minutes: 60,
            approved: true,
            currency: "USD",
            rate_cents: 0,
            rule: "row: an unparseable value in a required field",
            what: "date_performed \"not-a-date\"".to_owned(),
        },
        Bad {
            ws: &internal.workspace_id,
            user: &e0.user_id,
            date: iso(stale),
            minutes: 60,
            approved: false,
            currency: "USD",
            rate_cents: 0,
            rule: "warning: submitted time older than 14 days",
            what: format!("approved false, dated {stale} (45 days before as_of)"),
        },
    ];
    for (k, b) in cases.into_iter().enumerate() {
        let id = (599_000_001 + k).to_string();
        let date = NaiveDate::parse_from_str(&b.date, "%Y-%m-%d").unwrap_or(day);
        w.write(&KtTimeEntry {
            id: id.clone(),
            workspace_id: b.ws,
            user_id: b.user,
            date_performed: b.date.clone(),
            time_in_minutes: b.minutes,
            billable: b.rate_cents > 0,
            approved: b.approved,
            rate_in_cents: b.rate_cents,
            currency: b.currency,
            notes: "Deliberate bad row",
            updated_at: kantata_dt(date.min(as_of()), 18 * 3600, HQ_OFFSET),
        })?;
        deliberate.push(Deliberate::new(
            "kantata",
            "time_entries",
            &id,
            b.rule,
            &b.what,
        ));
    }
    Ok(())
}

/// Appends an invoice whose header has an unparseable date (the landing rejects the
/// `transaction` record, so its line has no header and stays out) and an expense report in a
/// currency without FX rates.
pub(crate) fn write_bad_ledger_lines(
    firm: &Firm,
    ledger: &mut LedgerWriter,
    deliberate: &mut Vec<Deliberate>,
) -> Result<()> {
    let Some(p) = firm.projects.iter().find(|p| p.logs_time && !p.internal) else {
        return Ok(());
    };
    let day = as_of() - Duration::days(20);
    let inv = ledger.invoice(&InvoiceLine {
        id: "3999001".to_owned(),
        tranid: "INV99001".to_owned(),
        trandate: "13/45/2026".to_owned(),
        status: "A".to_owned(),
        job: p.job_id.clone(),
        amount: "1000.00".to_owned(),
        currency: p.currency.to_owned(),
        lastmodifieddate: netsuite(day),
    })?;
    deliberate.push(Deliberate::new(
        "netsuite",
        "transaction",
        &inv.transaction,
        "row: an unparseable value in a required field",
        "trandate \"13/45/2026\"",
    ));
    ledger.expense(&ExpenseLine {
        id: "4999001".to_owned(),
        trandate: netsuite(day),
        employee: employee_entity(0),
        job: p.job_id.clone(),
        category: "Travel".to_owned(),
        amount: "850.00".to_owned(),
        currency: "CHF".to_owned(),
        lastmodifieddate: netsuite(day),
    })?;
    deliberate.push(Deliberate::new(
        "netsuite",
        "transactionline",
        "4999001",
        "row: an amount in a currency-month with no FX rate",
        "currency CHF: treasury has no CHF rates",
    ));
    Ok(())
}

/// One table-rule edge case written by [`write_edge_overlays`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeCase {
    /// Directory name under `edge/`.
    pub name: String,
    /// The overlay files written (relative to the case directory).
    pub files: Vec<PathBuf>,
    /// The SPEC section 5 table rule it exercises.
    pub rule: String,
    /// What was changed, naming the record.
    pub description: String,
}

/// Writes the table-rule edge cases as overlays under `out` (usually `<fixtures>/edge`), derived
/// from the generated fixture directory `fixtures`. Each case directory holds full copies of the
/// affected stream files with one record changed or added; copy it over the fixture directory
/// to use it.
pub fn write_edge_overlays(fixtures: &Path, out: &Path) -> Result<Vec<EdgeCase>> {
    let opp = read_stream(fixtures, "salesforce", "Opportunity")?;
    let deals = read_stream(fixtures, "hubspot", "deals")?;
    let jobs = read_stream(fixtures, "netsuite", "job")?;
    let mut cases = Vec::new();

    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();

    let i = find(&opp, "unmapped_stage", |v| {
        v["IsClosed"] == Value::Bool(false) && v["IsDeleted"] == Value::Bool(false)
    })?;
    let id = s(&opp.records[i], "Id");
    let mut lines = opp.lines.clone();
    lines[i] = with(&opp.records[i], &[("StageName", "Verbal Commit".into())]);
    cases.push(write_case(
        out,
        "unmapped_stage",
        &opp,
        lines,
        "table: unmapped lifecycle value",
        format!("Salesforce Opportunity {id} has StageName \"Verbal Commit\""),
    )?);

    let i = find(&deals, "unmapped_dealstage", |v| {
        v["archived"] == Value::Bool(false) && v["properties"]["hs_is_closed_won"] == "false"
    })?;
    let id = s(&deals.records[i], "id");
    let mut rec = deals.records[i].clone();
    rec["properties"]["dealstage"] = "verbalcommit".into();
    let mut lines = deals.lines.clone();
    lines[i] = rec.to_string();
    cases.push(write_case(
        out,
        "unmapped_dealstage",
        &deals,
        lines,
        "table: unmapped lifecycle value",
        format!("HubSpot deal {id} has dealstage \"verbalcommit\""),
    )?);

    let linked = |v: &Value| v["custentity_crm_opportunity_id"] != "";
    let i = find(&jobs, "unmapped_project_status", |v| {
        v["entitystatus"] == "2" && linked(v)
    })?;
    let id = s(&jobs.records[i], "id");
    let mut lines = jobs.lines.clone();
    lines[i] = with(&jobs.records[i], &[("entitystatus", "7".into())]);
    cases.push(write_case(
        out,
        "unmapped_project_status",
        &jobs,
        lines,
        "table: unmapped lifecycle value",
        format!("NetSuite job {id} has entitystatus \"7\""),
    )?);

    let i = find(&jobs, "duplicate_job_id", |v| {
        v["entitystatus"] == "2" && linked(v)
    })?;
    let id = s(&jobs.records[i], "id");
    let name = s(&jobs.records[i], "companyname");
    let mut lines = jobs.lines.clone();
    lines.push(with(
        &jobs.records[i],
        &[("companyname", format!("{name} (duplicate)").into())],
    ));
    cases.push(write_case(
        out,
        "duplicate_job_id",
        &jobs,
        lines,
        "table: duplicate key",
        format!("NetSuite job id {id} appears twice (second copy appended, companyname changed)"),
    )?);

    let i = find(&jobs, "duplicate_project_code", |v| {
        v["entitystatus"] == "1" && linked(v)
    })?;
    let code = s(&jobs.records[i], "entityid");
    let mut lines = jobs.lines.clone();
    lines.push(with(&jobs.records[i], &[("id", "299999".into())]));
    cases.push(write_case(
        out,
        "duplicate_project_code",
        &jobs,
        lines,
        "table: duplicate key",
        format!(
            "NetSuite jobs {} and 299999 share entityid {code}",
            s(&jobs.records[i], "id")
        ),
    )?);

    let i = find(&jobs, "fixed_fee_no_budget", |v| {
        v["jobbillingtype"] == "FBI"
    })?;
    let id = s(&jobs.records[i], "id");
    let mut lines = jobs.lines.clone();
    lines[i] = with(&jobs.records[i], &[("custentity_budget_hours", "".into())]);
    cases.push(write_case(
        out,
        "fixed_fee_no_budget",
        &jobs,
        lines,
        "table: fixed-fee project without budget hours",
        format!("NetSuite FBI job {id} has custentity_budget_hours \"\""),
    )?);
    Ok(cases)
}

struct Stream {
    system: &'static str,
    stream: &'static str,
    path: PathBuf,
    lines: Vec<String>,
    records: Vec<Value>,
}

fn read_stream(dir: &Path, system: &'static str, stream: &'static str) -> Result<Stream> {
    let path = StreamId { system, stream }.path_in(dir);
    let file = fs_err::File::open(&path).map_err(|source| io(&path, source))?;
    let mut lines = Vec::new();
    let mut records = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|source| io(&path, source))?;
        let v: Value = serde_json::from_str(&line).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        lines.push(line);
        records.push(v);
    }
    Ok(Stream {
        system,
        stream,
        path,
        lines,
        records,
    })
}

fn find(s: &Stream, case: &str, pred: impl Fn(&Value) -> bool) -> Result<usize> {
    s.records
        .iter()
        .position(pred)
        .ok_or_else(|| Error::EdgeSource {
            path: s.path.clone(),
            case: case.to_owned(),
        })
}

/// The record with some top-level fields replaced, serialized as one line.
fn with(v: &Value, changes: &[(&str, Value)]) -> String {
    let mut v = v.clone();
    for (k, new) in changes {
        v[*k] = new.clone();
    }
    v.to_string()
}

fn write_case(
    out: &Path,
    name: &str,
    source: &Stream,
    lines: Vec<String>,
    rule: &str,
    description: String,
) -> Result<EdgeCase> {
    let rel = Path::new(source.system).join(format!("{}.jsonl", source.stream));
    let path = out.join(name).join(&rel);
    let mut text = lines.join("\n");
    text.push('\n');
    super::writer::write_file(&path, text.as_bytes())?;
    Ok(EdgeCase {
        name: name.to_owned(),
        files: vec![rel],
        rule: rule.to_owned(),
        description,
    })
}
