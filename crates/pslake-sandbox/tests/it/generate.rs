//! The synthetic-firm generator: determinism, the committed fixtures, wire formats, cross-system
//! keys, coverage of every lifecycle value, size and realism at `--scale 1`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, NaiveDate};
use pslake_sandbox::generate::{GenerateOptions, GenerateSummary, generate, write_edge_overlays};
use pslake_sandbox::layout::STREAMS;
use serde_json::{Map, Value};

/// The options the committed `fixtures/` directory was generated with (see fixtures/README.md).
pub(crate) const COMMITTED_SCALE: f64 = 0.05;
pub(crate) const COMMITTED_SEED: u64 = 1;

pub(crate) fn repo_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn gen_to(dir: &Path, scale: f64, seed: u64, bad_rows: bool) -> GenerateSummary {
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        scale,
        seed,
        bad_rows,
    })
    .expect("generate")
}

pub(crate) type Rec = Map<String, Value>;

pub(crate) fn load(dir: &Path, system: &str, stream: &str) -> Vec<Rec> {
    let path = dir.join(system).join(format!("{stream}.jsonl"));
    let text = std::fs::read_to_string(&path).expect("stream file");
    text.lines()
        .map(
            |l| match serde_json::from_str::<Value>(l).expect("json line") {
                Value::Object(m) => m,
                other => panic!("{}: not an object: {other}", path.display()),
            },
        )
        .collect()
}

pub(crate) fn s<'a>(r: &'a Rec, k: &str) -> &'a str {
    r.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{k} is not a string in {r:?}"))
}

/// Every file under `dir` (relative paths), sorted.
pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).expect("prefix").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn assert_same_tree(a: &Path, b: &Path, skip: impl Fn(&Path) -> bool) {
    let fa: Vec<_> = all_files(a).into_iter().filter(|p| !skip(p)).collect();
    let fb: Vec<_> = all_files(b).into_iter().filter(|p| !skip(p)).collect();
    assert_eq!(
        fa,
        fb,
        "file lists differ between {} and {}",
        a.display(),
        b.display()
    );
    for f in fa {
        let x = std::fs::read(a.join(&f)).expect("read");
        let y = std::fs::read(b.join(&f)).expect("read");
        assert!(x == y, "{} differs", f.display());
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_firm() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let c = tempfile::tempdir().expect("tempdir");
    let sa = gen_to(a.path(), 0.05, 7, true);
    let sb = gen_to(b.path(), 0.05, 7, true);
    gen_to(c.path(), 0.05, 8, true);
    assert_same_tree(a.path(), b.path(), |_| false);
    assert_eq!(sa.deliberate, sb.deliberate);
    for stream in ["kantata/time_entries.jsonl", "salesforce/Opportunity.jsonl"] {
        let x = std::fs::read(a.path().join(stream)).expect("read");
        let y = std::fs::read(c.path().join(stream)).expect("read");
        assert_ne!(x, y, "{stream} is the same for seeds 7 and 8");
    }
}

#[test]
fn committed_fixtures_are_reproducible() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_to(tmp.path(), COMMITTED_SCALE, COMMITTED_SEED, true);
    let edge = tmp.path().join("edge");
    write_edge_overlays(tmp.path(), &edge).expect("edge overlays");
    // `messy/` is the second committed set, checked by generate_messy.
    assert_same_tree(&repo_fixtures(), tmp.path(), |p| {
        p == Path::new("README.md") || p.starts_with("messy")
    });
}

/// Rewrites the committed fixtures: `cargo test -p pslake-sandbox --test it
/// generate::regenerate_committed_fixtures -- --ignored`.
#[test]
#[ignore = "rewrites fixtures/ in the repository"]
fn regenerate_committed_fixtures() {
    let dir = repo_fixtures();
    gen_to(&dir, COMMITTED_SCALE, COMMITTED_SEED, true);
    let cases = write_edge_overlays(&dir, &dir.join("edge")).expect("edge overlays");
    for c in cases {
        eprintln!("edge/{}: {} ({})", c.name, c.description, c.rule);
    }
}

