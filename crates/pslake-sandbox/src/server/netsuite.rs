//! NetSuite SuiteQL over REST: `POST /services/rest/query/v1/suiteql?limit=N&offset=M`.
//!
//! Needs `Prefer: transient` and a bearer token. `limit` is 1 to 1000 (default 1000). One query
//! yields at most 100,000 results (`SandboxConfig::netsuite_max_results`): an `offset` at or past
//! the cap is a 400, and the pages stop there (`totalResults` and `hasMore` still tell the whole
//! result; `WHERE id > <last id> ORDER BY id` reaches the rest). The
//! SuiteQL subset: `SELECT * | col, ... FROM customer|job|invoice_line|expense_line [alias]
//! [WHERE cond [AND cond ...]] [ORDER BY id|lastmodifieddate [ASC|DESC], ...]`, where a condition
//! compares `lastmodifieddate` with `'3/1/2026'`, `'2026-03-01'`, `TO_DATE('2026-03-01',
//! 'YYYY-MM-DD')` or `TO_TIMESTAMP('2026-03-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')` (a date-only
//! `lastmodifieddate` is its midnight), or `id` with a number. Column names may carry an
//! `alias.` prefix. Rows come in id order (numeric-aware) unless ordered otherwise; ties keep id order.
//! Items carry `"links":[]` first, then the selected columns (a record lacking one omits it).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::faults::json_response;
use super::json;
use super::salesforce::{Op, SoqlError, Tok, is_kw, tokenize};
use super::store::{Id, SortKey, Table};
use super::{AppState, bearer, query_pairs};

/// At most this many results per SuiteQL query (SPEC section 2).
pub(crate) const MAX_RESULTS: usize = 100_000;

const TABLES: &[(&str, &[&str])] = &[
    (
        "customer",
        &[
            "id",
            "entityid",
            "companyname",
            "custentity_sf_account_id",
            "currency",
            "lastmodifieddate",
        ],
    ),
    (
        "job",
        &[
            "id",
            "entityid",
            "companyname",
            "parent",
            "entitystatus",
            "jobbillingtype",
            "startdate",
            "projectedenddate",
            "currency",
            "custentity_crm_opportunity_id",
            "custentity_budget_hours",
            "custentity_practice",
            "lastmodifieddate",
        ],
    ),
    (
        "invoice_line",
        &[
            "id",
            "tranid",
            "trandate",
            "status",
            "job",
            "foreignamount",
            "currency",
            "lastmodifieddate",
        ],
    ),
    (
        "expense_line",
        &[
            "id",
            "trandate",
            "job",
            "category",
            "foreignamount",
            "currency",
            "lastmodifieddate",
        ],
    ),
];

fn ns_error(status: StatusCode, title: &str, code: &str, detail: &str) -> Response {
    let section = match status.as_u16() {
        400 => "15.5.1",
        401 => "15.5.2",
        404 => "15.5.5",
        _ => "15.6.1",
    };
    let body = serde_json::json!({
        "type": format!("https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"),
        "title": title,
        "status": status.as_u16(),
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    });
    json_response(status, body.to_string())
}

fn bad_request(code: &str, detail: &str) -> Response {
    ns_error(StatusCode::BAD_REQUEST, "Bad Request", code, detail)
}

fn bad_query(detail: &str) -> Response {
    bad_request(
        "INVALID_PARAMETER",
        &format!("Invalid search query. Detailed unprocessed description follows. {detail}"),
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Modified(Op, i64),
    Id(Op, Id),
}

#[derive(Debug)]
struct Query {
    table: &'static str,
    /// `None` for `*`.
    columns: Option<Vec<String>>,
    conds: Vec<Cond>,
    order: Vec<(SortKey, bool)>,
}

fn column(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn resolve(table: &Table, spec: &[&str], name: &str) -> Result<String, String> {
    let name = column(name);
    table
        .keys
        .iter()
        .map(String::as_str)
        .chain(spec.iter().copied())
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "Search error occurred: Field '{name}' for record '{}' was not found. Reason: NOT_EXPOSED - Not available for channel SEARCH",
                table.stream.stream
            )
        })
}

fn literal_instant(toks: &[Tok], i: &mut usize) -> Result<i64, String> {
    match toks.get(*i) {
        Some(Tok::Str(s)) => {
            *i += 1;
            json::parse_ns_datetime(s).ok_or_else(|| format!("cannot read '{s}' as a date"))
        }
        Some(Tok::Word(f))
            if f.eq_ignore_ascii_case("TO_DATE") || f.eq_ignore_ascii_case("TO_TIMESTAMP") =>
        {
            let (Some(Tok::Paren('(')), Some(Tok::Str(v))) = (toks.get(*i + 1), toks.get(*i + 2))
            else {
                return Err(format!("expected {f}('value', 'format')"));
            };
            let mut j = *i + 3;
            if toks.get(j) == Some(&Tok::Comma) {
                j += 2;
            }
            if toks.get(j) != Some(&Tok::Paren(')')) {
                return Err(format!("expected ')' closing {f}"));
            }
            *i = j + 1;
            json::parse_ns_datetime(v).ok_or_else(|| format!("cannot read '{v}' as a date"))
        }
        _ => Err("expected a date literal".into()),
    }
}

