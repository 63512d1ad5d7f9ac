//! The vendor-API sandbox over hand-written fixture directories (and the committed `fixtures/`
//! when present): paging every stream, incremental filters, auth failures, fault shapes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use pslake_sandbox::layout::STREAMS;
use pslake_sandbox::server::{
    Credentials, FaultKind, FaultSpec, RunningSandbox, Sandbox, SandboxConfig,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const V: &str = "v62.0";

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

/// A fixture directory written by the test, with the records it wrote.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) fn write_jsonl(dir: &Path, system: &str, stream: &str, records: &[Value]) {
    let d = dir.join(system);
    std::fs::create_dir_all(&d).expect("mkdir");
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("json"));
        text.push('\n');
    }
    std::fs::write(d.join(format!("{stream}.jsonl")), text).expect("write");
}

pub(crate) fn sf_stamp(i: usize) -> String {
    (base_time() + chrono::Duration::minutes(i as i64 * 53))
        .format("%Y-%m-%dT%H:%M:%S.000+0000")
        .to_string()
}

fn kantata_stamp(i: usize) -> String {
    let t = base_time() + chrono::Duration::minutes(i as i64 * 37);
    let off = if i.is_multiple_of(2) { -5 * 3600 } else { 3600 };
    let tz = FixedOffset::east_opt(off).expect("offset");
    t.with_timezone(&tz).to_rfc3339()
}

fn ns_date(i: usize) -> String {
    format!("{}/{}/2026", 1 + (i / 28) % 12, 1 + i % 28)
}

fn accounts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"Id": format!("001SB{:013}", (n - i) * 7), "Name": format!("Account {i}"), "Industry": "Technology",
                "BillingCountry": "US", "CurrencyIsoCode": "USD", "IsDeleted": i % 10 == 3, "SystemModstamp": sf_stamp(i)})
        })
        .collect()
}

pub(crate) fn opportunities(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"Id": format!("006SB{:013}", i * 13 + 5), "AccountId": format!("001SB{:013}", 7), "Name": format!("Opp {i}"),
                "StageName": "Closed Won", "Amount": 1000 + i, "CurrencyIsoCode": "EUR", "CloseDate": "2026-03-02",
                "Probability": 100, "Type": "New Business", "IsClosed": true, "IsWon": true, "IsDeleted": i % 17 == 0,
                "Billing_Type__c": "Fixed Fee", "Practice__c": "Data", "Estimated_Hours__c": 120, "Start_Date__c": "2026-03-01",
                "End_Date__c": "2026-06-30", "Parent_Opportunity__c": null, "SystemModstamp": sf_stamp((i * 7) % n)})
        })
        .collect()
}

/// `OpportunityHistory` rows: three per opportunity of [`opportunities`], some deleted.
pub(crate) fn opportunity_history(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let stage = ["Prospecting", "Proposal/Price Quote", "Closed Won"][i % 3];
            let probability = [10, 75, 100][i % 3];
            json!({"Id": format!("008SB{:013}", (n - i) * 11), "OpportunityId": format!("006SB{:013}", (i / 3) * 13 + 5),
                "StageName": stage, "Amount": 1000 + i,
                "Probability": probability, "CloseDate": "2026-03-02", "CreatedDate": sf_stamp((i * 5) % n),
                "IsDeleted": i % 19 == 0, "SystemModstamp": sf_stamp((i * 5) % n)})
        })
        .collect()
}

pub(crate) fn deals(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let id = (18_000_000_000u64 + (n - i) as u64 * 3).to_string();
            let modified = (base_time() + chrono::Duration::hours(i as i64))
                .format("%Y-%m-%dT%H:%M:%S.000Z")
                .to_string();
            let mut d = json!({"id": id, "properties": {"dealname": format!("Deal {i}"), "dealstage": "closedwon", "amount": "100.00",
                "deal_currency_code": "USD", "closedate": "2026-03-23T00:00:00.000Z", "hs_is_closed_won": "true",
                "hs_deal_stage_probability": "1", "dealtype": "newbusiness", "billing_type": "fixed_fee", "practice": "Data",
                "estimated_hours": "10", "start_date": "2026-03-01", "end_date": "2026-04-01", "parent_deal_id": "",
                "netsuite_customer_id": "1", "hs_lastmodifieddate": modified},
                "archived": i % 9 == 4, "updatedAt": modified});
            if i % 9 == 4 {
                d["archivedAt"] = json!(modified);
            }
            d
        })
        .collect()
}

pub(crate) fn ns_rows(n: usize, stream: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let id = (n - i + 100).to_string();
            match stream {
                "customer" => json!({"links": [], "id": id, "entityid": format!("C{i}"), "companyname": "Co",
                    "custentity_sf_account_id": "", "currency": "1", "lastmodifieddate": ns_date(i)}),
                "job" => json!({"id": id, "entityid": format!("PRJ-{i:05}"), "companyname": "Co", "parent": "101",
                    "entitystatus": "2", "jobbillingtype": "TM", "startdate": "3/1/2026", "projectedenddate": "6/1/2026",
                    "currency": "1", "custentity_crm_opportunity_id": "", "custentity_budget_hours": "100",
                    "custentity_practice": "Data", "lastmodifieddate": ns_date(i)}),
                "currency" => json!({"id": id, "symbol": format!("C{i:02}"), "name": format!("Currency {i}")}),
                "transaction" => json!({"links": [], "id": id, "tranid": format!("INV{i}"),
                    "type": if i % 3 == 0 { "ExpRept" } else { "CustInvc" }, "trandate": "3/1/2026",
                    "entity": "101", "status": "A", "currency": "101", "lastmodifieddate": ns_date(i)}),
                // 300 transactions (ids 101..=400): each line belongs to one of them
                _ => json!({"uniquekey": id, "id": (i % 3).to_string(), "transaction": (101 + i % 300).to_string(),
                    "mainline": if i % 3 == 0 { "T" } else { "F" }, "taxline": "F", "entity": "101",
                    "foreignamount": format!("-{}.50", i % 97), "memo": "Travel", "linelastmodifieddate": ns_date(i)}),
            }
        })
        .collect()
}

fn kantata_rows(n: usize, resource: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            // Ids descend through 2-, 3- and 4-digit values: numeric order differs from text order.
            let id = (n - i + 8).to_string();
            match resource {
                "time_entries" => json!({"id": id, "workspace_id": "1", "user_id": "2", "date_performed": "2026-03-02",
                    "time_in_minutes": 60 + i % 400, "billable": i % 3 != 0, "approved": i % 5 != 0, "rate_in_cents": 15000,
                    "currency": "USD", "notes": format!("note \"{i}\" é"), "updated_at": kantata_stamp(i)}),
                _ => json!({"id": id, "title": format!("{resource} {i}"), "updated_at": kantata_stamp(i)}),
            }
        })
        .collect()
}

fn workday_rows(n: usize, report: &str) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"Employee_ID": format!("E{i:04}"), "Report": report, "Hours": "8"}))
        .collect()
}

/// Sizes: enough records to force many pages at the smallest page sizes.
fn expected(stream: &str) -> Vec<Value> {
    match stream {
        "Account" => accounts(450),
        "Opportunity" => opportunities(950),
        "deals" => deals(260),
        "customer" => ns_rows(120, "customer"),
        "job" => ns_rows(130, "job"),
        "currency" => ns_rows(5, "currency"),
        "transaction" => ns_rows(300, "transaction"),
        "transactionline" => ns_rows(2600, "transactionline"),
        "time_entries" => kantata_rows(1234, "time_entries"),
        "workspaces" => kantata_rows(30, "workspaces"),
        "users" => kantata_rows(25, "users"),
        "workspace_resources" => kantata_rows(40, "workspace_resources"),
        "workspace_allocations" => kantata_rows(50, "workspace_allocations"),
        "stories" => kantata_rows(0, "stories"),
        "Workers" => workday_rows(20, "Workers"),
        "Time_Off" => workday_rows(15, "Time_Off"),
        "Holidays" => workday_rows(10, "Holidays"),
        "Worker_History" => workday_rows(12, "Worker_History"),
        "OpportunityHistory" => opportunity_history(430),
        other => panic!("unknown stream {other}"),
    }
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    for s in STREAMS {
        write_jsonl(dir.path(), s.system, s.stream, &expected(s.stream));
    }
    let t = dir.path().join("treasury");
    std::fs::create_dir_all(&t).expect("mkdir");
    std::fs::write(
        t.join("fx_rates_2026-01.csv"),
        "currency,month,usd_per_unit\nEUR,2026-01,1.08\n",
    )
    .expect("write");
    std::fs::write(
        t.join("fx_rates_2026-02.csv"),
        "currency,month,usd_per_unit\nEUR,2026-02,1.09\n",
    )
    .expect("write");
    std::fs::write(t.join("notes.txt"), "not a rate file").expect("write");
    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"as_of":"2026-03-31","history_start":"2025-01-01","generator":"test"}"#,
    )
    .expect("write");
    Fixture { dir }
}

pub(crate) async fn start(dir: &Path, faults: Option<&str>) -> RunningSandbox {
    let mut config = SandboxConfig::new(dir);
    config.faults = faults.map(|f| FaultSpec::parse(f).expect("valid faults"));
    Sandbox::start(config).await.expect("sandbox starts")
}