#[test]
fn streams_have_exactly_the_spec_fields_and_vendor_formats() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let summary = gen_to(tmp.path(), 0.05, 3, true);
    let dir = tmp.path();
    for st in STREAMS {
        assert!(
            st.path_in(dir).is_file(),
            "{}/{} missing",
            st.system,
            st.stream
        );
        assert!(summary.records(st.system, st.stream).is_some_and(|n| n > 0));
    }
    let fields: &[(&str, &str, &str)] = &[
        (
            "salesforce",
            "Account",
            "Id Name Industry BillingCountry CurrencyIsoCode IsDeleted SystemModstamp",
        ),
        (
            "salesforce",
            "Opportunity",
            "Id AccountId Name StageName Amount CurrencyIsoCode CloseDate Probability Type IsClosed IsWon IsDeleted Billing_Type__c Practice__c Estimated_Hours__c Start_Date__c End_Date__c Parent_Opportunity__c SystemModstamp",
        ),
        (
            "salesforce",
            "OpportunityHistory",
            "Id OpportunityId StageName Amount Probability CloseDate CreatedDate IsDeleted SystemModstamp",
        ),
        (
            "hubspot",
            "deals",
            "id properties propertiesWithHistory archived updatedAt",
        ),
        (
            "netsuite",
            "customer",
            "id entityid companyname custentity_sf_account_id currency lastmodifieddate",
        ),
        (
            "netsuite",
            "job",
            "id entityid companyname parent entitystatus jobbillingtype startdate projectedenddate currency custentity_crm_opportunity_id custentity_budget_hours custentity_practice datecreated lastmodifieddate",
        ),
        ("netsuite", "currency", "id symbol name"),
        (
            "netsuite",
            "transaction",
            "id tranid type trandate entity status currency lastmodifieddate",
        ),
        (
            "netsuite",
            "transactionline",
            "uniquekey id transaction mainline taxline entity foreignamount memo linelastmodifieddate",
        ),
        (
            "kantata",
            "workspaces",
            "id title external_reference status currency start_date due_date archived updated_at",
        ),
        (
            "kantata",
            "users",
            "id full_name email_address external_reference updated_at",
        ),
        (
            "kantata",
            "time_entries",
            "id workspace_id user_id date_performed time_in_minutes billable approved rate_in_cents currency notes updated_at",
        ),
        (
            "kantata",
            "workspace_resources",
            "id workspace_id user_id updated_at",
        ),
        (
            "kantata",
            "workspace_allocations",
            "id workspace_resource_id start_date end_date minutes hard updated_at",
        ),
        (
            "kantata",
            "stories",
            "id workspace_id title story_type state due_date accepted_at billing_amount_in_cents archived deleted_at updated_at",
        ),
        (
            "workday",
            "Workers",
            "Employee_ID Worker Email Worker_Type Job_Profile Practice Cost_Center Location_Country Hire_Date Termination_Date Scheduled_Weekly_Hours Hourly_Cost_Rate Cost_Rate_Currency Last_Updated",
        ),
        (
            "workday",
            "Time_Off",
            "Time_Off_Entry_ID Employee_ID Date Hours Time_Off_Type Status",
        ),
        ("workday", "Holidays", "Country Date Holiday_Name"),
        (
            "workday",
            "Worker_History",
            "Employee_ID Effective_Date Practice Job_Profile Scheduled_Weekly_Hours Hourly_Cost_Rate Cost_Rate_Currency",
        ),
    ];
    for (system, stream, names) in fields {
        let want: Vec<&str> = names.split(' ').collect();
        for r in load(dir, system, stream) {
            let got: Vec<&str> = r.keys().map(String::as_str).collect();
            assert_eq!(got, want, "{system}/{stream}");
        }
    }
    let hs_props = "dealname dealstage amount deal_currency_code closedate hs_is_closed_won hs_deal_stage_probability dealtype billing_type practice estimated_hours start_date end_date parent_deal_id netsuite_customer_id hs_lastmodifieddate";
    let bad: BTreeSet<&str> = summary.deliberate.iter().map(|d| d.id.as_str()).collect();
    let currencies = ["USD", "GBP", "EUR", "INR", "CAD"];
    let iso_date = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() && v.len() == 10;

    for r in load(dir, "salesforce", "Opportunity") {
        assert!(
            r.get("Id")
                .is_some_and(|v| v.as_str().is_some_and(|x| x.len() == 18))
        );
        assert!(r["Amount"].is_number() && r["Probability"].is_number());
        assert!(
            r["IsWon"].is_boolean() && r["IsClosed"].is_boolean() && r["IsDeleted"].is_boolean()
        );
        assert!(iso_date(s(&r, "CloseDate")) && iso_date(s(&r, "Start_Date__c")));
        let stamp = s(&r, "SystemModstamp");
        assert!(stamp.ends_with(".000+0000"), "{stamp}");
        DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.3f%z").expect("sf datetime");
        assert!(currencies.contains(&s(&r, "CurrencyIsoCode")));
        assert!(r["Parent_Opportunity__c"].is_null() || r["Parent_Opportunity__c"].is_string());
    }
    for r in load(dir, "salesforce", "Account") {
        assert_eq!(s(&r, "BillingCountry").len(), 2);
    }
    for r in load(dir, "hubspot", "deals") {
        let p = r["properties"].as_object().expect("properties");
        assert_eq!(
            p.keys().map(String::as_str).collect::<Vec<_>>().join(" "),
            hs_props
        );
        assert!(
            p.values().all(Value::is_string),
            "hubspot values are strings"
        );
        let close = p["closedate"].as_str().expect("str");
        assert!(close.ends_with("T00:00:00.000Z"), "{close}");
        let v = p["hs_lastmodifieddate"].as_str().expect("str");
        DateTime::parse_from_rfc3339(v).expect("hubspot datetime");
        assert!(v.ends_with('Z') && v.len() == 24, "{v}");
        let prob: f64 = p["hs_deal_stage_probability"]
            .as_str()
            .expect("str")
            .parse()
            .expect("num");
        assert!((0.0..=1.0).contains(&prob));
        assert!(["true", "false"].contains(&p["hs_is_closed_won"].as_str().expect("str")));
        p["amount"]
            .as_str()
            .expect("str")
            .parse::<f64>()
            .expect("amount");
        assert!(r["archived"].is_boolean() && r["updatedAt"].is_string());
        // SPEC 4b: each property's history, newest first, values strings as HubSpot writes them
        let h = r["propertiesWithHistory"].as_object().expect("histories");
        assert_eq!(
            h.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "dealstage",
                "amount",
                "closedate",
                "hs_deal_stage_probability"
            ]
        );
        for (name, list) in h {
            let list = list.as_array().expect("a list");
            assert!(!list.is_empty());
            assert_eq!(list[0]["value"], p[name], "{name}: the newest is the value");
            let stamps: Vec<&str> = list
                .iter()
                .map(|e| {
                    let keys: Vec<&String> = e.as_object().expect("entry").keys().collect();
                    assert_eq!(keys, ["value", "timestamp", "sourceType"]);
                    assert!(e["value"].is_string());
                    let t = e["timestamp"].as_str().expect("timestamp");
                    assert!(t.ends_with('Z') && t.len() == 24, "{t}");
                    t
                })
                .collect();
            assert!(
                stamps.windows(2).all(|w| w[0] > w[1]),
                "{name}: newest first"
            );
            assert!(
                stamps[0] <= v,
                "{name}: no change after hs_lastmodifieddate"
            );
        }
    }
    for r in load(dir, "salesforce", "OpportunityHistory") {
        assert!(r["Amount"].is_number() && r["Probability"].is_number());
        assert!(r["IsDeleted"].is_boolean() && iso_date(s(&r, "CloseDate")));
        for k in ["CreatedDate", "SystemModstamp"] {
            let stamp = s(&r, k);
            assert!(stamp.ends_with(".000+0000"), "{stamp}");
        }
    }
    for r in load(dir, "workday", "Worker_History") {
        assert!(
            r.values().all(Value::is_string),
            "workday values are strings"
        );
        assert!(iso_date(s(&r, "Effective_Date")));
        assert!(currencies.contains(&s(&r, "Cost_Rate_Currency")));
    }
    let ns_date = |v: &str| {
        let parts: Vec<&str> = v.split('/').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.starts_with('0') && p.chars().all(|c| c.is_ascii_digit()))
            && NaiveDate::parse_from_str(v, "%m/%d/%Y").is_ok()
    };
    // currencies: internal ids on customers, jobs and transactions, ISO codes in `symbol`
    let currency_ids: BTreeMap<String, String> = load(dir, "netsuite", "currency")
        .iter()
        .map(|r| (s(r, "id").to_owned(), s(r, "symbol").to_owned()))
        .collect();
    assert_eq!(currency_ids.get("1").map(String::as_str), Some("USD"));
    // a deliberate bad line's transaction is bad too (the CHF expense report)
    let all_lines = load(dir, "netsuite", "transactionline");
    let mut bad = bad.clone();
    for l in &all_lines {
        if bad.contains(s(l, "uniquekey")) {
            bad.insert(s(l, "transaction"));
        }
    }
    for stream in ["customer", "job", "transaction", "transactionline"] {
        for r in load(dir, "netsuite", stream) {
            assert!(r.values().all(Value::is_string), "netsuite/{stream}: {r:?}");
            let key = r.get("uniquekey").unwrap_or(&r["id"]);
            if bad.contains(key.as_str().expect("str")) {
                continue;
            }
            for k in [
                "datecreated",
                "lastmodifieddate",
                "linelastmodifieddate",
                "trandate",
                "startdate",
                "projectedenddate",
            ] {
                if let Some(v) = r.get(k) {
                    assert!(
                        ns_date(v.as_str().expect("str")),
                        "netsuite/{stream}.{k} = {v}"
                    );
                }
            }
            if let Some(c) = r.get("currency") {
                let iso = &currency_ids[c.as_str().expect("str")];
                assert!(
                    currencies.contains(&iso.as_str()),
                    "netsuite/{stream}: {iso}"
                );
            }
        }
    }
    for r in load(dir, "netsuite", "job") {
        assert!(["1", "2", "3", "4", "5", "6"].contains(&s(&r, "entitystatus")));
        assert!(["TM", "FBI", "FBM"].contains(&s(&r, "jobbillingtype")));
        if s(&r, "jobbillingtype") == "FBI" {
            s(&r, "custentity_budget_hours")
                .parse::<f64>()
                .expect("FBI budget hours");
        }
    }
    // NetSuite's ledger: every transaction balances (its lines sum to zero), has one mainline,
    // invoice income lines are negative, expense lines positive, taxlines only on invoices
    let trans = load(dir, "netsuite", "transaction");
    let kind: BTreeMap<&str, &str> = trans.iter().map(|t| (s(t, "id"), s(t, "type"))).collect();
    for t in &trans {
        assert!(["CustInvc", "ExpRept"].contains(&s(t, "type")));
        if s(t, "type") == "CustInvc" {
            assert!(["A", "B", "V"].contains(&s(t, "status")));
        }
    }
    let lines = load(dir, "netsuite", "transactionline");
    let mut cents: BTreeMap<&str, (i64, usize)> = BTreeMap::new();
    for l in &lines {
        let t = s(l, "transaction");
        let k = kind[t];
        let amount: f64 = s(l, "foreignamount").parse().expect("amount");
        let e = cents.entry(t).or_default();
        e.0 += (amount * 100.0).round() as i64;
        assert!(["T", "F"].contains(&s(l, "mainline")) && ["T", "F"].contains(&s(l, "taxline")));
        if s(l, "mainline") == "T" {
            e.1 += 1;
        } else if s(l, "taxline") == "T" {
            assert_eq!(k, "CustInvc");
            assert!(amount < 0.0);
        } else if k == "CustInvc" {
            assert!(amount < 0.0, "an income line is negative: {l:?}");
        } else {
            assert!(amount > 0.0, "an expense line is positive: {l:?}");
        }
    }
    assert_eq!(cents.len(), trans.len(), "every transaction has lines");
    for (t, (sum, mainlines)) in cents {
        assert_eq!((sum, mainlines), (0, 1), "transaction {t} balances");
    }
    for r in load(dir, "kantata", "time_entries") {
        assert!(r["id"].is_string() && r["workspace_id"].is_string() && r["user_id"].is_string());
        assert!(r["time_in_minutes"].is_i64() && r["rate_in_cents"].is_i64());
        assert!(r["billable"].is_boolean() && r["approved"].is_boolean());
        let updated = s(&r, "updated_at");
        let t = DateTime::parse_from_rfc3339(updated).expect("kantata datetime");
        assert!(t.date_naive() <= NaiveDate::from_ymd_opt(2026, 9, 30).expect("date"));
        assert!(
            !updated.contains('.') && !updated.ends_with('Z'),
            "{updated}"
        );
        if !bad.contains(s(&r, "id")) {
            assert!(iso_date(s(&r, "date_performed")));
        }
    }
    for r in load(dir, "kantata", "workspaces") {
        let st = r["status"].as_object().expect("status object");
        assert!(st["key"].is_i64() && st["message"].is_string() && st["color"].is_string());
    }
    for r in load(dir, "kantata", "stories") {
        assert!(["milestone", "task"].contains(&s(&r, "story_type")));
        let state = s(&r, "state");
        assert!(
            [
                "not started",
                "started",
                "completed",
                "accepted",
                "rejected"
            ]
            .contains(&state)
        );
        assert_eq!(state == "accepted", r["accepted_at"].is_string(), "{r:?}");
        if let Some(a) = r["accepted_at"].as_str() {
            DateTime::parse_from_rfc3339(a).expect("accepted_at");
        }
        assert!(r["billing_amount_in_cents"].is_null() || r["billing_amount_in_cents"].is_i64());
    }
    for r in load(dir, "kantata", "workspace_allocations") {
        assert!(r["minutes"].is_i64() && r["hard"].is_boolean());
    }
    for r in load(dir, "kantata", "stories") {
        assert!(r["archived"].is_boolean());
        let deleted = r["deleted_at"].as_str();
        assert!(r["deleted_at"].is_null() || deleted.is_some(), "{r:?}");
        if let Some(d) = deleted {
            DateTime::parse_from_rfc3339(d).expect("deleted_at");
        }
    }
    for r in load(dir, "kantata", "workspaces") {
        assert!(r["archived"].is_boolean());
    }
    for stream in ["Workers", "Time_Off", "Holidays"] {
        for r in load(dir, "workday", stream) {
            assert!(r.values().all(Value::is_string), "workday/{stream}: {r:?}");
        }
    }
    for r in load(dir, "workday", "Workers") {
        assert!(["US", "GB", "DE", "IN", "CA"].contains(&s(&r, "Location_Country")));
        assert!(currencies.contains(&s(&r, "Cost_Rate_Currency")));
        let term = s(&r, "Termination_Date");
        assert!(term.is_empty() || iso_date(term));
        assert!(iso_date(s(&r, "Hire_Date")));
        s(&r, "Hourly_Cost_Rate").parse::<f64>().expect("cost rate");
        s(&r, "Scheduled_Weekly_Hours")
            .parse::<f64>()
            .expect("hours");
    }
    for r in load(dir, "workday", "Time_Off") {
        assert!(["Approved", "Submitted", "Cancelled"].contains(&s(&r, "Status")));
    }
    // Treasury: every month from history_start to three months after as_of, non-USD only.
    let mut months = Vec::new();
    for f in all_files(&dir.join("treasury")) {
        let text = std::fs::read_to_string(dir.join("treasury").join(&f)).expect("csv");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("currency,month,usd_per_unit"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 4, "{}", f.display());
        assert!(rows.iter().all(|r| !r.starts_with("USD,")));
        months.push(f.to_string_lossy().into_owned());
    }
    assert_eq!(
        months.first().map(String::as_str),
        Some("fx_rates_2025-07.csv")
    );
    assert_eq!(
        months.last().map(String::as_str),
        Some("fx_rates_2026-12.csv")
    );
    assert_eq!(months.len(), 18);
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["as_of"], "2026-09-30");
    assert_eq!(manifest["history_start"], "2025-07-01");
}