fn parse_query<'a>(q: &str, tables: impl Fn(&str) -> Option<&'a Table>) -> Result<Query, String> {
    let toks = tokenize(q).map_err(|e| match e {
        SoqlError::Malformed(m) => m,
        other => format!("{other:?}"),
    })?;
    if !is_kw(toks.first(), "SELECT") {
        return Err("expected SELECT".into());
    }
    let mut i = 1;
    let mut raw_cols = Vec::new();
    loop {
        match toks.get(i) {
            Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("FROM") => raw_cols.push(w.clone()),
            _ => return Err("expected a column name".into()),
        }
        i += 1;
        match toks.get(i) {
            Some(Tok::Comma) => i += 1,
            t if is_kw(t, "FROM") => break,
            _ => return Err("expected ',' or FROM after a column".into()),
        }
    }
    i += 1;
    let Some(Tok::Word(tname)) = toks.get(i) else {
        return Err("expected a table name after FROM".into());
    };
    let Some(&(name, spec)) = TABLES.iter().find(|(n, _)| n.eq_ignore_ascii_case(tname)) else {
        return Err(format!(
            "Search error occurred: Record '{tname}' was not found."
        ));
    };
    let table = tables(name).ok_or_else(|| format!("Record '{tname}' was not found."))?;
    i += 1;
    if let Some(Tok::Word(w)) = toks.get(i)
        && !["WHERE", "ORDER"].iter().any(|k| w.eq_ignore_ascii_case(k))
    {
        i += 1; // table alias
    }
    let columns = if raw_cols.len() == 1 && column(&raw_cols[0]) == "*" {
        None
    } else {
        Some(
            raw_cols
                .iter()
                .map(|c| resolve(table, spec, c))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let mut conds = Vec::new();
    if is_kw(toks.get(i), "WHERE") {
        i += 1;
        loop {
            let Some(Tok::Word(c)) = toks.get(i) else {
                return Err("expected a column in WHERE".into());
            };
            let col = resolve(table, spec, c)?;
            let Some(Tok::Op(op)) = toks.get(i + 1) else {
                return Err("expected a comparison operator".into());
            };
            let op = Op::parse(op).ok_or("unknown comparison operator")?;
            i += 2;
            match col.as_str() {
                "lastmodifieddate" => {
                    conds.push(Cond::Modified(op, literal_instant(&toks, &mut i)?))
                }
                "id" => {
                    let v = match toks.get(i) {
                        Some(Tok::Word(w)) | Some(Tok::Str(w)) => w.clone(),
                        _ => return Err("expected an id value".into()),
                    };
                    i += 1;
                    conds.push(Cond::Id(op, Id::from_str(&v)));
                }
                other => {
                    return Err(format!(
                        "the sandbox filters on lastmodifieddate and id only, not {other}"
                    ));
                }
            }
            if is_kw(toks.get(i), "AND") {
                i += 1;
                continue;
            }
            break;
        }
    }
    let mut order = Vec::new();
    if is_kw(toks.get(i), "ORDER") && is_kw(toks.get(i + 1), "BY") {
        i += 2;
        loop {
            let Some(Tok::Word(c)) = toks.get(i) else {
                return Err("expected a column in ORDER BY".into());
            };
            let key = match resolve(table, spec, c)?.as_str() {
                "id" => SortKey::Id,
                "lastmodifieddate" => SortKey::Cursor,
                other => {
                    return Err(format!(
                        "the sandbox orders by id and lastmodifieddate only, not {other}"
                    ));
                }
            };
            i += 1;
            let mut desc = false;
            if is_kw(toks.get(i), "ASC") {
                i += 1;
            } else if is_kw(toks.get(i), "DESC") {
                desc = true;
                i += 1;
            }
            order.push((key, desc));
            if toks.get(i) == Some(&Tok::Comma) {
                i += 1;
                continue;
            }
            break;
        }
    }
    if i < toks.len() {
        return Err("unexpected text after the end of the query".into());
    }
    Ok(Query {
        table: name,
        columns,
        conds,
        order,
    })
}

fn push_item(out: &mut Vec<u8>, raw: &[u8], columns: Option<&[String]>) {
    match columns {
        None => {
            let members = json::members(raw);
            if members.first().is_some_and(|m| m.key == "links") {
                out.extend_from_slice(raw);
            } else {
                let inner = json::inner(raw);
                out.extend_from_slice(b"{\"links\":[]");
                if !inner.is_empty() {
                    out.push(b',');
                    out.extend_from_slice(inner);
                }
                out.push(b'}');
            }
        }
        Some(cols) => {
            let members = json::members(raw);
            out.extend_from_slice(b"{\"links\":[]");
            for c in cols {
                if let Some(m) = members.iter().find(|m| m.key == c.as_str()) {
                    out.push(b',');
                    json::push_str(out, c);
                    out.push(b':');
                    out.extend_from_slice(m.value);
                }
            }
            out.push(b'}');
        }
    }
}

/// `POST /services/rest/query/v1/suiteql`.
pub(crate) async fn suiteql(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let authorized =
        bearer(&headers).is_some_and(|t| t == state.creds.netsuite_token || state.ns_auth.valid(t));
    if !authorized {
        let mut r = ns_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer error="invalid_token", error_description="Invalid login attempt.""#,
            ),
        );
        return r;
    }
    let transient = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("transient"))
        });
    if !transient {
        return bad_request(
            "INVALID_HEADER",
            "Invalid 'Prefer' header. SuiteQL queries require the header 'Prefer: transient'.",
        );
    }
    let params = query_pairs(raw.as_deref().unwrap_or(""));
    let limit = match params.get("limit").map(|s| s.trim().parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return bad_request(
                "INVALID_PARAMETER",
                "Invalid value for the query parameter 'limit'. Provide a value between 1 and 1000.",
            );
        }
    };
    let offset = match params.get("offset").map(|s| s.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return bad_request(
                "INVALID_PARAMETER",
                "Invalid value for the query parameter 'offset'. Provide a non-negative integer.",
            );
        }
    };
    let cap = state.netsuite_max_results;
    if offset >= cap {
        return bad_request(
            "INVALID_PARAMETER",
            &format!(
                "Invalid value for the query parameter 'offset'. A SuiteQL query returns at most {cap} results: provide an offset below {cap}, or narrow the query (e.g. WHERE id > <last id> ORDER BY id)."
            ),
        );
    }
    let q = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("q").and_then(Value::as_str) {
            Some(q) => q.to_string(),
            None => {
                return bad_request(
                    "INVALID_CONTENT",
                    "The request body must be {\"q\": \"<SuiteQL>\"}.",
                );
            }
        },
        Err(e) => return bad_request("INVALID_CONTENT", &format!("Invalid JSON body: {e}")),
    };
    let query = match parse_query(&q, |t| state.store.table("netsuite", t)) {
        Ok(q) => q,
        Err(m) => return bad_query(&m),
    };
    let Some(table) = state.store.table("netsuite", query.table) else {
        return bad_query("unknown table");
    };
    let key = format!(
        "netsuite|{}|{:?}|{:?}",
        query.table, query.conds, query.order
    );
    let st = state.clone();
    let (tname, conds, order) = (query.table, query.conds.clone(), query.order.clone());
    let rows = state
        .cache
        .get_or_compute(key, table.len() > 50_000, move || {
            let Some(t) = st.store.table("netsuite", tname) else {
                return Vec::new();
            };
            let mut rows: Vec<u32> = t
                .by_id
                .iter()
                .copied()
                .filter(|&i| {
                    let r = t.rec(i);
                    conds.iter().all(|c| match c {
                        Cond::Modified(op, ms) => r.cursor != i64::MIN && op.test(r.cursor, *ms),
                        Cond::Id(op, id) => op.test(&r.id, id),
                    })
                })
                .collect();
            if !order.is_empty() {
                t.sort(&mut rows, &order);
            }
            rows
        })
        .await;
    // `totalResults` and `hasMore` tell the whole result; pages stop at the cap (an offset at
    // or past it is refused above), so one query never yields more than `cap` rows.
    let total = rows.len();
    let start = offset.min(total);
    let end = (start + limit).min(total).min(cap);
    let has_more = end < total;
    let last_page_cap = cap.saturating_sub(1) / limit * limit;
    let href = |o: usize| {
        format!(
            "{}/services/rest/query/v1/suiteql?limit={limit}&offset={o}",
            state.base_url
        )
    };
    let mut out = Vec::with_capacity(256 + (end - start) * 300);
    out.extend_from_slice(b"{\"links\":[");
    let mut links: Vec<(&str, String)> = Vec::new();
    if start > 0 {
        links.push(("previous", href(start.saturating_sub(limit))));
        links.push(("first", href(0)));
    }
    if has_more && end < cap {
        links.push(("next", href(end)));
    }
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / limit * limit).min(last_page_cap)
    };
    links.push(("last", href(last)));
    links.push(("self", href(offset)));
    for (n, (rel, h)) in links.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"rel\":");
        json::push_str(&mut out, rel);
        out.extend_from_slice(b",\"href\":");
        json::push_str(&mut out, h);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"count\":");
    json::push_u(&mut out, (end - start) as u64);
    out.extend_from_slice(if has_more {
        b",\"hasMore\":true"
    } else {
        b",\"hasMore\":false"
    });
    out.extend_from_slice(b",\"items\":[");
    for (n, &i) in rows[start..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_item(&mut out, table.raw(i), query.columns.as_deref());
    }
    out.extend_from_slice(b"],\"offset\":");
    json::push_u(&mut out, offset as u64);
    out.extend_from_slice(b",\"totalResults\":");
    json::push_u(&mut out, total as u64);
    out.push(b'}');
    json_response(StatusCode::OK, out)
}
