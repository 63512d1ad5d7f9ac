//! SPEC section 4b's source data as the real APIs serve it: Salesforce `OpportunityHistory`
//! through SOQL, HubSpot `propertiesWithHistory` (only when asked, only the asked properties, at
//! most 50 deals a page), the Workday `Worker_History` report and NetSuite `job.datecreated`; and
//! a fixture directory without any of them serves them empty.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::server::{
    HS_PROPS, SF_HISTORY_FIELDS, client, deals, fixture, hubspot_list, hubspot_search, ids,
    netsuite_all, opportunity_history, sf_all, sf_stamp, sf_token, start, workday_report,
    write_jsonl,
};

#[tokio::test]
async fn opportunity_history_is_queried_like_the_other_objects() {
    let fx = fixture();
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    let all = opportunity_history(430);
    let since = sf_stamp(100);
    // the demo pipeline's query: incremental on SystemModstamp, deleted rows through queryAll
    let soql = format!(
        "SELECT {SF_HISTORY_FIELDS} FROM OpportunityHistory WHERE SystemModstamp >= {since} ORDER BY SystemModstamp ASC, Id ASC"
    );
    let (rows, pages) = sf_all(&c, &base, &token, "queryAll", &soql, 200).await;
    let mut want: Vec<&Value> = all
        .iter()
        .filter(|r| r["SystemModstamp"].as_str().expect("stamp") >= since.as_str())
        .collect();
    want.sort_by(|a, b| {
        (a["SystemModstamp"].as_str(), a["Id"].as_str())
            .cmp(&(b["SystemModstamp"].as_str(), b["Id"].as_str()))
    });
    assert!(want.len() > 200 && pages == want.len().div_ceil(200));
    assert_eq!(rows, want.into_iter().cloned().collect::<Vec<_>>());
    // fields in the SELECT's order and casing, JSON numbers and booleans as Salesforce sends them
    let keys: Vec<&String> = rows[0].as_object().expect("a row").keys().collect();
    assert_eq!(
        keys,
        SF_HISTORY_FIELDS
            .split(", ")
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert!(rows[0]["Amount"].is_number() && rows[0]["IsDeleted"].is_boolean());
    // `query` leaves the deleted rows out
    let (live, _) = sf_all(
        &c,
        &base,
        &token,
        "query",
        "SELECT Id, IsDeleted FROM OpportunityHistory",
        2000,
    )
    .await;
    assert_eq!(
        live.len(),
        all.iter().filter(|r| r["IsDeleted"] == false).count()
    );
    // a field the object does not have is Salesforce's INVALID_FIELD
    let r = c
        .get(format!("{base}/services/data/v62.0/queryAll"))
        .bearer_auth(&token)
        .query(&[("q", "SELECT Id, Name FROM OpportunityHistory")])
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v[0]["errorCode"], "INVALID_FIELD");
    assert!(
        v[0]["message"]
            .as_str()
            .expect("message")
            .contains("entity 'OpportunityHistory'")
    );
    sb.shutdown().await;
}

/// A deal with a history of two properties (newest first, as HubSpot lists them).
fn with_history(d: Value) -> Value {
    let modified = d["properties"]["hs_lastmodifieddate"].clone();
    let mut o = serde_json::Map::new();
    for (k, v) in d.as_object().expect("a deal") {
        o.insert(k.clone(), v.clone());
        if k == "properties" {
            o.insert(
                "propertiesWithHistory".into(),
                json!({
                    "dealstage": [
                        {"value": "closedwon", "timestamp": modified, "sourceType": "CRM_UI"},
                        {"value": "appointmentscheduled", "timestamp": "2026-01-05T10:00:00.000Z", "sourceType": "CRM_UI"}
                    ],
                    "amount": [{"value": "100.00", "timestamp": "2026-01-05T10:00:00.000Z", "sourceType": "CRM_UI"}]
                }),
            );
        }
    }
    Value::Object(o)
}