#[test]
fn cross_system_keys_resolve_except_deliberate_rows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let summary = gen_to(tmp.path(), 0.1, 5, true);
    let dir = tmp.path();
    let bad: BTreeSet<String> = summary.deliberate.iter().map(|d| d.id.clone()).collect();
    assert!(bad.len() >= 15, "{bad:?}");

    let ids = |rs: &[Rec], k: &str| -> BTreeSet<String> {
        rs.iter().map(|r| s(r, k).to_owned()).collect()
    };
    let accounts = load(dir, "salesforce", "Account");
    let opps = load(dir, "salesforce", "Opportunity");
    let deals = load(dir, "hubspot", "deals");
    let customers = load(dir, "netsuite", "customer");
    let jobs = load(dir, "netsuite", "job");
    let workspaces = load(dir, "kantata", "workspaces");
    let users = load(dir, "kantata", "users");
    let workers = load(dir, "workday", "Workers");
    let account_ids = ids(&accounts, "Id");
    let opp_ids = ids(&opps, "Id");
    let deal_ids = ids(&deals, "id");
    let customer_ids = ids(&customers, "id");
    let job_ids = ids(&jobs, "id");
    let job_codes = ids(&jobs, "entityid");
    let ws_ids = ids(&workspaces, "id");
    let user_ids = ids(&users, "id");
    let worker_ids = ids(&workers, "Employee_ID");
    assert_eq!(job_ids.len(), jobs.len(), "job ids unique");
    assert_eq!(job_codes.len(), jobs.len(), "project codes unique");

    for o in &opps {
        assert!(account_ids.contains(s(o, "AccountId")));
        if let Some(p) = o["Parent_Opportunity__c"].as_str() {
            assert!(opp_ids.contains(p));
        }
    }
    for d in &deals {
        let p = d["properties"].as_object().expect("props");
        assert!(customer_ids.contains(p["netsuite_customer_id"].as_str().expect("str")));
        let parent = p["parent_deal_id"].as_str().expect("str");
        assert!(parent.is_empty() || deal_ids.contains(parent));
    }
    let mut sf_linked = 0;
    for c in &customers {
        let sf = s(c, "custentity_sf_account_id");
        if !sf.is_empty() {
            assert!(account_ids.contains(sf));
            sf_linked += 1;
        }
    }
    assert!(sf_linked > 0);
    // Won new business (not deleted/archived) ⇔ a job links to it.
    let mut won_nb = BTreeSet::new();
    for o in &opps {
        if o["IsWon"] == true && o["IsDeleted"] == false && s(o, "Type") == "New Business" {
            won_nb.insert(s(o, "Id").to_owned());
        }
    }
    for d in &deals {
        let p = d["properties"].as_object().expect("props");
        if p["hs_is_closed_won"] == "true"
            && d["archived"] == false
            && p["dealtype"] == "newbusiness"
        {
            won_nb.insert(s(d, "id").to_owned());
        }
    }
    let mut linked = BTreeSet::new();
    for j in &jobs {
        assert!(customer_ids.contains(s(j, "parent")));
        let crm = s(j, "custentity_crm_opportunity_id");
        if !crm.is_empty() {
            assert!(
                won_nb.contains(crm),
                "job {} links to {crm}, not a won new business",
                s(j, "id")
            );
            assert!(linked.insert(crm.to_owned()), "two jobs link to {crm}");
        }
    }
    let unlinked: Vec<_> = won_nb.difference(&linked).collect();
    assert!(
        unlinked.iter().all(|id| bad.contains(*id)),
        "won without project: {unlinked:?}"
    );
    for w in &workspaces {
        let r = s(w, "external_reference");
        assert!(
            job_codes.contains(r) || bad.contains(s(w, "id")),
            "workspace {}",
            s(w, "id")
        );
    }
    let ws_refs: BTreeSet<_> = workspaces
        .iter()
        .map(|w| s(w, "external_reference").to_owned())
        .collect();
    assert!(
        job_codes.iter().all(|c| ws_refs.contains(c)),
        "every job has a workspace"
    );
    for u in &users {
        assert!(worker_ids.contains(s(u, "external_reference")) || bad.contains(s(u, "id")));
    }
    // every income and expense line is on a job: its own entity, else (invoices) the header's
    let headers: BTreeMap<String, Rec> = load(dir, "netsuite", "transaction")
        .into_iter()
        .map(|t| (s(&t, "id").to_owned(), t))
        .collect();
    let mut header_only = 0;
    for l in load(dir, "netsuite", "transactionline") {
        if s(&l, "mainline") == "T" || s(&l, "taxline") == "T" {
            continue;
        }
        let h = &headers[s(&l, "transaction")];
        let job = match s(&l, "entity") {
            "" if s(h, "type") == "CustInvc" => {
                header_only += 1;
                s(h, "entity")
            }
            j => j,
        };
        assert!(job_ids.contains(job), "line {}", s(&l, "uniquekey"));
    }
    assert!(
        header_only > 0,
        "some invoice lines carry the job on the header only"
    );
    let resource_ids: BTreeSet<String> = load(dir, "kantata", "workspace_resources")
        .iter()
        .map(|r| s(r, "id").to_owned())
        .collect();
    for r in load(dir, "kantata", "workspace_allocations") {
        assert!(resource_ids.contains(s(&r, "workspace_resource_id")));
    }
    for stream in ["workspace_resources", "stories"] {
        for r in load(dir, "kantata", stream) {
            assert!(ws_ids.contains(s(&r, "workspace_id")));
            if let Some(u) = r.get("user_id") {
                assert!(user_ids.contains(u.as_str().expect("str")));
            }
        }
    }
    for r in load(dir, "workday", "Time_Off") {
        assert!(worker_ids.contains(s(&r, "Employee_ID")));
    }
    // Time entries: known workspace and user, inside employment, ≤ 24 h a day.
    let user_emp: BTreeMap<&str, &str> = users
        .iter()
        .map(|u| (s(u, "id"), s(u, "external_reference")))
        .collect();
    let employment: BTreeMap<&str, (NaiveDate, Option<NaiveDate>)> = workers
        .iter()
        .map(|w| {
            let hire = NaiveDate::parse_from_str(s(w, "Hire_Date"), "%Y-%m-%d").expect("hire");
            let term = NaiveDate::parse_from_str(s(w, "Termination_Date"), "%Y-%m-%d").ok();
            (s(w, "Employee_ID"), (hire, term))
        })
        .collect();
    let mut day_minutes: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut seen_bad = BTreeSet::new();
    for t in load(dir, "kantata", "time_entries") {
        let id = s(&t, "id");
        if bad.contains(id) {
            seen_bad.insert(id.to_owned());
            continue;
        }
        assert!(ws_ids.contains(s(&t, "workspace_id")), "time entry {id}");
        let emp = user_emp[s(&t, "user_id")];
        let (hire, term) = employment[emp];
        let d = NaiveDate::parse_from_str(s(&t, "date_performed"), "%Y-%m-%d").expect("date");
        assert!(
            d >= hire && term.is_none_or(|x| d <= x),
            "time entry {id} outside employment"
        );
        let m = t["time_in_minutes"].as_i64().expect("int");
        assert!(m > 0 && m <= 24 * 60, "time entry {id}: {m} minutes");
        if t["approved"] == true {
            *day_minutes
                .entry((emp.to_owned(), s(&t, "date_performed").to_owned()))
                .or_default() += m;
        }
    }
    assert!(day_minutes.values().all(|m| *m <= 24 * 60));
    assert_eq!(seen_bad.len(), 12, "every bad time entry is written");
}

