//! The messy fixture set (`pslake fixtures generate --messy`, committed as `fixtures/messy/`):
//! run 1 is the generated firm plus the planted records, each planted situation is there, runs 2
//! and 3 change exactly what they say with moved cursors, and the committed set is reproducible.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use pslake_sandbox::generate::{
    GenerateOptions, MESSY_RUNS, MessySummary, UNKNOWN_JOB, fx_file, generate, generate_messy,
};
use serde_json::Value;

use crate::generate::{
    COMMITTED_SCALE, COMMITTED_SEED, Rec, all_files, assert_same_tree, load, repo_fixtures, s,
};

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 30).expect("date")
}

fn messy_to(dir: &Path) -> MessySummary {
    generate_messy(&GenerateOptions {
        out: dir.to_path_buf(),
        scale: COMMITTED_SCALE,
        seed: COMMITTED_SEED,
        bad_rows: true,
    })
    .expect("generate --messy")
}

fn committed_messy() -> PathBuf {
    repo_fixtures().join("messy")
}

/// The stream as of run `run` (1-based): the newest overlay up to that run holding it, else the base.
fn state(dir: &Path, run: usize, system: &str, stream: &str) -> Vec<Rec> {
    let rel = Path::new(system).join(format!("{stream}.jsonl"));
    for r in MESSY_RUNS[..run - 1].iter().rev() {
        if dir.join(r).join(&rel).is_file() {
            return load(&dir.join(r), system, stream);
        }
    }
    load(dir, system, stream)
}

fn key(r: &Rec) -> &str {
    r.get("Id")
        .or_else(|| r.get("uniquekey"))
        .or_else(|| r.get("id"))
        .and_then(Value::as_str)
        .expect("a record key")
}

/// NetSuite's invoice and expense lines as the staging models read them: each line that is
/// neither mainline nor taxline, keyed by `uniquekey`, with its header's `trandate` and `status`,
/// its job (the line's entity, else an invoice header's) and its currency's ISO code.
fn ledger(dir: &Path, run: usize) -> (BTreeMap<String, Rec>, BTreeMap<String, Rec>) {
    let headers = by_id(&state(dir, run, "netsuite", "transaction"));
    let symbols: BTreeMap<String, String> = state(dir, run, "netsuite", "currency")
        .iter()
        .map(|c| (s(c, "id").to_owned(), s(c, "symbol").to_owned()))
        .collect();
    let (mut inv, mut exp) = (BTreeMap::new(), BTreeMap::new());
    for l in state(dir, run, "netsuite", "transactionline") {
        if s(&l, "mainline") == "T" || s(&l, "taxline") == "T" {
            continue;
        }
        let h = &headers[s(&l, "transaction")];
        let invoice = s(h, "type") == "CustInvc";
        let job = match s(&l, "entity") {
            "" if invoice => s(h, "entity"),
            j => j,
        };
        let mut r = Rec::new();
        r.insert("id".into(), l["uniquekey"].clone());
        r.insert("trandate".into(), h["trandate"].clone());
        r.insert("status".into(), h["status"].clone());
        r.insert("job".into(), job.into());
        r.insert("currency".into(), symbols[s(h, "currency")].clone().into());
        let amount: f64 = s(&l, "foreignamount").parse().expect("amount");
        r.insert(
            "amount".into(),
            (if invoice { -amount } else { amount }).into(),
        );
        if invoice { &mut inv } else { &mut exp }.insert(s(&l, "uniquekey").to_owned(), r);
    }
    (inv, exp)
}

fn by_id(rs: &[Rec]) -> BTreeMap<String, Rec> {
    rs.iter().map(|r| (key(r).to_owned(), r.clone())).collect()
}

fn date(v: &str) -> NaiveDate {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%m/%d/%Y"))
        .or_else(|_| DateTime::parse_from_rfc3339(v).map(|t| t.date_naive()))
        .unwrap_or_else(|_| panic!("not a date: {v}"))
}