pub(crate) fn client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub(crate) fn ids(records: &[Value], key: &str) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

pub(crate) fn sorted_ids(records: &[Value], key: &str) -> Vec<String> {
    let mut v = ids(records, key);
    v.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    v
}

// ---- per-vendor paging clients ----

pub(crate) async fn sf_token(c: &Client, base: &str) -> String {
    let creds = Credentials::default();
    let r = c
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds.salesforce_client_id.as_str()),
            ("client_secret", creds.salesforce_client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["instance_url"], base);
    v["access_token"].as_str().expect("token").to_string()
}

/// Follow `nextRecordsUrl`; returns the records (without `attributes`) and the page count.
pub(crate) async fn sf_all(
    c: &Client,
    base: &str,
    token: &str,
    endpoint: &str,
    soql: &str,
    batch: usize,
) -> (Vec<Value>, usize) {
    let mut url = format!("{base}/services/data/{V}/{endpoint}");
    let mut first = true;
    let mut out = Vec::new();
    let mut pages = 0;
    let mut total = None;
    loop {
        let mut req = c
            .get(&url)
            .bearer_auth(token)
            .header("Sforce-Query-Options", format!("batchSize={batch}"));
        if first {
            req = req.query(&[("q", soql)]);
        }
        let r = req.send().await.expect("query");
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert!(
            r.headers()["sforce-limit-info"]
                .to_str()
                .expect("ascii")
                .starts_with("api-usage=")
        );
        let v: Value = r.json().await.expect("json");
        pages += 1;
        let t = v["totalSize"].as_u64().expect("totalSize");
        assert_eq!(*total.get_or_insert(t), t);
        for mut rec in v["records"].as_array().expect("records").clone() {
            let obj = rec.as_object_mut().expect("object");
            let attrs = obj.shift_remove("attributes").expect("attributes first");
            assert!(
                attrs["url"]
                    .as_str()
                    .expect("url")
                    .ends_with(obj["Id"].as_str().expect("Id"))
            );
            out.push(rec);
        }
        if v["done"] == true {
            assert!(v.get("nextRecordsUrl").is_none());
            break;
        }
        url = format!(
            "{base}{}",
            v["nextRecordsUrl"].as_str().expect("nextRecordsUrl")
        );
        first = false;
    }
    assert_eq!(total, Some(out.len() as u64));
    (out, pages)
}

pub(crate) async fn hubspot_list(
    c: &Client,
    base: &str,
    archived: bool,
    props: &str,
    limit: usize,
) -> (Vec<Value>, usize) {
    let token = Credentials::default().hubspot_token;
    let mut after: Option<String> = None;
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("limit", limit.to_string()),
            ("archived", archived.to_string()),
            ("properties", props.to_string()),
        ];
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let r = c
            .get(format!("{base}/crm/v3/objects/deals"))
            .bearer_auth(&token)
            .query(&q)
            .send()
            .await
            .expect("list");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        pages += 1;
        out.extend(v["results"].as_array().expect("results").iter().cloned());
        match v.get("paging") {
            None => break,
            Some(p) => {
                assert!(p["next"]["link"].as_str().expect("link").starts_with(base));
                after = Some(p["next"]["after"].as_str().expect("after").to_string());
            }
        }
    }
    (out, pages)
}