#[tokio::test]
async fn deal_histories_come_only_when_asked_with_the_asked_properties_50_a_page() {
    let fx = fixture();
    // 260 deals, every other one with a history
    let all: Vec<Value> = deals(260)
        .into_iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { with_history(d) } else { d })
        .collect();
    write_jsonl(fx.dir.path(), "hubspot", "deals", &all);
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = pslake_sandbox::server::Credentials::default().hubspot_token;

    // not asked: no propertiesWithHistory at all, 100 a page
    let (plain, pages) = hubspot_list(&c, &base, false, HS_PROPS, 100).await;
    assert!(
        plain
            .iter()
            .all(|d| d.get("propertiesWithHistory").is_none())
    );
    let live = all.iter().filter(|d| d["archived"] == false).count();
    assert_eq!((plain.len(), pages), (live, live.div_ceil(100)));
    let (found, _) = hubspot_search(&c, &base, json!({"limit": 200})).await;
    assert!(
        found
            .iter()
            .all(|d| d.get("propertiesWithHistory").is_none())
    );

    // asked: exactly the asked properties, in the order asked, [] where the deal has none;
    // limit=100 is served 50 a page, and the next link asks again
    let mut after: Option<String> = None;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("limit", "100".to_owned()),
            ("properties", "dealstage,hs_lastmodifieddate".to_owned()),
            (
                "propertiesWithHistory",
                "amount,dealstage,closedate".to_owned(),
            ),
        ];
        q.extend(after.clone().map(|a| ("after", a)));
        let r = c
            .get(format!("{base}/crm/v3/objects/deals"))
            .bearer_auth(&token)
            .query(&q)
            .send()
            .await
            .expect("list");
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("json");
        let results = v["results"].as_array().expect("results");
        assert!(results.len() <= 50);
        pages += 1;
        got.extend(results.iter().cloned());
        match v["paging"]["next"]["after"].as_str() {
            None => break,
            Some(a) => {
                assert!(results.len() == 50);
                let link = v["paging"]["next"]["link"].as_str().expect("link");
                assert!(
                    link.contains("propertiesWithHistory=amount%2Cdealstage%2Cclosedate"),
                    "{link}"
                );
                after = Some(a.to_owned());
            }
        }
    }
    assert_eq!((got.len(), pages), (live, live.div_ceil(50)));
    for d in &got {
        let keys: Vec<&String> = d.as_object().expect("deal").keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "properties",
                "propertiesWithHistory",
                "archived",
                "updatedAt"
            ],
            "the histories follow the properties"
        );
        let fixture = all
            .iter()
            .find(|f| f["id"] == d["id"])
            .expect("a fixture deal");
        let h = &d["propertiesWithHistory"];
        let names: Vec<&String> = h.as_object().expect("histories").keys().collect();
        assert_eq!(names, ["amount", "dealstage", "closedate"]);
        match fixture.get("propertiesWithHistory") {
            Some(fh) => {
                assert_eq!(h["amount"], fh["amount"]);
                assert_eq!(h["dealstage"], fh["dealstage"]);
                assert_eq!(h["closedate"], json!([]));
                assert_eq!(h["dealstage"][0]["value"], d["properties"]["dealstage"]);
            }
            None => assert_eq!(
                h,
                &json!({"amount": [], "dealstage": [], "closedate": []}),
                "a deal without history has empty lists"
            ),
        }
    }
    // the archived listing too
    let r = c
        .get(format!("{base}/crm/v3/objects/deals"))
        .bearer_auth(&token)
        .query(&[
            ("archived", "true"),
            ("limit", "100"),
            ("propertiesWithHistory", "dealstage"),
        ])
        .send()
        .await
        .expect("list");
    let v: Value = r.json().await.expect("json");
    let archived = v["results"].as_array().expect("results");
    assert!(!archived.is_empty());
    assert!(
        archived
            .iter()
            .all(|d| d["propertiesWithHistory"]["dealstage"].is_array()
                && d["archivedAt"].is_string())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn batch_read_serves_the_asked_deals_as_the_list_does_and_names_the_missing() {
    let fx = fixture();
    let all: Vec<Value> = deals(120)
        .into_iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { with_history(d) } else { d })
        .collect();
    write_jsonl(fx.dir.path(), "hubspot", "deals", &all);
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = pslake_sandbox::server::Credentials::default().hubspot_token;
    let read = |archived: bool, body: Value| {
        let c = c.clone();
        let url = format!("{base}/crm/v3/objects/deals/batch/read?archived={archived}");
        let token = token.clone();
        async move {
            let r = c
                .post(url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("batch read");
            let status = r.status();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    let live: Vec<&Value> = all.iter().filter(|d| d["archived"] == false).collect();
    let archived: Vec<&Value> = all.iter().filter(|d| d["archived"] == true).collect();
    assert!(live.len() > 3 && !archived.is_empty());
    // three live deals, asked in reverse id order, with histories: served in the order asked,
    // each as the list endpoint serves it with the same parameters
    let asked: Vec<&Value> = live.iter().rev().take(3).copied().collect();
    let inputs: Vec<Value> = asked.iter().map(|d| json!({"id": d["id"]})).collect();
    let (status, v) = read(
        false,
        json!({"inputs": inputs, "properties": ["dealstage", "hs_lastmodifieddate"],
               "propertiesWithHistory": ["amount", "dealstage", "closedate"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "COMPLETE");
    let results = v["results"].as_array().expect("results");
    let ids: Vec<&Value> = results.iter().map(|d| &d["id"]).collect();
    assert_eq!(ids, asked.iter().map(|d| &d["id"]).collect::<Vec<_>>());
    for (d, f) in results.iter().zip(&asked) {
        let h = &d["propertiesWithHistory"];
        match f.get("propertiesWithHistory") {
            Some(fh) => assert_eq!(h["dealstage"], fh["dealstage"]),
            None => assert_eq!(h["dealstage"], json!([])),
        }
        assert_eq!(h["closedate"], json!([]));
        assert_eq!(
            d["properties"].as_object().expect("properties").len(),
            2,
            "only the asked properties"
        );
    }
    // an archived id is not found among the live deals (207, its id named); asked with
    // archived=true it is served with its archivedAt
    let gone = archived[0]["id"].clone();
    let (status, v) = read(
        false,
        json!({"inputs": [{"id": live[0]["id"]}, {"id": gone}, {"id": "999999999"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(v["results"].as_array().expect("results").len(), 1);
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(v["errors"][0]["context"]["ids"], json!([gone, "999999999"]));
    let (status, v) = read(true, json!({"inputs": [{"id": gone}]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["results"][0]["id"], gone);
    assert!(v["results"][0]["archivedAt"].is_string());
    // at most 50 inputs with histories, 100 without
    let many = |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"id": i.to_string()})).collect() };
    let (status, _) = read(
        false,
        json!({"inputs": many(51), "propertiesWithHistory": ["dealstage"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = read(false, json!({"inputs": many(100)})).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let (status, v) = read(false, json!({"inputs": many(101)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["category"], "VALIDATION_ERROR");
    sb.shutdown().await;
}

#[tokio::test]
async fn search_pages_through_10000_results_at_most() {
    let fx = fixture();
    let all: Vec<Value> = deals(10_020)
        .into_iter()
        .map(|mut d| {
            d["archived"] = json!(false);
            d
        })
        .collect();
    write_jsonl(fx.dir.path(), "hubspot", "deals", &all);
    let sb = start(fx.dir.path(), None).await;
    let base = sb.base_url();
    let c = client();
    let token = pslake_sandbox::server::Credentials::default().hubspot_token;
    let search = |after: u64| {
        let c = c.clone();
        let url = format!("{base}/crm/v3/objects/deals/search");
        let token = token.clone();
        async move {
            let r = c
                .post(url)
                .bearer_auth(&token)
                .json(&json!({"limit": 200, "after": after.to_string()}))
                .send()
                .await
                .expect("search");
            (r.status(), r.json::<Value>().await.expect("json"))
        }
    };
    // the last page under the cap still says there is more (total counts every match)
    let (status, v) = search(9_800).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], json!(10_020));
    assert_eq!(v["results"].as_array().expect("results").len(), 200);
    assert_eq!(v["paging"]["next"]["after"], json!("10000"));
    // the next one is refused
    let (status, v) = search(10_000).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["category"], "VALIDATION_ERROR");
    assert!(v["message"].as_str().expect("message").contains("10000"));
    sb.shutdown().await;
}

#[tokio::test]
async fn worker_history_is_a_report_in_file_order() {
    let fx = fixture();
    let rows = vec![
        json!({"Employee_ID": "100002", "Effective_Date": "2019-03-04", "Practice": "Cloud", "Job_Profile": "Consultant",
            "Scheduled_Weekly_Hours": "40", "Hourly_Cost_Rate": "55.10", "Cost_Rate_Currency": "USD"}),
        json!({"Employee_ID": "100002", "Effective_Date": "2026-04-01", "Practice": "Data & Analytics",
            "Job_Profile": "Senior Consultant", "Scheduled_Weekly_Hours": "40", "Hourly_Cost_Rate": "62.00",
            "Cost_Rate_Currency": "USD"}),
        json!({"Employee_ID": "100001", "Effective_Date": "2020-01-06", "Practice": "Cloud", "Job_Profile": "Analyst",
            "Scheduled_Weekly_Hours": "37.5", "Hourly_Cost_Rate": "41.00", "Cost_Rate_Currency": "GBP"}),
    ];
    write_jsonl(fx.dir.path(), "workday", "Worker_History", &rows);
    let sb = start(fx.dir.path(), None).await;
    let got = workday_report(&client(), &sb.base_url(), "Worker_History").await;
    assert_eq!(got, rows, "every value a string, in file order");
    sb.shutdown().await;
}

/// SPEC section 6: any directory in the layout runs. One written before SPEC 4b (no history
/// files, deals without histories, jobs without `datecreated`) serves the new data empty.
#[tokio::test]
async fn a_fixture_dir_without_the_new_files_serves_them_empty() {
    let fx = fixture();
    let dir = fx.dir.path();
    std::fs::remove_file(dir.join("salesforce/OpportunityHistory.jsonl")).expect("rm");
    std::fs::remove_file(dir.join("workday/Worker_History.jsonl")).expect("rm");
    let sb = start(dir, None).await;
    let base = sb.base_url();
    let c = client();
    let token = sf_token(&c, &base).await;
    let soql = format!(
        "SELECT {SF_HISTORY_FIELDS} FROM OpportunityHistory WHERE SystemModstamp >= 1970-01-01T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC"
    );
    let (rows, pages) = sf_all(&c, &base, &token, "queryAll", &soql, 2000).await;
    assert_eq!((rows.len(), pages), (0, 1));
    assert_eq!(
        workday_report(&c, &base, "Worker_History").await,
        Vec::<Value>::new()
    );
    let (got, _) = hubspot_list(&c, &base, false, "dealstage", 100).await;
    assert!(!got.is_empty());
    let r = c
        .get(format!("{base}/crm/v3/objects/deals"))
        .bearer_auth(pslake_sandbox::server::Credentials::default().hubspot_token)
        .query(&[("propertiesWithHistory", "dealstage,amount")])
        .send()
        .await
        .expect("list");
    let v: Value = r.json().await.expect("json");
    for d in v["results"].as_array().expect("results") {
        assert_eq!(
            d["propertiesWithHistory"],
            json!({"dealstage": [], "amount": []})
        );
    }
    // the hand-written jobs have no datecreated: NetSuite leaves a NULL out of the item
    let (jobs, _) = netsuite_all(
        &c,
        &base,
        "SELECT j.id, TO_CHAR(j.datecreated, 'YYYY-MM-DD') AS datecreated FROM job j ORDER BY j.id",
        1000,
    )
    .await;
    assert_eq!(jobs.len(), 130);
    assert!(jobs.iter().all(|j| j.get("datecreated").is_none()));
    sb.shutdown().await;
}

#[tokio::test]
async fn job_datecreated_is_read_with_to_char() {
    let fx = fixture();
    let mut jobs = crate::server::ns_rows(3, "job");
    for (i, j) in jobs.iter_mut().enumerate() {
        j["datecreated"] = json!(format!("{}/2/2026", i + 1));
    }
    write_jsonl(fx.dir.path(), "netsuite", "job", &jobs);
    let sb = start(fx.dir.path(), None).await;
    let (items, _) = netsuite_all(
        &client(),
        &sb.base_url(),
        "SELECT j.id, j.datecreated AS raw, TO_CHAR(j.datecreated, 'YYYY-MM-DD') AS datecreated FROM job j ORDER BY j.id",
        10,
    )
    .await;
    assert_eq!(ids(&items, "id"), ["101", "102", "103"]);
    assert_eq!(
        items
            .iter()
            .map(|j| (j["raw"].clone(), j["datecreated"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("3/2/2026"), json!("2026-03-02")),
            (json!("2/2/2026"), json!("2026-02-02")),
            (json!("1/2/2026"), json!("2026-01-02")),
        ]
    );
    sb.shutdown().await;
}