/// The incremental cursor of a record, as a sortable UTC instant in seconds (NetSuite: its
/// date's midnight).
fn cursor(system: &str, r: &Rec) -> i64 {
    match system {
        "salesforce" => DateTime::parse_from_str(s(r, "SystemModstamp"), "%Y-%m-%dT%H:%M:%S%.3f%z")
            .expect("SystemModstamp")
            .timestamp(),
        "hubspot" => DateTime::parse_from_rfc3339(
            r["properties"]["hs_lastmodifieddate"]
                .as_str()
                .expect("str"),
        )
        .expect("hs_lastmodifieddate")
        .timestamp(),
        "netsuite" => date(
            r.get("lastmodifieddate")
                .or_else(|| r.get("linelastmodifieddate"))
                .and_then(Value::as_str)
                .expect("a last-modified date"),
        )
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp(),
        _ => DateTime::parse_from_rfc3339(s(r, "updated_at"))
            .expect("updated_at")
            .timestamp(),
    }
}

#[test]
fn committed_messy_fixtures_are_reproducible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    messy_to(tmp.path());
    assert_same_tree(&committed_messy(), tmp.path(), |p| {
        p == Path::new("README.md")
    });
}

/// Rewrites the committed messy set and prints its planted records as the README table:
/// `cargo test -p pslake-sandbox --test it generate_messy::regenerate_committed_messy_fixtures -- --ignored --nocapture`.
#[test]
#[ignore = "rewrites fixtures/messy/ in the repository"]
fn regenerate_committed_messy_fixtures() {
    let summary = messy_to(&committed_messy());
    eprintln!("| stream | id | what | run 1 | run 2 | run 3 |\n|---|---|---|---|---|---|");
    for p in &summary.planted {
        eprintln!(
            "| `{}/{}` | `{}` | {} | {} | {} | {} |",
            p.system, p.stream, p.id, p.what, p.runs[0], p.runs[1], p.runs[2]
        );
    }
}

#[test]
fn messy_readme_names_every_planted_id() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let summary = messy_to(tmp.path());
    let readme =
        std::fs::read_to_string(committed_messy().join("README.md")).expect("messy README");
    for p in &summary.planted {
        assert!(
            readme.contains(&format!("`{}`", p.id)),
            "fixtures/messy/README.md does not name {}/{} {}",
            p.system,
            p.stream,
            p.id
        );
    }
}

/// Run 1 is the clean firm with records appended (and the as_of month's FX file held back):
/// every line of the clean generator's streams is there, in order, untouched.
#[test]
fn run_one_is_the_clean_firm_plus_the_planted_records() {
    let clean = tempfile::tempdir().expect("tempdir");
    let messy = tempfile::tempdir().expect("tempdir");
    generate(&GenerateOptions {
        out: clean.path().to_path_buf(),
        scale: COMMITTED_SCALE,
        seed: COMMITTED_SEED,
        bad_rows: true,
    })
    .expect("generate");
    let summary = messy_to(messy.path());
    let fx = fx_file(as_of());
    let mut appended = 0;
    // NetSuite's planted lines come with their transactions: (headers, lines) appended
    let mut ns_headers: Vec<Rec> = Vec::new();
    let mut ns_lines: Vec<Rec> = Vec::new();
    // the planted opportunities' histories (SPEC 4b): created, then won
    let mut sf_history: Vec<Rec> = Vec::new();
    for f in all_files(clean.path()) {
        let a = std::fs::read(clean.path().join(&f)).expect("read");
        if f == fx {
            assert!(!messy.path().join(&f).exists(), "{} held back", f.display());
            let run2 = std::fs::read(messy.path().join("run2").join(&f)).expect("run2 FX file");
            assert_eq!(a, run2, "run 2 brings the very file run 1 lacked");
            continue;
        }
        if f == Path::new("manifest.json") {
            continue;
        }
        let b = std::fs::read(messy.path().join(&f)).expect("read");
        assert!(b.starts_with(&a), "{} keeps the clean records", f.display());
        let added = std::str::from_utf8(&b[a.len()..]).expect("utf8");
        let recs = added
            .lines()
            .map(|l| serde_json::from_str::<Rec>(l).expect("json"));
        if f == Path::new("netsuite/transaction.jsonl") {
            ns_headers.extend(recs);
        } else if f == Path::new("netsuite/transactionline.jsonl") {
            ns_lines.extend(recs);
        } else if f == Path::new("salesforce/OpportunityHistory.jsonl") {
            sf_history.extend(recs);
        } else {
            appended += added.lines().count();
        }
    }
    let records = summary
        .planted
        .iter()
        .filter(|p| p.system != "treasury" && p.system != "netsuite");
    assert_eq!(
        appended,
        records.count(),
        "one appended line per planted record"
    );
    let planted_opps: BTreeSet<&str> = summary
        .planted
        .iter()
        .filter(|p| p.stream == "Opportunity")
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(sf_history.len(), 2 * planted_opps.len());
    for h in &sf_history {
        assert!(planted_opps.contains(s(h, "OpportunityId")));
    }
    // one transaction per planted NetSuite line, holding it and its mainline (and taxline)
    let planted_lines: BTreeSet<&str> = summary
        .planted
        .iter()
        .filter(|p| p.system == "netsuite")
        .map(|p| p.id.as_str())
        .collect();
    let billable: BTreeSet<&str> = ns_lines
        .iter()
        .filter(|l| s(l, "mainline") == "F" && s(l, "taxline") == "F")
        .map(|l| s(l, "uniquekey"))
        .collect();
    assert_eq!(billable, planted_lines);
    assert_eq!(ns_headers.len(), planted_lines.len());
    let headers: BTreeSet<&str> = ns_headers.iter().map(|h| s(h, "id")).collect();
    assert!(
        ns_lines
            .iter()
            .all(|l| headers.contains(s(l, "transaction")))
    );
}