pub(crate) async fn hubspot_search(c: &Client, base: &str, mut body: Value) -> (Vec<Value>, u64) {
    let token = Credentials::default().hubspot_token;
    let mut out = Vec::new();
    loop {
        let r = c
            .post(format!("{base}/crm/v3/objects/deals/search"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("search");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        let total = v["total"].as_u64().expect("total");
        out.extend(v["results"].as_array().expect("results").iter().cloned());
        match v["paging"]["next"]["after"].as_str() {
            None => return (out, total),
            Some(a) => body["after"] = json!(a),
        }
    }
}

pub(crate) async fn netsuite_all(
    c: &Client,
    base: &str,
    q: &str,
    limit: usize,
) -> (Vec<Value>, usize) {
    let token = Credentials::default().netsuite_token;
    let mut offset = 0;
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let r = c
            .post(format!(
                "{base}/services/rest/query/v1/suiteql?limit={limit}&offset={offset}"
            ))
            .bearer_auth(&token)
            .header("Prefer", "transient")
            .json(&json!({ "q": q }))
            .send()
            .await
            .expect("suiteql");
        let status = r.status();
        let v: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{q}: {v}");
        pages += 1;
        let items = v["items"].as_array().expect("items");
        assert_eq!(v["count"].as_u64(), Some(items.len() as u64));
        assert_eq!(v["offset"].as_u64(), Some(offset as u64));
        let rels: Vec<&str> = v["links"]
            .as_array()
            .expect("links")
            .iter()
            .map(|l| l["rel"].as_str().expect("rel"))
            .collect();
        assert!(rels.contains(&"self"));
        assert_eq!(rels.contains(&"next"), v["hasMore"] == true);
        out.extend(items.iter().cloned());
        if v["hasMore"] != true {
            assert_eq!(v["totalResults"].as_u64(), Some(out.len() as u64));
            break;
        }
        offset += limit;
    }
    (out, pages)
}

async fn kantata_all(
    c: &Client,
    base: &str,
    resource: &str,
    per_page: usize,
    updated_after: Option<&str>,
) -> (Vec<Value>, usize) {
    kantata_all_with(c, base, resource, per_page, updated_after, &[]).await
}

/// Every archived and deleted record asked for, as the demo pipeline does (SPEC section 2).
const KANTATA_EVERYTHING: &[(&str, &str)] = &[
    ("include_archived", "true"),
    ("from_archived_workspaces", "true"),
    ("show_archived", "true"),
    ("show_deleted", "true"),
];

async fn kantata_all_with(
    c: &Client,
    base: &str,
    resource: &str,
    per_page: usize,
    updated_after: Option<&str>,
    flags: &[(&str, &str)],
) -> (Vec<Value>, usize) {
    let token = Credentials::default().kantata_token;
    let mut page = 1;
    let mut out = Vec::new();
    loop {
        let mut q = vec![
            ("page", page.to_string()),
            ("per_page", per_page.to_string()),
        ];
        q.extend(flags.iter().map(|&(k, v)| (k, v.to_string())));
        if let Some(u) = updated_after {
            q.push(("updated_after", u.to_string()));
        }
        let r = c
            .get(format!("{base}/api/v1/{resource}.json"))
            .bearer_auth(&token)
            .query(&q)
            .send()
            .await
            .expect("kantata");
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.expect("body");
        let v: Value = serde_json::from_str(&text).expect("json");
        for res in v["results"].as_array().expect("results") {
            assert_eq!(res["key"], resource);
            let id = res["id"].as_str().expect("id");
            out.push(v[resource][id].clone());
        }
        let page_count = v["meta"]["page_count"].as_u64().expect("page_count") as usize;
        assert_eq!(v["meta"]["page_number"].as_u64(), Some(page as u64));
        assert_eq!(v["count"], v["meta"]["count"]);
        if page >= page_count {
            assert_eq!(v["count"].as_u64(), Some(out.len() as u64));
            return (out, page_count);
        }
        page += 1;
    }
}

pub(crate) async fn workday_report(c: &Client, base: &str, report: &str) -> Vec<Value> {
    let creds = Credentials::default();
    let r = c
        .get(format!(
            "{base}/ccx/service/customreport2/acme/ISU_pslake/{report}?format=json"
        ))
        .basic_auth(&creds.workday_user, Some(&creds.workday_password))
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    v["Report_Entry"].as_array().expect("Report_Entry").clone()
}

const SF_ACCOUNT_FIELDS: &str =
    "Id, Name, Industry, BillingCountry, CurrencyIsoCode, IsDeleted, SystemModstamp";
const SF_OPP_FIELDS: &str = "Id, AccountId, Name, StageName, Amount, CurrencyIsoCode, CloseDate, Probability, Type, IsClosed, IsWon, IsDeleted, Billing_Type__c, Practice__c, Estimated_Hours__c, Start_Date__c, End_Date__c, Parent_Opportunity__c, SystemModstamp";
pub(crate) const SF_HISTORY_FIELDS: &str = "Id, OpportunityId, StageName, Amount, Probability, CloseDate, CreatedDate, IsDeleted, SystemModstamp";
pub(crate) const HS_PROPS: &str = "dealname,dealstage,amount,deal_currency_code,closedate,hs_is_closed_won,hs_deal_stage_probability,dealtype,billing_type,practice,estimated_hours,start_date,end_date,parent_deal_id,netsuite_customer_id,hs_lastmodifieddate";

/// The keys of `part(record)` over all records, in first-seen order.
fn union_keys(records: &[Value], part: impl Fn(&Value) -> Value) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in records {
        if let Value::Object(o) = part(r) {
            for k in o.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

fn with_links(v: &Value) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("links".into(), json!([]));
    for (k, val) in v.as_object().expect("object") {
        o.insert(k.clone(), val.clone());
    }
    Value::Object(o)
}

/// The NetSuite item served for fixture record `e`: `"links":[]` first, then the fixture's
/// members; an empty value of a typed column (an id, a number, a date) is NULL, which NetSuite
/// leaves out, and a record's members come in the table's column order (`served` shows it).
fn ns_served(e: &Value, served: &Value) -> Value {
    let fixture = with_links(e);
    let mut o = serde_json::Map::new();
    for k in served.as_object().expect("object").keys() {
        if let Some(v) = fixture.get(k) {
            o.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in fixture.as_object().expect("object") {
        if !o.contains_key(k) {
            assert_eq!(v, &json!(""), "only an empty value is left out ({k})");
        }
    }
    Value::Object(o)
}

/// The HubSpot deals the sandbox over `dir` serves of the fixture records `exp`: archived deals
/// carry `archivedAt` (else their `updatedAt` stands in), and those archived more than 90 days
/// before the manifest's `as_of` are purged.
fn hubspot_served(dir: &Path, exp: Vec<Value>) -> Vec<Value> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest json");
    let as_of =
        chrono::NaiveDate::parse_from_str(manifest["as_of"].as_str().expect("as_of"), "%Y-%m-%d")
            .expect("as_of date");
    let purge_before =
        as_of.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - chrono::Duration::days(90);
    exp.into_iter()
        .filter_map(|mut d| {
            // property histories come only to a request that asks for them
            d.as_object_mut()
                .expect("a deal")
                .shift_remove("propertiesWithHistory");
            if d["archived"] != json!(true) {
                return Some(d);
            }
            if d.get("archivedAt").is_none() {
                d["archivedAt"] = d["updatedAt"].clone();
            }
            let at = DateTime::parse_from_rfc3339(d["archivedAt"].as_str().expect("archivedAt"))
                .expect("archivedAt datetime");
            (at >= purge_before).then_some(d)
        })
        .collect()
}

/// Page every stream of the sandbox over `dir` and compare with `expect(stream)`: ids and counts,
/// and (when `exact`) every record byte for byte after reserialization.
async fn page_everything(dir: &Path, expect: impl Fn(&str) -> Vec<Value>, small: bool) {
    let sb = start(dir, None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    for s in STREAMS {
        let exp = expect(s.stream);
        let (got, id_key): (Vec<Value>, &str) = match s.system {
            "salesforce" => {
                let fields = union_keys(&exp, |r| r.clone());
                let fields = if !fields.is_empty() {
                    fields.join(", ")
                } else if s.stream == "Account" {
                    SF_ACCOUNT_FIELDS.to_string()
                } else if s.stream == "OpportunityHistory" {
                    SF_HISTORY_FIELDS.to_string()
                } else {
                    SF_OPP_FIELDS.to_string()
                };
                let (recs, pages) = sf_all(
                    &c,
                    &base,
                    &token,
                    "queryAll",
                    &format!("SELECT {fields} FROM {}", s.stream),
                    200,
                )
                .await;
                assert!(pages >= recs.len().div_ceil(200), "{pages} pages");
                (recs, "Id")
            }
            "hubspot" => {
                let props = union_keys(&exp, |r| r["properties"].clone()).join(",");
                let props = if props.is_empty() {
                    HS_PROPS
                } else {
                    props.as_str()
                };
                let (live, _) =
                    hubspot_list(&c, &base, false, props, if small { 7 } else { 100 }).await;
                let (archived, _) =
                    hubspot_list(&c, &base, true, props, if small { 7 } else { 100 }).await;
                assert!(live.iter().all(|d| d["archived"] == false));
                assert!(archived.iter().all(|d| d["archived"] == true));
                let mut all = live;
                all.extend(archived);
                (all, "id")
            }
            "netsuite" => {
                let key = if s.stream == "transactionline" {
                    "uniquekey"
                } else {
                    "id"
                };
                let (items, _) = netsuite_all(
                    &c,
                    &base,
                    &format!("SELECT * FROM {} ORDER BY {key}", s.stream),
                    if small { 50 } else { 1000 },
                )
                .await;
                (items, key)
            }
            "kantata" => {
                let (recs, pages) = kantata_all_with(
                    &c,
                    &base,
                    s.stream,
                    if small { 17 } else { 200 },
                    None,
                    KANTATA_EVERYTHING,
                )
                .await;
                assert_eq!(pages, exp.len().div_ceil(if small { 17 } else { 200 }));
                (recs, "id")
            }
            _ => {
                let recs = workday_report(&c, &base, s.stream).await;
                assert_eq!(recs, exp, "{} in file order", s.stream);
                continue;
            }
        };
        let exp = if s.system == "hubspot" {
            hubspot_served(dir, exp)
        } else {
            exp
        };
        assert_eq!(got.len(), exp.len(), "{}/{} count", s.system, s.stream);
        assert_eq!(
            sorted_ids(&got, id_key),
            sorted_ids(&exp, id_key),
            "{}/{} ids",
            s.system,
            s.stream
        );
        if s.system != "hubspot" {
            assert_eq!(
                ids(&got, id_key),
                sorted_ids(&exp, id_key),
                "{}/{} in id order",
                s.system,
                s.stream
            );
        }
        // Byte-for-byte: every served record equals its fixture record (NetSuite adds links).
        let mut by_id = std::collections::HashMap::new();
        for e in &exp {
            by_id.insert(ids(std::slice::from_ref(e), id_key).remove(0), e.clone());
        }
        for g in &got {
            let id = ids(std::slice::from_ref(g), id_key).remove(0);
            let e = &by_id[&id];
            let e = if s.system == "netsuite" {
                ns_served(e, g)
            } else {
                e.clone()
            };
            assert_eq!(
                serde_json::to_string(g).expect("json"),
                serde_json::to_string(&e).expect("json"),
                "{}/{} record {id}",
                s.system,
                s.stream
            );
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn pages_every_stream_of_a_hand_written_fixture_dir() {
    let fx = fixture();
    page_everything(fx.dir.path(), expected, true).await;
}

#[tokio::test]
async fn kantata_pages_are_the_fixture_bytes() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let r = client()
        .get(format!("{base}/api/v1/time_entries.json?page=2&per_page=3"))
        .bearer_auth(Credentials::default().kantata_token)
        .send()
        .await
        .expect("send");
    let text = r.text().await.expect("body");
    // Ids 9..=1242 in id order: page 2 of 3 holds 12, 13, 14.
    let line =
        std::fs::read_to_string(fx.dir.path().join("kantata/time_entries.jsonl")).expect("read");
    let raw13 = line
        .lines()
        .find(|l| l.starts_with(r#"{"id":"13","#))
        .expect("line");
    assert!(text.starts_with(r#"{"count":1234,"results":[{"key":"time_entries","id":"12"},{"key":"time_entries","id":"13"},{"key":"time_entries","id":"14"}],"time_entries":{"12":"#), "{text}");
    assert!(text.contains(&format!(r#""13":{raw13}"#)));
    assert!(
        text.ends_with(r#""meta":{"count":1234,"page_count":412,"page_number":2,"page_size":3}}"#),
        "{text}"
    );
    sb.shutdown().await;
}

/// SPEC section 2: Kantata clamps a `per_page` above 200 to 200 without an error, and leaves
/// out archived workspaces, their time entries, and archived or deleted stories unless the
/// request asks (`include_archived`, `from_archived_workspaces`, `show_archived`,
/// `show_deleted`).
#[tokio::test]
async fn kantata_clamps_per_page_and_hides_archived_and_deleted_unless_asked() {
    let fx = fixture();
    let dir = fx.dir.path();
    let stamp = |i: usize| kantata_stamp(i);
    write_jsonl(
        dir,
        "kantata",
        "workspaces",
        &[
            json!({"id": "11", "title": "open", "archived": false, "updated_at": stamp(1)}),
            json!({"id": "12", "title": "closed", "archived": true, "updated_at": stamp(2)}),
            json!({"id": "13", "title": "no flag", "updated_at": stamp(3)}),
        ],
    );
    let mut entries = kantata_rows(1234, "time_entries");
    for (i, e) in entries.iter_mut().enumerate() {
        // every third entry is on the archived workspace 12, the rest on 11 and 13
        e["workspace_id"] = json!(["12", "11", "13"][i % 3]);
    }
    write_jsonl(dir, "kantata", "time_entries", &entries);
    let on_archived = entries.iter().filter(|e| e["workspace_id"] == "12").count();
    write_jsonl(
        dir,
        "kantata",
        "stories",
        &[
            json!({"id": "21", "workspace_id": "11", "archived": false, "deleted_at": null, "updated_at": stamp(1)}),
            json!({"id": "22", "workspace_id": "12", "archived": true, "deleted_at": null, "updated_at": stamp(2)}),
            json!({"id": "23", "workspace_id": "11", "archived": false, "deleted_at": stamp(3), "updated_at": stamp(3)}),
            json!({"id": "24", "workspace_id": "12", "archived": true, "deleted_at": stamp(4), "updated_at": stamp(4)}),
            json!({"id": "25", "workspace_id": "11", "updated_at": stamp(5)}),
        ],
    );
    let sb = start(dir, None).await;
    let base = sb.base_url();
    let c = client();
    let get = |path: String| {
        let c = c.clone();
        async move {
            let r = c
                .get(path)
                .bearer_auth(Credentials::default().kantata_token)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.expect("json")
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };

    // per_page 500 is served as 200: 200 results, meta says 200 and the page count at 200
    let all: usize = 1234;
    let v = get(format!(
        "{base}/api/v1/time_entries.json?per_page=500&from_archived_workspaces=true"
    ))
    .await;
    assert_eq!(ids(&v).len(), 200);
    assert_eq!(v["meta"]["page_size"], 200);
    assert_eq!(v["meta"]["page_count"], all.div_ceil(200));
    assert_eq!(v["count"], all);
    let (every, pages) = kantata_all(&c, &base, "time_entries", 500, None).await;
    assert_eq!(pages, (all - on_archived).div_ceil(200));
    assert_eq!(every.len(), all - on_archived);

    // time entries of the archived workspace only with from_archived_workspaces=true
    assert!(every.iter().all(|e| e["workspace_id"] != "12"));
    let v = get(format!("{base}/api/v1/time_entries.json?per_page=1")).await;
    assert_eq!(v["count"], all - on_archived);
    let v = get(format!(
        "{base}/api/v1/time_entries.json?per_page=1&from_archived_workspaces=true"
    ))
    .await;
    assert_eq!(v["count"], all);
    // ... combined with updated_after
    let after = kantata_stamp(600);
    let newer = |archived_too: bool| {
        entries
            .iter()
            .filter(|e| {
                DateTime::parse_from_rfc3339(e["updated_at"].as_str().expect("stamp")).expect("t")
                    > DateTime::parse_from_rfc3339(&after).expect("t")
                    && (archived_too || e["workspace_id"] != "12")
            })
            .count()
    };
    let (got, _) = kantata_all(&c, &base, "time_entries", 200, Some(&after)).await;
    assert_eq!(got.len(), newer(false));
    let v = get(format!(
        "{base}/api/v1/time_entries.json?per_page=1&from_archived_workspaces=true&updated_after={}",
        after.replace('+', "%2B")
    ))
    .await;
    assert_eq!(v["count"], newer(true));

    // archived workspaces only with include_archived=true
    let v = get(format!("{base}/api/v1/workspaces.json")).await;
    assert_eq!(ids(&v), ["11", "13"]);
    let v = get(format!(
        "{base}/api/v1/workspaces.json?include_archived=true"
    ))
    .await;
    assert_eq!(ids(&v), ["11", "12", "13"]);

    // archived stories only with show_archived, deleted ones only with show_deleted
    let stories = |q: &str| get(format!("{base}/api/v1/stories.json?{q}"));
    assert_eq!(ids(&stories("").await), ["21", "25"]);
    assert_eq!(
        ids(&stories("show_archived=true").await),
        ["21", "22", "25"]
    );
    assert_eq!(ids(&stories("show_deleted=true").await), ["21", "23", "25"]);
    assert_eq!(
        ids(&stories("show_archived=true&show_deleted=true").await),
        ["21", "22", "23", "24", "25"]
    );
    // an archived workspace does not hide its stories: only their own flags do
    assert_eq!(
        ids(&stories("show_archived=false&show_deleted=false").await),
        ["21", "25"]
    );
    sb.shutdown().await;
}

/// A fixture directory of the old shape (one `kantata/allocations.jsonl` instead of workspace
/// resources and workspace allocations) does not load: it would serve capacity without
/// allocations.
#[tokio::test]
async fn old_kantata_allocations_file_stops_the_start() {
    let fx = fixture();
    write_jsonl(
        fx.dir.path(),
        "kantata",
        "allocations",
        &[json!({"id": "1", "workspace_id": "11", "user_id": "2", "soft": false})],
    );
    let msg = Sandbox::start(SandboxConfig::new(fx.dir.path()))
        .await
        .expect_err("old shape")
        .to_string();
    assert!(msg.contains("kantata/allocations.jsonl"), "{msg}");
    assert!(msg.contains("workspace_allocations"), "{msg}");
}

#[tokio::test]
async fn incremental_filters_return_the_right_subsets() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;

    // Salesforce: SystemModstamp >= X AND < Y, ordered by SystemModstamp.
    let opps = opportunities(950);
    let (lo, hi) = (sf_stamp(100), sf_stamp(700));
    let soql = format!(
        "SELECT Id, SystemModstamp FROM Opportunity WHERE SystemModstamp >= {} AND SystemModstamp < {} ORDER BY SystemModstamp ASC, Id",
        lo.replace(".000+0000", "Z"),
        hi
    );
    let (got, _) = sf_all(&c, &base, &token, "query", &soql, 200).await;
    let want: Vec<&Value> = opps
        .iter()
        .filter(|o| o["IsDeleted"] == false)
        .filter(|o| {
            o["SystemModstamp"]
                .as_str()
                .is_some_and(|s| s >= lo.as_str() && s < hi.as_str())
        })
        .collect();
    assert_eq!(got.len(), want.len());
    let stamps: Vec<&str> = got
        .iter()
        .map(|r| r["SystemModstamp"].as_str().expect("stamp"))
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "ordered by SystemModstamp"
    );
    assert_eq!(
        got[0].as_object().expect("obj").keys().collect::<Vec<_>>(),
        ["Id", "SystemModstamp"],
        "projection"
    );
    // LIMIT
    let (limited, _) = sf_all(
        &c,
        &base,
        &token,
        "query",
        "select id from opportunity order by systemmodstamp desc limit 5",
        200,
    )
    .await;
    assert_eq!(limited.len(), 5);

    // NetSuite: linelastmodifieddate compared through TO_DATE and TO_TIMESTAMP.
    let lines = ns_rows(2600, "transactionline");
    let cutoff = chrono::NaiveDate::from_ymd_opt(2026, 4, 15).expect("date");
    let want = lines
        .iter()
        .filter(|r| {
            chrono::NaiveDate::parse_from_str(
                r["linelastmodifieddate"].as_str().expect("d"),
                "%m/%d/%Y",
            )
            .expect("date")
                >= cutoff
        })
        .count();
    assert!(want > 0 && want < lines.len());
    for q in [
        "SELECT * FROM transactionline WHERE linelastmodifieddate >= TO_DATE('2026-04-15','YYYY-MM-DD') ORDER BY uniquekey",
        "SELECT t.uniquekey, t.linelastmodifieddate FROM transactionline t WHERE t.linelastmodifieddate >= TO_TIMESTAMP('2026-04-15 00:00:00', 'YYYY-MM-DD HH24:MI:SS') ORDER BY t.uniquekey",
    ] {
        let (items, pages) = netsuite_all(&c, &base, q, 100).await;
        assert_eq!(items.len(), want, "{q}");
        assert!(pages > 1);
        assert!(items.windows(2).all(|w| {
            w[0]["uniquekey"]
                .as_str()
                .expect("key")
                .parse::<u64>()
                .expect("n")
                < w[1]["uniquekey"]
                    .as_str()
                    .expect("key")
                    .parse::<u64>()
                    .expect("n")
        }));
    }
    let (items, _) = netsuite_all(
        &c,
        &base,
        "SELECT uniquekey, linelastmodifieddate FROM transactionline WHERE linelastmodifieddate >= TO_DATE('2026-04-15','YYYY-MM-DD')",
        1000,
    )
    .await;
    assert_eq!(
        items[0]
            .as_object()
            .expect("obj")
            .keys()
            .collect::<Vec<_>>(),
        ["links", "uniquekey", "linelastmodifieddate"]
    );

    // Kantata: updated_after compares instants across offsets, strictly after.
    let te = kantata_rows(1234, "time_entries");
    let pivot = kantata_stamp(600); // an exact record stamp, in its own offset
    let pivot_t = DateTime::parse_from_rfc3339(&pivot).expect("rfc3339");
    let want: BTreeSet<String> = te
        .iter()
        .filter(|r| {
            DateTime::parse_from_rfc3339(r["updated_at"].as_str().expect("u")).expect("t") > pivot_t
        })
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let utc_pivot = pivot_t.with_timezone(&Utc).to_rfc3339();
    for after in [pivot.as_str(), utc_pivot.as_str()] {
        let (got, _) = kantata_all(&c, &base, "time_entries", 100, Some(after)).await;
        let got_ids: BTreeSet<String> = ids(&got, "id").into_iter().collect();
        assert_eq!(got_ids, want, "updated_after={after}");
        assert_eq!(got.len(), 1234 - 601);
    }

    // HubSpot search: hs_lastmodifieddate GTE (epoch ms and ISO), live deals only.
    let all = deals(260);
    let since = base_time() + chrono::Duration::hours(100);
    let want: BTreeSet<String> = all
        .iter()
        .enumerate()
        .filter(|(i, d)| *i >= 100 && d["archived"] == false)
        .map(|(_, d)| d["id"].as_str().expect("id").to_string())
        .collect();
    for value in [
        json!(since.timestamp_millis().to_string()),
        json!(since.to_rfc3339()),
    ] {
        let body = json!({"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": value}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}], "properties": ["dealname", "hs_lastmodifieddate"], "limit": 13});
        let (got, total) = hubspot_search(&c, &base, body).await;
        assert_eq!(total as usize, want.len());
        assert_eq!(ids(&got, "id").into_iter().collect::<BTreeSet<_>>(), want);
        let mods: Vec<&str> = got
            .iter()
            .map(|d| d["properties"]["hs_lastmodifieddate"].as_str().expect("m"))
            .collect();
        assert!(mods.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            got[0]["properties"].as_object().expect("props").len(),
            2,
            "only requested properties"
        );
    }
    let gt = json!({"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since.timestamp_millis()}]}], "limit": 200});
    let (got, _) = hubspot_search(&c, &base, gt).await;
    assert_eq!(
        got.len(),
        want.len() - usize::from(want.contains(all[100]["id"].as_str().expect("id")))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn query_excludes_deleted_rows_and_query_all_keeps_them() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    let accts = accounts(450);
    let deleted = accts.iter().filter(|a| a["IsDeleted"] == true).count();
    let (q, _) = sf_all(
        &c,
        &base,
        &token,
        "query",
        &format!("SELECT {SF_ACCOUNT_FIELDS} FROM Account"),
        2000,
    )
    .await;
    let (qa, pages) = sf_all(
        &c,
        &base,
        &token,
        "queryAll",
        &format!("SELECT {SF_ACCOUNT_FIELDS} FROM Account"),
        2000,
    )
    .await;
    assert_eq!(pages, 1);
    assert_eq!(q.len(), 450 - deleted);
    assert_eq!(qa.len(), 450);
    assert!(q.iter().all(|a| a["IsDeleted"] == false));
    let (only_deleted, _) = sf_all(
        &c,
        &base,
        &token,
        "queryAll",
        "SELECT Id FROM Account WHERE IsDeleted = true",
        200,
    )
    .await;
    assert_eq!(only_deleted.len(), deleted);
    sb.shutdown().await;
}

/// The keys-only requests of the demo pipeline's deletion reconciliation (`reconcile` in
/// `pipelines/demo.yml`) come back as the real APIs answer them: only the selected key, every
/// record (Salesforce `queryAll`: recycle-bin rows too), in id order.
#[tokio::test]
async fn keys_only_queries_return_every_key_and_nothing_else() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    let (opps, pages) = sf_all(
        &c,
        &base,
        &token,
        "queryAll",
        "SELECT Id FROM Opportunity ORDER BY Id ASC",
        200,
    )
    .await;
    assert!(pages > 1);
    assert!(
        opps.iter()
            .all(|o| o.as_object().map(|m| m.len()) == Some(1))
    );
    assert_eq!(ids(&opps, "Id"), {
        let mut v = ids(&opportunities(950), "Id");
        v.sort();
        v
    });
    let (lines, pages) = netsuite_all(
        &c,
        &base,
        "SELECT uniquekey FROM transactionline ORDER BY uniquekey",
        1000,
    )
    .await;
    assert_eq!(pages, 3);
    assert!(lines.iter().all(|l| {
        let keys: Vec<&String> = l.as_object().expect("item").keys().collect();
        keys == ["links", "uniquekey"]
    }));
    assert_eq!(
        ids(&lines, "uniquekey"),
        sorted_ids(&ns_rows(2600, "transactionline"), "uniquekey")
    );
    // Kantata has no keys-only listing: without `updated_after` it lists every record
    let (entries, _) = kantata_all(&c, &base, "time_entries", 2000, None).await;
    assert_eq!(entries.len(), 1234);
    sb.shutdown().await;
}

#[tokio::test]
async fn salesforce_errors_have_the_vendor_shape() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let bad = c
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json::<Value>().await.expect("json"),
        json!({"error":"invalid_client","error_description":"invalid client credentials"})
    );
    let refreshed = c
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "pslake-sandbox-client"),
            ("refresh_token", "r1"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let token = sf_token(&c, &base).await;
    let get = |q: &str| {
        c.get(format!("{base}/services/data/{V}/query"))
            .bearer_auth(&token)
            .query(&[("q", q)])
            .send()
    };
    let r = get("SELECT Id, Bogus__c FROM Opportunity")
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");
    assert!(
        v[0]["message"]
            .as_str()
            .expect("m")
            .contains("No such column 'Bogus__c' on entity 'Opportunity'")
    );
    for q in [
        "SELEC Id FROM Account",
        "SELECT Id FROM Account WHERE SystemModstamp >= '2026-01-01'",
        "SELECT Id FROM Account LIMIT x",
    ] {
        let r = get(q).await.expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(
            r.json::<Value>().await.expect("json")[0]["errorCode"],
            "MALFORMED_QUERY",
            "{q}"
        );
    }
    let r = c
        .get(format!("{base}/services/data/{V}/query/01gNOPE-200"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    sb.shutdown().await;
}

#[tokio::test]
async fn auth_failures_give_401_with_the_vendor_body() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let r = c
        .get(format!(
            "{base}/services/data/{V}/query?q=SELECT+Id+FROM+Account"
        ))
        .bearer_auth("nope")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])
    );
    let r = c
        .get(format!("{base}/crm/v3/objects/deals"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], "error");
    assert_eq!(v["category"], "INVALID_AUTHENTICATION");
    assert!(
        v["message"]
            .as_str()
            .expect("m")
            .starts_with("Authentication credentials not found")
    );
    assert!(v["correlationId"].is_string());
    let r = c
        .post(format!("{base}/services/rest/query/v1/suiteql"))
        .bearer_auth("nope")
        .header("Prefer", "transient")
        .json(&json!({"q":"SELECT * FROM job"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json")["o:errorDetails"][0]["o:errorCode"],
        "INVALID_LOGIN"
    );
    let r = c
        .get(format!("{base}/api/v1/users.json"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json")["errors"][0]["type"],
        "authentication"
    );
    let r = c
        .get(format!(
            "{base}/ccx/service/customreport2/t/o/Workers?format=json"
        ))
        .basic_auth("ISU_pslake", Some("wrong"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], r#"Basic realm="Workday""#);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"error":"invalid username or password"})
    );
    // Other request errors.
    let ns = Credentials::default().netsuite_token;
    let r = c
        .post(format!("{base}/services/rest/query/v1/suiteql"))
        .bearer_auth(&ns)
        .json(&json!({"q":"SELECT * FROM job"}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "Prefer: transient is required"
    );
    assert!(
        r.json::<Value>().await.expect("json")["o:errorDetails"][0]["detail"]
            .as_str()
            .expect("d")
            .contains("transient")
    );
    let r = c
        .post(format!("{base}/services/rest/query/v1/suiteql"))
        .bearer_auth(&ns)
        .header("Prefer", "transient")
        .json(&json!({"q":"SELECT nope FROM job"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let wd = Credentials::default();
    let r = c
        .get(format!(
            "{base}/ccx/service/customreport2/t/o/Payroll?format=json"
        ))
        .basic_auth(&wd.workday_user, Some(&wd.workday_password))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Treasury and health.
    assert_eq!(
        c.get(format!("{base}/health"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );
    let list: Value = c
        .get(format!("{base}/treasury/"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["fx_rates_2026-01.csv", "fx_rates_2026-02.csv"]);
    assert!(
        list[0]["size"].as_u64().is_some_and(|n| n > 0) && list[0]["last_modified"].is_string()
    );
    let csv = c
        .get(format!("{base}/treasury/fx_rates_2026-02.csv"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert_eq!(csv, "currency,month,usd_per_unit\nEUR,2026-02,1.09\n");
    assert_eq!(
        c.get(format!("{base}/treasury/notes.txt"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::NOT_FOUND
    );
    let stats = sb.stats();
    assert_eq!(stats.requests.get("GET /health"), Some(&1));
    assert!(stats.faults.is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limits_have_each_vendors_shape() {
    let fx = fixture();
    let sb = start(fx.dir.path(), Some("rate_limit=1")).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await; // never faulted
    let r = c
        .get(format!(
            "{base}/services/data/{V}/query?q=SELECT+Id+FROM+Account"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.headers().contains_key("sforce-limit-info"));
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!([{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}])
    );
    let r = c
        .get(format!("{base}/crm/v3/objects/deals"))
        .bearer_auth("x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["errorType"], "RATE_LIMIT");
    assert_eq!(v["policyName"], "TEN_SECONDLY_ROLLING");
    let r = c
        .post(format!("{base}/services/rest/query/v1/suiteql"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], 429);
    assert_eq!(
        v["o:errorDetails"][0]["o:errorCode"],
        "CONCURRENCY_LIMIT_EXCEEDED"
    );
    for url in [
        format!("{base}/api/v1/users.json"),
        format!("{base}/ccx/service/customreport2/t/o/Workers?format=json"),
    ] {
        let r = c.get(&url).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{url}");
        assert_eq!(r.headers()["retry-after"], "1");
    }
    assert_eq!(
        c.get(format!("{base}/health"))
            .send()
            .await
            .expect("send")
            .status(),
        StatusCode::OK
    );
    let stats = sb.stats();
    assert_eq!(stats.faults.get(&FaultKind::RateLimit), Some(&5));
    assert_eq!(stats.fault_log.len(), 5);
    assert_eq!(stats.fault_log[0].system, "salesforce");
    sb.shutdown().await;
}

#[tokio::test]
async fn server_errors_slow_truncate_and_reset_are_observed() {
    let fx = fixture();
    let kantata = |base: &str| format!("{base}/api/v1/time_entries.json?per_page=500");
    let token = Credentials::default().kantata_token;
    let c = client();

    let sb = start(fx.dir.path(), Some("error500@kantata=1,error503@hubspot=1")).await;
    let base = sb.base_url();
    let r = c
        .get(kantata(&base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.json::<Value>().await.expect("json")["errors"][0]["type"],
        "system"
    );
    let r = c
        .get(format!("{base}/crm/v3/objects/deals"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "error");
    sb.shutdown().await;

    let sb = start(fx.dir.path(), Some("slow=1:400ms,system=kantata")).await;
    let base = sb.base_url();
    let t0 = Instant::now();
    let r = c
        .get(kantata(&base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let t0 = Instant::now();
    let r = c
        .get(format!(
            "{base}/ccx/service/customreport2/t/o/Holidays?format=json"
        ))
        .basic_auth("ISU_pslake", Some("sandbox-workday-password"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "system=kantata spares workday"
    );
    sb.shutdown().await;

    let sb = start(fx.dir.path(), Some("truncate=1")).await;
    let base = sb.base_url();
    let r = c
        .get(kantata(&base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let declared = r.content_length().expect("content-length");
    assert!(declared > 1000);
    let body = r.bytes().await;
    assert!(body.is_err(), "a truncated body is a body error");
    sb.shutdown().await;

    let sb = start(fx.dir.path(), Some("reset=1")).await;
    let base = sb.base_url();
    let err = c
        .get(kantata(&base))
        .bearer_auth(&token)
        .send()
        .await
        .expect_err("reset");
    assert!(
        !err.is_status() && !err.is_decode() && !err.is_body(),
        "{err:?}"
    );
    eprintln!("reset seen by the client as: {err:?}");
    assert_eq!(sb.stats().faults.get(&FaultKind::Reset), Some(&1));
    sb.shutdown().await;
}

#[tokio::test]
async fn expire_token_forces_a_refresh() {
    let fx = fixture();
    let sb = start(fx.dir.path(), Some("expire_token=1")).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    let q = format!("{base}/services/data/{V}/query?q=SELECT+Id+FROM+Account");
    let r = c.get(&q).bearer_auth(&token).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json")[0]["errorCode"],
        "INVALID_SESSION_ID"
    );
    // The old token stays revoked; kantata is not affected by expire_token.
    let r = c
        .get(format!("{base}/api/v1/users.json"))
        .bearer_auth(Credentials::default().kantata_token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    sb.shutdown().await;

    let sb = start(fx.dir.path(), Some("expire_token=0.5,seed=3")).await;
    let base = sb.base_url();
    let mut token = sf_token(&c, &base).await;
    let (mut ok, mut refreshed) = (0, 0);
    while ok < 10 {
        let r = c
            .get(format!(
                "{base}/services/data/{V}/query?q=SELECT+Id+FROM+Account"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        if r.status() == StatusCode::UNAUTHORIZED {
            token = sf_token(&c, &base).await;
            refreshed += 1;
        } else {
            assert_eq!(r.status(), StatusCode::OK);
            ok += 1;
        }
    }
    assert!(refreshed > 0);
    assert_eq!(
        sb.stats().faults.get(&FaultKind::ExpireToken),
        Some(&refreshed)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_the_same_fault_sequence() {
    let fx = fixture();
    async fn statuses(dir: &Path, spec: &str) -> (Vec<u16>, Vec<(u64, FaultKind)>) {
        let sb = start(dir, Some(spec)).await;
        let base = sb.base_url();
        let c = client();
        let mut out = Vec::new();
        for page in 1..=40 {
            let r = c
                .get(format!("{base}/api/v1/users.json?page={page}&per_page=1"))
                .bearer_auth(Credentials::default().kantata_token)
                .send()
                .await;
            out.push(r.map_or(0, |r| r.status().as_u16()));
        }
        let log = sb
            .stats()
            .fault_log
            .iter()
            .map(|e| (e.seq, e.kind))
            .collect();
        sb.shutdown().await;
        (out, log)
    }
    let spec = "rate_limit=0.2,error500=0.1,error503=0.1,reset=0.1,seed=42";
    let a = statuses(fx.dir.path(), spec).await;
    let b = statuses(fx.dir.path(), spec).await;
    assert_eq!(a, b);
    assert!(
        a.0.contains(&200) && a.0.contains(&429) && a.0.contains(&0),
        "{:?}",
        a.0
    );
    let c = statuses(
        fx.dir.path(),
        "rate_limit=0.2,error500=0.1,error503=0.1,reset=0.1,seed=43",
    )
    .await;
    assert_ne!(a.0, c.0);
}

#[tokio::test]
async fn malformed_fixture_line_and_bad_faults_token_stop_the_start() {
    let fx = fixture();
    let path = fx.dir.path().join("kantata/time_entries.jsonl");
    let mut text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[16] = r#"{"id": }"#.to_string();
    text = lines.join("\n");
    std::fs::write(&path, text).expect("write");
    let err = Sandbox::start(SandboxConfig::new(fx.dir.path()))
        .await
        .expect_err("malformed line");
    let msg = err.to_string();
    assert!(
        msg.ends_with("kantata/time_entries.jsonl line 17: expected value at column 8"),
        "{msg}"
    );

    lines[16] = r#"{"title": "no id"}"#.to_string();
    std::fs::write(&path, lines.join("\n")).expect("write");
    let msg = Sandbox::start(SandboxConfig::new(fx.dir.path()))
        .await
        .expect_err("no id")
        .to_string();
    assert!(msg.ends_with("line 17: missing id field 'id'"), "{msg}");

    let err = FaultSpec::parse("rate_limit=abc").expect_err("bad token");
    assert!(
        err.to_string().starts_with("bad fault 'rate_limit=abc': "),
        "{err}"
    );
    let missing = Sandbox::start(SandboxConfig::new(PathBuf::from("/nonexistent/fixtures")))
        .await
        .expect_err("no dir");
    assert!(missing.to_string().contains("does not exist"));
}

#[tokio::test]
async fn serves_many_concurrent_pages_quickly() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = Client::new();
    let token = Credentials::default().kantata_token;
    let t0 = Instant::now();
    let pages = 400usize;
    let mut set = tokio::task::JoinSet::new();
    for n in 0..pages {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        set.spawn(async move {
            let page = 1 + n % 7;
            let r = c
                .get(format!(
                    "{base}/api/v1/time_entries.json?page={page}&per_page=200"
                ))
                .bearer_auth(token)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.expect("body").len()
        });
        if set.len() >= 16 {
            set.join_next().await.expect("task").expect("join");
        }
    }
    while let Some(r) = set.join_next().await {
        r.expect("join");
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "kantata: {pages} pages of 200 in {secs:.2}s = {:.0} pages/s, {:.0} records/s (debug build)",
        pages as f64 / secs,
        pages as f64 * 200.0 / secs
    );
    assert_eq!(
        sb.stats().requests.get("GET /api/v1/{resource}"),
        Some(&(pages as u64))
    );
    sb.shutdown().await;
}

/// The committed `fixtures/` directory (written by the generator), when present.
#[tokio::test]
async fn pages_every_stream_of_the_committed_fixtures() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"));
    if !dir.join("manifest.json").exists() {
        eprintln!("no committed fixtures at {}, skipping", dir.display());
        return;
    }
    let read = |stream: &str| -> Vec<Value> {
        let s = STREAMS.iter().find(|s| s.stream == stream).expect("stream");
        match std::fs::read_to_string(s.path_in(&dir)) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    page_everything(&dir, read, false).await;
}

/// Load and page rate over a large time-entry file (`PSLAKE_SANDBOX_BIG=N` records, default
/// 200k). Ignored by default: `cargo test -p pslake-sandbox --test it big -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "slow: a throughput measurement"]
async fn big_time_entry_file_loads_and_pages_fast() {
    let n: usize = std::env::var("PSLAKE_SANDBOX_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::with_capacity(n * 260);
    for i in 0..n {
        let line = json!({"id": (500_000_000 + i).to_string(), "workspace_id": "31004401", "user_id": "8812001",
            "date_performed": "2025-07-01", "time_in_minutes": 120, "billable": false, "approved": true,
            "rate_in_cents": 0, "currency": "USD", "notes": "Training", "updated_at": kantata_stamp(i % 5000)});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::create_dir_all(dir.path().join("kantata")).expect("mkdir");
    std::fs::write(dir.path().join("kantata/time_entries.jsonl"), text).expect("write");
    let t0 = Instant::now();
    let sb = start(dir.path(), None).await;
    let load = t0.elapsed().as_secs_f64();
    let base = sb.base_url();
    let c = Client::new();
    let token = Credentials::default().kantata_token;
    let per_page = 2000;
    let pages = n.div_ceil(per_page);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut records = 0usize;
    for page in 1..=pages {
        let (c, base, token) = (c.clone(), base.clone(), token.clone());
        set.spawn(async move {
            let r = c
                .get(format!(
                    "{base}/api/v1/time_entries.json?page={page}&per_page={per_page}"
                ))
                .bearer_auth(token)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), StatusCode::OK);
            let body = r.bytes().await.expect("body");
            // Count records without parsing: one `"key":"time_entries"` per record.
            let needle = br#"{"key":"time_entries""#;
            body.windows(needle.len()).filter(|w| w == needle).count()
        });
        if set.len() >= 8 {
            records += set.join_next().await.expect("task").expect("join");
        }
    }
    while let Some(r) = set.join_next().await {
        records += r.expect("join");
    }
    assert_eq!(records, n);
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "{n} time entries: loaded in {load:.2}s; {pages} pages of {per_page} in {secs:.2}s = {:.0} pages/s, {:.0} records/s (debug build)",
        pages as f64 / secs,
        n as f64 / secs
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn hubspot_purges_deals_archived_more_than_90_days_before_as_of() {
    // as_of 2026-03-31: "now" is 2026-03-31T00:00Z, so the purge line is 2025-12-31T00:00Z.
    let fx = fixture();
    let mut recs = deals(20);
    let archive = |d: &mut Value, at: Option<&str>, updated: &str| {
        d["archived"] = json!(true);
        d["updatedAt"] = json!(updated);
        match at {
            Some(a) => d["archivedAt"] = json!(a),
            None => {
                d.as_object_mut().expect("object").remove("archivedAt");
            }
        }
        d["id"].as_str().expect("id").to_string()
    };
    // archivedAt decides, not hs_lastmodifieddate or updatedAt
    let old = archive(
        &mut recs[0],
        Some("2025-12-30T23:59:59.000Z"),
        "2026-03-01T00:00:00.000Z",
    );
    let recent = archive(
        &mut recs[1],
        Some("2025-12-31T00:00:00.000Z"),
        "2025-06-01T00:00:00.000Z",
    );
    // without archivedAt, updatedAt stands in (and is served as archivedAt)
    let old_no_at = archive(&mut recs[2], None, "2025-11-01T00:00:00.000Z");
    let recent_no_at = archive(&mut recs[3], None, "2026-02-01T00:00:00.000Z");
    write_jsonl(fx.dir.path(), "hubspot", "deals", &recs);
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let (archived, _) = hubspot_list(&c, &base, true, HS_PROPS, 100).await;
    let got: BTreeSet<String> = ids(&archived, "id").into_iter().collect();
    assert!(!got.contains(&old), "{got:?}");
    assert!(!got.contains(&old_no_at), "{got:?}");
    assert!(
        got.contains(&recent) && got.contains(&recent_no_at),
        "{got:?}"
    );
    for d in &archived {
        let want = recs
            .iter()
            .find(|r| r["id"] == d["id"])
            .map(|r| r.get("archivedAt").unwrap_or(&r["updatedAt"]).clone());
        assert_eq!(Some(&d["archivedAt"]), want.as_ref(), "{d}");
    }
    // purged deals are listed nowhere: not as live deals either
    let (live, _) = hubspot_list(&c, &base, false, HS_PROPS, 100).await;
    assert!(
        live.iter()
            .all(|d| d["id"] != json!(old) && d["id"] != json!(old_no_at))
    );
    sb.shutdown().await;
}

/// SuiteQL's cap (lowered to 1,000 here): an offset at or past it is a 400 with NetSuite's error
/// shape, the pages stop at the cap, and `id > last ORDER BY id` reaches the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsuite_caps_each_query_and_keyset_reaches_the_rest() {
    let f = fixture();
    let mut config = SandboxConfig::new(f.dir.path());
    assert_eq!(
        config.netsuite_max_results, 100_000,
        "SPEC's cap by default"
    );
    config.netsuite_max_results = 1000;
    let sb = Sandbox::start(config).await.expect("sandbox starts");
    let base = sb.base_url();
    let c = client();
    let ns = Credentials::default().netsuite_token;
    let post = |q: &str, limit: usize, offset: usize| {
        c.post(format!(
            "{base}/services/rest/query/v1/suiteql?limit={limit}&offset={offset}"
        ))
        .bearer_auth(&ns)
        .header("Prefer", "transient")
        .json(&json!({ "q": q }))
        .send()
    };
    let q = "SELECT tl.uniquekey AS id FROM transactionline tl ORDER BY tl.uniquekey";
    // an offset at the cap: 400, NetSuite's error body
    let r = post(q, 100, 1000).await.expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["status"], 400);
    assert_eq!(v["o:errorDetails"][0]["o:errorCode"], "INVALID_PARAMETER");
    assert!(
        v["o:errorDetails"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("at most 1000 results"),
        "{v}"
    );
    assert_eq!(
        post(q, 100, 5000).await.expect("send").status(),
        StatusCode::BAD_REQUEST
    );
    // paging one query: never more than the cap; the last page below the cap says more exist
    let mut got: Vec<String> = Vec::new();
    let mut offset = 0;
    loop {
        let r = post(q, 300, offset).await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "offset {offset}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["totalResults"], 2600);
        for it in v["items"].as_array().expect("items") {
            got.push(it["id"].as_str().expect("id").to_string());
        }
        offset += 300;
        if offset >= 1000 {
            assert_eq!(v["hasMore"], true);
            assert!(
                !v["links"]
                    .as_array()
                    .expect("links")
                    .iter()
                    .any(|l| l["rel"] == "next"),
                "no next link past the cap: {v}"
            );
            break;
        }
    }
    assert_eq!(got.len(), 1000, "one query yields at most the cap");
    // keyset: restart after the last id seen, numerically
    let mut all = got.clone();
    loop {
        let last = all.last().expect("some").clone();
        let q = format!(
            "SELECT tl.uniquekey AS id FROM transactionline tl WHERE tl.uniquekey > {last} ORDER BY tl.uniquekey"
        );
        let mut offset = 0;
        let mut more = false;
        while offset < 1000 {
            let v: Value = post(&q, 1000, offset)
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            for it in v["items"].as_array().expect("items") {
                all.push(it["id"].as_str().expect("id").to_string());
            }
            more = v["hasMore"] == true;
            if !more {
                break;
            }
            offset += 1000;
        }
        if !more {
            break;
        }
    }
    let n: Vec<u64> = all.iter().map(|s| s.parse().expect("numeric id")).collect();
    assert_eq!(n.len(), 2600);
    assert!(
        n.windows(2).all(|w| w[0] < w[1]),
        "ascending, no duplicates"
    );
    sb.shutdown().await;
}

/// A small NetSuite ledger: two currencies, an invoice (mainline, two income lines one of which
/// carries the job, a taxline) and an expense report, a voided invoice, and a job.
fn ledger_fixture() -> Fixture {
    let fx = fixture();
    let d = fx.dir.path();
    write_jsonl(
        d,
        "netsuite",
        "currency",
        &[
            json!({"id": "1", "symbol": "USD", "name": "US Dollar"}),
            json!({"id": "4", "symbol": "EUR", "name": "Euro"}),
        ],
    );
    write_jsonl(
        d,
        "netsuite",
        "job",
        &[
            json!({"id": "200003", "entityid": "PRJ-00003", "companyname": "Zorg - Data Program",
            "parent": "10008", "entitystatus": "2", "jobbillingtype": "TM", "startdate": "5/27/2026",
            "projectedenddate": "12/9/2026", "currency": "4", "lastmodifieddate": "9/2/2026"}),
        ],
    );
    write_jsonl(
        d,
        "netsuite",
        "transaction",
        &[
            json!({"id": "501", "tranid": "INV501", "type": "CustInvc", "trandate": "9/3/2026", "entity": "200003",
                "status": "B", "currency": "4", "lastmodifieddate": "9/20/2026"}),
            json!({"id": "502", "tranid": "ER502", "type": "ExpRept", "trandate": "8/14/2026", "entity": "5001",
                "status": "G", "currency": "1", "lastmodifieddate": "8/16/2026"}),
            json!({"id": "503", "tranid": "INV503", "type": "CustInvc", "trandate": "7/31/2026", "entity": "200003",
                "status": "V", "currency": "4", "lastmodifieddate": "8/1/2026"}),
            json!({"id": "504", "tranid": "JE504", "type": "Journal", "trandate": "9/1/2026", "entity": "",
                "status": "", "currency": "1", "lastmodifieddate": "9/1/2026"}),
        ],
    );
    let line = |key: &str,
                id: &str,
                tran: &str,
                main: &str,
                tax: &str,
                entity: &str,
                amount: &str,
                memo: &str,
                modified: &str| {
        json!({"uniquekey": key, "id": id, "transaction": tran, "mainline": main, "taxline": tax,
            "entity": entity, "foreignamount": amount, "memo": memo, "linelastmodifieddate": modified})
    };
    write_jsonl(
        d,
        "netsuite",
        "transactionline",
        &[
            line(
                "9001",
                "0",
                "501",
                "T",
                "F",
                "200003",
                "1440.00",
                "",
                "9/20/2026",
            ),
            line(
                "9002",
                "1",
                "501",
                "F",
                "F",
                "200003",
                "-1000.00",
                "Consulting",
                "9/20/2026",
            ),
            line(
                "9003",
                "2",
                "501",
                "F",
                "F",
                "",
                "-200.00",
                "Expenses rebilled",
                "9/21/2026",
            ),
            line(
                "9004",
                "3",
                "501",
                "F",
                "T",
                "",
                "-240.00",
                "VAT",
                "9/20/2026",
            ),
            line(
                "9011",
                "0",
                "502",
                "T",
                "F",
                "5001",
                "-75.25",
                "",
                "8/16/2026",
            ),
            line(
                "9012",
                "1",
                "502",
                "F",
                "F",
                "200003",
                "75.25",
                "Travel",
                "8/16/2026",
            ),
            line(
                "9021",
                "1",
                "503",
                "F",
                "F",
                "200003",
                "-300.00",
                "Consulting",
                "8/1/2026",
            ),
            line("9031", "1", "504", "F", "F", "", "12.00", "", "9/1/2026"),
        ],
    );
    fx
}

/// Real SuiteQL over the ledger: a join of transactionline, transaction and currency with
/// TO_CHAR, TO_TIMESTAMP, BUILTIN.DF, IN and COALESCE, answered as NetSuite writes values.
#[tokio::test]
async fn suiteql_joins_and_netsuite_functions_over_the_ledger() {
    let fx = ledger_fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let q = "SELECT tl.uniquekey, t.tranid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, \
             COALESCE(tl.entity, t.entity) AS job, -tl.foreignamount AS amount, \
             c.symbol AS currency, BUILTIN.DF(t.currency) AS currency_name, BUILTIN.DF(t.status) AS status, \
             tl.mainline, TO_CHAR(tl.linelastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified \
             FROM transactionline tl \
             JOIN transaction t ON t.id = tl.transaction \
             LEFT JOIN currency c ON c.id = t.currency \
             WHERE t.type IN ('CustInvc', 'ExpRept') AND t.status <> 'V' AND tl.taxline = 'F' \
             AND tl.linelastmodifieddate >= TO_TIMESTAMP('2026-08-16 00:00:00', 'YYYY-MM-DD HH24:MI:SS') \
             ORDER BY tl.uniquekey";
    let (items, _) = netsuite_all(&c, &base, q, 2).await;
    let got: Vec<String> = items
        .iter()
        .map(|i| {
            [
                "uniquekey",
                "tranid",
                "trandate",
                "job",
                "amount",
                "currency",
                "currency_name",
                "status",
                "mainline",
                "modified",
            ]
            .iter()
            .map(|k| i[*k].as_str().unwrap_or("-").to_string())
            .collect::<Vec<_>>()
            .join("|")
        })
        .collect();
    // the journal (504), the voided invoice (503) and the taxline (9004) are filtered out; 9003
    // has no entity of its own (NULL: COALESCE takes the header's)
    assert_eq!(
        got,
        [
            "9001|INV501|2026-09-03|200003|-1440.00|EUR|Euro|Paid In Full|T|2026-09-20 00:00:00",
            "9002|INV501|2026-09-03|200003|1000.00|EUR|Euro|Paid In Full|F|2026-09-20 00:00:00",
            "9003|INV501|2026-09-03|200003|200.00|EUR|Euro|Paid In Full|F|2026-09-21 00:00:00",
            "9011|ER502|2026-08-14|5001|75.25|USD|US Dollar|Paid In Full|T|2026-08-16 00:00:00",
            "9012|ER502|2026-08-14|200003|-75.25|USD|US Dollar|Paid In Full|F|2026-08-16 00:00:00",
        ]
    );
    // every value a string; an entity-less line leaves `entity` out (NULL)
    let (items, _) = netsuite_all(
        &c,
        &base,
        "SELECT uniquekey, entity, foreignamount, mainline FROM transactionline WHERE uniquekey IN (9003, 9012)",
        1000,
    )
    .await;
    assert_eq!(
        items,
        [
            json!({"links": [], "uniquekey": "9003", "foreignamount": "-200.00", "mainline": "F"}),
            json!({"links": [], "uniquekey": "9012", "entity": "200003", "foreignamount": "75.25", "mainline": "F"}),
        ]
    );
    // an aggregate over the join: invoiced per job, income lines only
    let (items, _) = netsuite_all(
        &c,
        &base,
        "SELECT COALESCE(tl.entity, t.entity) AS job, SUM(-tl.foreignamount) AS invoiced, COUNT(*) AS n \
         FROM transactionline tl JOIN transaction t ON t.id = tl.transaction \
         WHERE t.type = 'CustInvc' AND tl.mainline = 'F' AND tl.taxline = 'F' AND t.status IN ('A', 'B') \
         GROUP BY COALESCE(tl.entity, t.entity)",
        1000,
    )
    .await;
    assert_eq!(
        items,
        [json!({"links": [], "job": "200003", "invoiced": "1200.00", "n": "2"})]
    );
    sb.shutdown().await;
}

/// The account's date-format preference: a date the query does not format is written
/// `M/D/YYYY` by default and `D/M/YYYY` when the account says so; TO_CHAR output is the same.
#[tokio::test]
async fn netsuite_dates_follow_the_account_preference_unless_formatted() {
    let fx = ledger_fixture();
    let q = "SELECT t.id, t.trandate, t.lastmodifieddate, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS iso, \
             TO_CHAR(t.trandate, 'DD.MM.YYYY') AS dotted FROM transaction t WHERE t.id = 501";
    let mut seen = Vec::new();
    for format in ["M/D/YYYY", "D/M/YYYY"] {
        let mut config = SandboxConfig::new(fx.dir.path());
        config.netsuite_date_format = format.parse().expect("a date format");
        let sb = Sandbox::start(config).await.expect("sandbox starts");
        let (items, _) = netsuite_all(&client(), &sb.base_url(), q, 10).await;
        seen.push(items[0].clone());
        sb.shutdown().await;
    }
    assert_eq!(
        seen,
        [
            json!({"links": [], "id": "501", "trandate": "9/3/2026", "lastmodifieddate": "9/20/2026",
                "iso": "2026-09-03", "dotted": "03.09.2026"}),
            json!({"links": [], "id": "501", "trandate": "3/9/2026", "lastmodifieddate": "20/9/2026",
                "iso": "2026-09-03", "dotted": "03.09.2026"}),
        ]
    );
    assert!(
        "Y/M/D"
            .parse::<pslake_sandbox::server::NetSuiteDateFormat>()
            .is_err()
    );
}

/// SuiteQL errors: an unknown table or column, bad syntax and a TO_TIMESTAMP whose text does not
/// match its format are NetSuite-shaped 400s.
#[tokio::test]
async fn suiteql_errors_are_netsuite_shaped_400s() {
    let fx = ledger_fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    for (q, needle) in [
        ("SELECT id FROM invoice_line", "invoice_line"),
        ("SELECT nosuchcolumn FROM transaction", "nosuchcolumn"),
        ("SELEC id FROM transaction", "Search error"),
        (
            "SELECT id FROM transaction WHERE lastmodifieddate >= TO_TIMESTAMP('9/1/2026', 'YYYY-MM-DD')",
            "does not match",
        ),
        ("DELETE FROM transaction", "SELECT"),
    ] {
        let r = c
            .post(format!("{base}/services/rest/query/v1/suiteql"))
            .bearer_auth(Credentials::default().netsuite_token)
            .header("Prefer", "transient")
            .json(&json!({ "q": q }))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], 400);
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["o:errorDetails"][0]["o:errorCode"], "INVALID_PARAMETER");
        let detail = v["o:errorDetails"][0]["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with("Invalid search query.") && detail.contains(needle),
            "{q}: {detail}"
        );
    }
    sb.shutdown().await;
}

/// Whole Kantata pages are the fixture lines spliced into the envelope, byte for byte, wherever
/// the records sit in the store's compressed blocks: pages read out of order, pages that cross
/// blocks, the last partial page, and an odd page size.
#[tokio::test]
async fn kantata_pages_splice_fixture_lines_across_blocks() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let text =
        std::fs::read_to_string(fx.dir.path().join("kantata/time_entries.jsonl")).expect("read");
    // ids descend through the file (see `kantata_rows`): id order is the file reversed
    let lines: Vec<(String, &str)> = text
        .lines()
        .rev()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (v["id"].as_str().expect("id").to_string(), l)
        })
        .collect();
    let n = lines.len();
    for (page, per_page) in [(7, 200), (1, 200), (4, 200), (5, 37), (34, 37)] {
        let r = client()
            .get(format!(
                "{base}/api/v1/time_entries.json?page={page}&per_page={per_page}"
            ))
            .bearer_auth(Credentials::default().kantata_token)
            .send()
            .await
            .expect("send");
        let body = r.text().await.expect("body");
        let slice = &lines[((page - 1) * per_page).min(n)..(page * per_page).min(n)];
        let results: Vec<String> = slice
            .iter()
            .map(|(id, _)| format!(r#"{{"key":"time_entries","id":"{id}"}}"#))
            .collect();
        let objects: Vec<String> = slice
            .iter()
            .map(|(id, line)| format!(r#""{id}":{line}"#))
            .collect();
        let expected = format!(
            r#"{{"count":{n},"results":[{}],"time_entries":{{{}}},"meta":{{"count":{n},"page_count":{},"page_number":{page},"page_size":{per_page}}}}}"#,
            results.join(","),
            objects.join(","),
            n.div_ceil(per_page),
        );
        assert_eq!(body, expected, "page {page} of {per_page}");
    }
    sb.shutdown().await;
}