#[test]
fn every_lifecycle_value_appears() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    gen_to(dir, COMMITTED_SCALE, COMMITTED_SEED, true);
    let set =
        |rs: &[Rec], f: &dyn Fn(&Rec) -> String| -> BTreeSet<String> { rs.iter().map(f).collect() };
    let words = |x: &str| -> BTreeSet<String> { x.split(',').map(str::to_owned).collect() };
    let opps = load(dir, "salesforce", "Opportunity");
    let deals = load(dir, "hubspot", "deals");
    let jobs = load(dir, "netsuite", "job");
    assert_eq!(
        set(&opps, &|r| s(r, "StageName").to_owned()),
        words(
            "Prospecting,Qualification,Needs Analysis,Value Proposition,Id. Decision Makers,Perception Analysis,Proposal/Price Quote,Negotiation/Review,Closed Won,Closed Lost"
        )
    );
    assert_eq!(
        set(&opps, &|r| s(r, "Type").to_owned()),
        words("New Business,Change Order,Renewal")
    );
    assert_eq!(
        set(&opps, &|r| s(r, "Billing_Type__c").to_owned()),
        words("Time and Materials,Fixed Fee,Milestone")
    );
    assert!(opps.iter().any(|r| r["IsDeleted"] == true));
    let prop = |r: &Rec, k: &str| r["properties"][k].as_str().expect("str").to_owned();
    assert_eq!(
        set(&deals, &|r| prop(r, "dealstage")),
        words(
            "appointmentscheduled,qualifiedtobuy,presentationscheduled,decisionmakerboughtin,contractsent,closedwon,closedlost"
        )
    );
    assert_eq!(
        set(&deals, &|r| prop(r, "dealtype")),
        words("newbusiness,changeorder,renewal")
    );
    assert!(deals.iter().any(|r| r["archived"] == true));
    assert_eq!(
        set(&jobs, &|r| s(r, "entitystatus").to_owned()),
        words("1,2,3,4,5,6")
    );
    // Every billing type on projects from each CRM.
    let sf_ids = set(&opps, &|r| s(r, "Id").to_owned());
    for from_sf in [true, false] {
        let types = jobs
            .iter()
            .filter(|j| {
                let crm = s(j, "custentity_crm_opportunity_id");
                !crm.is_empty() && sf_ids.contains(crm) == from_sf
            })
            .map(|j| s(j, "jobbillingtype").to_owned())
            .collect::<BTreeSet<_>>();
        assert_eq!(types, words("TM,FBI,FBM"), "from salesforce: {from_sf}");
    }
    let inv: Vec<Rec> = load(dir, "netsuite", "transaction")
        .into_iter()
        .filter(|t| s(t, "type") == "CustInvc")
        .collect();
    assert_eq!(set(&inv, &|r| s(r, "status").to_owned()), words("A,B,V"));
    let to = load(dir, "workday", "Time_Off");
    assert_eq!(
        set(&to, &|r| s(r, "Status").to_owned()),
        words("Approved,Submitted,Cancelled")
    );
    let stories = load(dir, "kantata", "stories");
    assert_eq!(
        set(&stories, &|r| s(r, "state").to_owned()),
        words("not started,started,completed,accepted,rejected")
    );
    assert_eq!(
        set(&stories, &|r| s(r, "story_type").to_owned()),
        words("milestone,task")
    );
    assert!(stories.iter().any(|r| r["story_type"] == "milestone"
        && r["billing_amount_in_cents"].is_i64()
        && r["state"] == "accepted"));
    assert!(stories.iter().any(|r| r["story_type"] == "milestone"
        && r["billing_amount_in_cents"].is_i64()
        && r["state"] != "accepted"));
    let alloc = load(dir, "kantata", "workspace_allocations");
    for hard in [true, false] {
        assert!(
            alloc
                .iter()
                .any(|r| r["hard"] == hard && s(r, "start_date") > "2026-12-20"),
            "a hard={hard} allocation 12 weeks after as_of"
        );
    }
    // closed projects' workspaces archived, with their time; a deleted milestone story
    let archived: BTreeSet<String> = load(dir, "kantata", "workspaces")
        .iter()
        .filter(|w| w["archived"] == true)
        .map(|w| s(w, "id").to_owned())
        .collect();
    assert!(!archived.is_empty(), "archived workspaces");
    assert!(
        load(dir, "kantata", "time_entries")
            .iter()
            .any(|t| archived.contains(s(t, "workspace_id"))),
        "time on an archived workspace"
    );
    assert!(stories.iter().any(|r| r["archived"] == true));
    assert!(stories.iter().any(|r| r["story_type"] == "milestone"
        && r["state"] == "accepted"
        && r["billing_amount_in_cents"].is_i64()
        && r["deleted_at"].is_string()));
    let te = load(dir, "kantata", "time_entries");
    assert!(te.iter().any(|r| r["approved"] == false));
    assert!(te.iter().any(|r| r["billable"] == false));
    assert!(te.iter().any(|r| {
        NaiveDate::parse_from_str(s(r, "date_performed"), "%Y-%m-%d")
            .is_ok_and(|d| d.weekday().number_from_monday() > 5)
    }));
    let workers = load(dir, "workday", "Workers");
    assert!(
        workers
            .iter()
            .any(|w| s(w, "Worker_Type") == "Contingent Worker")
    );
    assert!(
        workers
            .iter()
            .any(|w| ["20", "24", "32"].contains(&s(w, "Scheduled_Weekly_Hours")))
    );
    assert!(workers.iter().any(|w| s(w, "Hire_Date") > "2025-07-01"));
    assert!(workers.iter().any(|w| !s(w, "Termination_Date").is_empty()));
    assert_eq!(
        set(&workers, &|r| s(r, "Location_Country").to_owned()),
        words("US,GB,DE,IN,CA")
    );
    let holidays = load(dir, "workday", "Holidays");
    assert_eq!(
        set(&holidays, &|r| s(r, "Country").to_owned()),
        words("US,GB,DE,IN,CA")
    );
}