#[test]
fn messy_set_plants_every_situation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let summary = messy_to(dir);
    let planted: BTreeSet<&str> = summary.planted.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        planted.len(),
        summary.planted.len(),
        "planted ids are unique"
    );

    // The as_of month's treasury file: missing in run 1, arriving in run 2, the rest all there.
    let fx = fx_file(as_of());
    assert!(!dir.join(&fx).exists());
    assert!(dir.join("run2").join(&fx).is_file());
    assert!(!dir.join("run3").join(&fx).exists());
    for m in ["2026-08", "2026-10"] {
        assert!(dir.join(format!("treasury/fx_rates_{m}.csv")).is_file());
    }
    // Every run has the same as_of.
    for m in [
        dir.join("manifest.json"),
        dir.join("run2/manifest.json"),
        dir.join("run3/manifest.json"),
    ] {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&m).expect("manifest")).expect("json");
        assert_eq!(v["as_of"], "2026-09-30", "{}", m.display());
        assert_eq!(v["messy"], true);
    }

    let jobs = by_id(&load(dir, "netsuite", "job"));
    let workspaces = by_id(&load(dir, "kantata", "workspaces"));
    let entries = by_id(&load(dir, "kantata", "time_entries"));
    let (inv, exp) = ledger(dir, 1);
    let stories = by_id(&load(dir, "kantata", "stories"));
    let opps = by_id(&load(dir, "salesforce", "Opportunity"));
    let deals = by_id(&load(dir, "hubspot", "deals"));
    for p in summary.planted.iter().filter(|p| p.system != "treasury") {
        let present = match (p.system.as_str(), p.stream.as_str()) {
            ("kantata", "time_entries") => entries.contains_key(&p.id),
            ("kantata", "stories") => stories.contains_key(&p.id),
            ("netsuite", "transactionline") => inv.contains_key(&p.id) || exp.contains_key(&p.id),
            ("salesforce", "Opportunity") => opps.contains_key(&p.id),
            ("hubspot", "deals") => deals.contains_key(&p.id),
            other => panic!("unexpected planted stream {other:?}"),
        };
        assert!(present, "{}/{} {} is in run 1", p.system, p.stream, p.id);
    }
    let ws_currency = |ws: &str| s(&workspaces[ws], "currency").to_owned();

    // Cross-currency Kantata entry in a month with rates, and one in the as_of month.
    let t = &entries["598000001"];
    assert_ne!(s(t, "currency"), ws_currency(s(t, "workspace_id")));
    assert!(date(s(t, "date_performed")) < NaiveDate::from_ymd_opt(2026, 9, 1).expect("d"));
    let t = &entries["598000002"];
    assert_ne!(s(t, "currency"), "USD");
    assert!(s(t, "date_performed").starts_with("2026-09"));
    // Dated after as_of.
    assert!(date(s(&entries["598000003"], "date_performed")) > as_of());
    assert!(date(s(&inv["3999103"], "trandate")) > as_of());
    assert!(date(s(&exp["4999103"], "trandate")) > as_of());
    let m = &stories["702399002"];
    assert_eq!(s(m, "story_type"), "milestone");
    assert!(date(s(m, "accepted_at")) > as_of());
    assert!(
        opps.values()
            .any(|o| o["IsWon"] == true && date(s(o, "CloseDate")) > as_of())
    );
    // Lines on an unknown and on an empty job; a story on an unknown workspace.
    for lines in [&inv, &exp] {
        let unknown: Vec<&str> = lines
            .values()
            .filter(|l| !jobs.contains_key(s(l, "job")))
            .map(|l| s(l, "job"))
            .collect();
        assert!(
            unknown.contains(&UNKNOWN_JOB) && unknown.contains(&""),
            "{unknown:?}"
        );
    }
    assert_eq!(s(&inv["3999101"], "job"), UNKNOWN_JOB);
    assert_eq!(s(&exp["4999102"], "job"), "");
    assert!(!workspaces.contains_key(s(&stories["702399001"], "workspace_id")));
    // Cross-currency lines and opportunities (currency ≠ the project's).
    for l in [&inv["3999106"], &exp["4999106"]] {
        assert_ne!(s(l, "currency"), s(&jobs[s(l, "job")], "currency"));
    }
    let job_of_opp: BTreeMap<&str, &Rec> = jobs
        .values()
        .map(|j| (s(j, "custentity_crm_opportunity_id"), j))
        .collect();
    let cross_sf = opps.values().filter(|o| {
        o["Parent_Opportunity__c"].as_str().is_some_and(|p| {
            job_of_opp
                .get(p)
                .is_some_and(|j| s(j, "currency") != s(o, "CurrencyIsoCode"))
        })
    });
    assert!(
        cross_sf.count() > 0,
        "a cross-currency Salesforce opportunity"
    );
    let cross_hs = deals.values().filter(|d| {
        let p = &d["properties"];
        job_of_opp
            .get(p["parent_deal_id"].as_str().expect("str"))
            .is_some_and(|j| s(j, "currency") != p["deal_currency_code"])
    });
    assert!(cross_hs.count() > 0, "a cross-currency HubSpot deal");

    // Deleted between run 1 and run 2.
    for (system, stream, id) in [
        ("kantata", "time_entries", "598000004"),
        ("kantata", "time_entries", "598000005"),
        ("netsuite", "transactionline", "3999104"),
        ("netsuite", "transactionline", "4999104"),
        ("netsuite", "transaction", "13999104"),
        ("netsuite", "transaction", "14999104"),
    ] {
        assert!(by_id(&state(dir, 1, system, stream)).contains_key(id));
        assert!(!by_id(&state(dir, 2, system, stream)).contains_key(id));
        assert!(!by_id(&state(dir, 3, system, stream)).contains_key(id));
    }
    // The opportunities that change.
    let opp =
        |run: usize, id: &str| by_id(&state(dir, run, "salesforce", "Opportunity"))[id].clone();
    let changed = "0065e00000k3ODIAA2";
    let rewon = "0065e00000k7aMNAAY";
    let deleted = "0065e00000kKAncAAG";
    for id in [changed, rewon, deleted] {
        assert!(planted.contains(id), "{id} planted");
    }
    let amount = |r: &Rec| r["Amount"].as_f64().expect("Amount");
    assert!(amount(&opp(2, changed)) > amount(&opp(1, changed)));
    assert_eq!(amount(&opp(3, changed)), amount(&opp(2, changed)));
    let won = |r: &Rec| (r["IsWon"] == true, s(r, "StageName").to_owned());
    assert_eq!(won(&opp(1, rewon)), (true, "Closed Won".to_owned()));
    assert_eq!(won(&opp(2, rewon)), (false, "Closed Lost".to_owned()));
    assert_eq!(won(&opp(3, rewon)), (true, "Closed Won".to_owned()));
    assert_eq!(
        (
            opp(1, deleted)["IsDeleted"].clone(),
            opp(2, deleted)["IsDeleted"].clone()
        ),
        (false.into(), true.into())
    );
    let deal = |run: usize| {
        by_id(&state(dir, run, "hubspot", "deals"))["18234499001"]["properties"].clone()
    };
    let deal_amount = |p: &Value| {
        p["amount"]
            .as_str()
            .expect("str")
            .parse::<f64>()
            .expect("amount")
    };
    assert!(deal_amount(&deal(2)) > deal_amount(&deal(1)));
    assert_eq!(
        (deal(1)["dealstage"].clone(), deal(3)["dealstage"].clone()),
        ("closedwon".into(), "closedlost".into())
    );
    // The empty-job invoice line gets its job in run 2.
    let fixed = &ledger(dir, 2).0["3999102"];
    assert!(jobs.contains_key(s(fixed, "job")));
}