#[test]
fn scale_one_size_utilization_and_margin() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let summary = gen_to(dir, 1.0, 11, false);
    assert!(summary.deliberate.is_empty());
    let n = summary
        .records("kantata", "time_entries")
        .expect("time entries");
    assert!(
        (70_000..=90_000).contains(&n),
        "{n} time entries at scale 1"
    );
    assert!((180..=220).contains(&summary.headcount));

    let workers = load(dir, "workday", "Workers");
    let users = load(dir, "kantata", "users");
    let holidays = load(dir, "workday", "Holidays");
    let time_off = load(dir, "workday", "Time_Off");
    let user_emp: BTreeMap<String, String> = users
        .iter()
        .map(|u| (s(u, "id").to_owned(), s(u, "external_reference").to_owned()))
        .collect();
    let hol: BTreeSet<(String, String)> = holidays
        .iter()
        .map(|h| (s(h, "Country").to_owned(), s(h, "Date").to_owned()))
        .collect();
    let mut off: BTreeMap<(String, String), f64> = BTreeMap::new();
    for t in &time_off {
        if s(t, "Status") == "Approved" {
            *off.entry((s(t, "Employee_ID").to_owned(), s(t, "Date").to_owned()))
                .or_default() += s(t, "Hours").parse::<f64>().expect("hours");
        }
    }
    let fx = |c: &str| match c {
        "GBP" => 1.27,
        "EUR" => 1.09,
        "INR" => 0.0119,
        "CAD" => 0.735,
        _ => 1.0,
    };
    let cost: BTreeMap<String, f64> = workers
        .iter()
        .map(|w| {
            let rate: f64 = s(w, "Hourly_Cost_Rate").parse().expect("rate");
            (
                s(w, "Employee_ID").to_owned(),
                rate * fx(s(w, "Cost_Rate_Currency")),
            )
        })
        .collect();
    let week = |d: NaiveDate| d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let mut billable: BTreeMap<(String, NaiveDate), f64> = BTreeMap::new();
    let mut revenue: BTreeMap<String, f64> = BTreeMap::new();
    let mut labour: BTreeMap<String, f64> = BTreeMap::new();
    for t in load(dir, "kantata", "time_entries") {
        if t["approved"] != true {
            continue;
        }
        let emp = user_emp[s(&t, "user_id")].clone();
        let d = NaiveDate::parse_from_str(s(&t, "date_performed"), "%Y-%m-%d").expect("date");
        let h = t["time_in_minutes"].as_i64().expect("int") as f64 / 60.0;
        let ws = s(&t, "workspace_id").to_owned();
        *labour.entry(ws.clone()).or_default() += h * cost[&emp];
        if t["billable"] == true {
            *billable.entry((emp, week(d))).or_default() += h;
            let rate = t["rate_in_cents"].as_i64().expect("int") as f64 / 100.0;
            *revenue.entry(ws).or_default() += h * rate * fx(s(&t, "currency"));
        }
    }
    let (hs, as_of) = (
        NaiveDate::from_ymd_opt(2025, 7, 1).expect("date"),
        NaiveDate::from_ymd_opt(2026, 9, 30).expect("date"),
    );
    let mut utils = Vec::new();
    for w in workers.iter().filter(|w| s(w, "Worker_Type") == "Employee") {
        let id = s(w, "Employee_ID");
        let country = s(w, "Location_Country").to_owned();
        let hire = NaiveDate::parse_from_str(s(w, "Hire_Date"), "%Y-%m-%d").expect("hire");
        let term = NaiveDate::parse_from_str(s(w, "Termination_Date"), "%Y-%m-%d").unwrap_or(as_of);
        let day_hours: f64 = s(w, "Scheduled_Weekly_Hours")
            .parse::<f64>()
            .expect("hours")
            / 5.0;
        let mut capacity: BTreeMap<NaiveDate, f64> = BTreeMap::new();
        let mut d = hire.max(hs);
        while d <= term.min(as_of) {
            let key = d.format("%Y-%m-%d").to_string();
            if d.weekday().number_from_monday() <= 5
                && !hol.contains(&(country.clone(), key.clone()))
            {
                let taken = off
                    .get(&(id.to_owned(), key))
                    .copied()
                    .unwrap_or(0.0)
                    .min(day_hours);
                *capacity.entry(week(d)).or_default() += day_hours - taken;
            }
            d += Duration::days(1);
        }
        for (wk, cap) in capacity {
            if cap > 0.0 {
                utils.push(billable.get(&(id.to_owned(), wk)).copied().unwrap_or(0.0) / cap);
            }
        }
    }
    utils.sort_by(f64::total_cmp);
    let median = utils[utils.len() / 2];
    assert!(
        (0.55..=0.85).contains(&median),
        "median weekly billable utilization {median}"
    );
    let mut margins: Vec<f64> = revenue
        .iter()
        .filter(|(_, r)| **r > 5_000.0)
        .map(|(ws, r)| (r - labour.get(ws).copied().unwrap_or(0.0)) / r)
        .collect();
    margins.sort_by(f64::total_cmp);
    let median = margins[margins.len() / 2];
    assert!(
        (0.20..=0.50).contains(&median),
        "median T&M-rate project margin {median}"
    );
    let in_range = margins.iter().filter(|m| (0.2..=0.5).contains(*m)).count() as f64;
    assert!(
        in_range / margins.len() as f64 > 0.7,
        "most project margins within 20-50%"
    );
}