/// Each later run changes only what it says: a stream record that differs from the state before
/// has a cursor past every cursor of that state (NetSuite's date cursor: not before), and a record
/// that disappears is a planted one.
#[test]
fn later_runs_move_the_cursor_of_every_edit_and_delete_only_planted_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let summary = messy_to(dir);
    let planted: BTreeSet<&str> = summary.planted.iter().map(|p| p.id.as_str()).collect();
    // a planted NetSuite line goes with its whole transaction: header, mainline, taxline
    let lines = state(dir, 1, "netsuite", "transactionline");
    let planted_trans: BTreeSet<&str> = lines
        .iter()
        .filter(|l| planted.contains(s(l, "uniquekey")))
        .map(|l| s(l, "transaction"))
        .collect();
    let planted_with = |r: &Rec| {
        planted.contains(key(r))
            || r.get("transaction")
                .and_then(Value::as_str)
                .is_some_and(|t| planted_trans.contains(t))
            || (r.contains_key("tranid") && planted_trans.contains(key(r)))
    };
    let mut edits = 0;
    let mut added = 0;
    for (k, (overlay, files)) in summary.overlays.iter().enumerate() {
        let run = k + 2;
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "jsonl"))
        {
            let system = f.iter().next().expect("system").to_str().expect("utf8");
            let stream = f.file_stem().expect("stem").to_str().expect("utf8");
            assert!(overlay.join(f).is_file());
            let before = state(dir, run - 1, system, stream);
            let after = by_id(&state(dir, run, system, stream));
            let max_before = before
                .iter()
                .map(|r| cursor(system, r))
                .max()
                .expect("records");
            for r in &before {
                match after.get(key(r)) {
                    None => assert!(planted_with(r), "run {run} deletes unplanted {}", key(r)),
                    Some(now) if now != r => {
                        edits += 1;
                        let c = cursor(system, now);
                        if system == "netsuite" {
                            assert!(
                                c >= max_before,
                                "run {run}: {system}/{stream} {} cursor",
                                key(r)
                            );
                        } else {
                            assert!(
                                c > max_before,
                                "run {run}: {system}/{stream} {} cursor",
                                key(r)
                            );
                        }
                        // Still on the as_of date (UTC), so booking events fall in the window.
                        assert_eq!(
                            chrono::DateTime::from_timestamp(c, 0)
                                .expect("instant")
                                .date_naive(),
                            as_of(),
                            "run {run}: {system}/{stream} {} stamp",
                            key(r)
                        );
                    }
                    Some(_) => {}
                }
            }
            // A later run adds records only to a history: a planted opportunity's change is a
            // new OpportunityHistory row, stamped like the change.
            let before_ids: BTreeSet<&str> = before.iter().map(key).collect();
            for (id, r) in &after {
                if before_ids.contains(id.as_str()) {
                    continue;
                }
                assert_eq!(
                    (system, stream),
                    ("salesforce", "OpportunityHistory"),
                    "run {run} adds {id}"
                );
                assert!(planted.contains(s(r, "OpportunityId")), "run {run}: {id}");
                assert!(cursor(system, r) > max_before, "run {run}: {id} cursor");
                added += 1;
            }
        }
    }
    assert_eq!(
        added, 3,
        "run 2 raises one and loses one, run 3 wins one again"
    );
    assert!(edits >= 6, "{edits} edited records");
}
