//! Salesforce: OAuth token endpoint, SOQL `query` / `queryAll` and `nextRecordsUrl` paging.
//!
//! The SOQL subset: `SELECT f1, f2, ... FROM Account|Opportunity|OpportunityHistory [WHERE cond
//! [AND cond ...]] [ORDER BY SystemModstamp|Id [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n]
//! [OFFSET n]` where a condition is `SystemModstamp <op> <datetime literal>` (unquoted, `Z`,
//! `+0000` or `+00:00`) or `IsDeleted = true|false`. Keywords and field names are
//! case-insensitive; fields come back in the canonical casing, in `SELECT` order. Without
//! `ORDER BY`, records come in `Id` order. A fixture directory without
//! `salesforce/OpportunityHistory.jsonl` answers that object's queries with no records.
//! `query` leaves out `IsDeleted = true` rows, `queryAll` keeps them. The matching row list is
//! kept server-side under a locator (at most 2,000 locators, dropped after 15 idle minutes).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;

use super::faults::json_response;
use super::store::{SortKey, Table};
use super::{AppState, bearer, json, query_pairs};

const ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Industry",
    "BillingCountry",
    "CurrencyIsoCode",
    "IsDeleted",
    "SystemModstamp",
];
const OPPORTUNITY_FIELDS: &[&str] = &[
    "Id",
    "AccountId",
    "Name",
    "StageName",
    "Amount",
    "CurrencyIsoCode",
    "CloseDate",
    "Probability",
    "Type",
    "IsClosed",
    "IsWon",
    "IsDeleted",
    "Billing_Type__c",
    "Practice__c",
    "Estimated_Hours__c",
    "Start_Date__c",
    "End_Date__c",
    "Parent_Opportunity__c",
    "SystemModstamp",
];

/// `OpportunityHistory` (SPEC section 4b): one row per change of an opportunity's stage, amount,
/// probability or close date, read only (its `CreatedDate` is the change's time).
const OPPORTUNITY_HISTORY_FIELDS: &[&str] = &[
    "Id",
    "OpportunityId",
    "StageName",
    "Amount",
    "Probability",
    "CloseDate",
    "CreatedDate",
    "IsDeleted",
    "SystemModstamp",
];

/// The objects the sandbox queries, with the fields SPEC sections 2 and 4b give them.
const OBJECTS: &[(&str, &[&str])] = &[
    ("Account", ACCOUNT_FIELDS),
    ("Opportunity", OPPORTUNITY_FIELDS),
    ("OpportunityHistory", OPPORTUNITY_HISTORY_FIELDS),
];

const MAX_LOCATORS: usize = 2000;
const LOCATOR_IDLE: Duration = Duration::from_secs(15 * 60);
const MAX_TOKENS: usize = 10_000;

/// Server-side Salesforce state: issued tokens, query locators, the API usage counter.
#[derive(Debug, Default)]
pub(crate) struct SfState {
    tokens: Mutex<(HashSet<String>, VecDeque<String>)>,
    locators: Mutex<HashMap<String, Locator>>,
    counter: AtomicU64,
    pub(crate) api_usage: AtomicU64,
}

/// A stored query: object, projected fields, matching rows, batch size.
type Fetched = (&'static str, Arc<Vec<String>>, Arc<Vec<u32>>, usize);

#[derive(Debug)]
struct Locator {
    object: &'static str,
    fields: Arc<Vec<String>>,
    rows: Arc<Vec<u32>>,
    batch: usize,
    touched: Instant,
}

impl SfState {
    fn issue_token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let token = format!("00DSANDBOX!AQ{n:06}.{nanos:09x}");
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.0.insert(token.clone());
        t.1.push_back(token.clone());
        while t.1.len() > MAX_TOKENS {
            if let Some(old) = t.1.pop_front() {
                t.0.remove(&old);
            }
        }
        token
    }

    pub(crate) fn is_valid(&self, token: &str) -> bool {
        let t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.0.contains(token)
    }

    /// Revoke `token`; true when it was valid.
    pub(crate) fn revoke(&self, token: &str) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.0.remove(token)
    }

    fn store(&self, loc: Locator) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("01gSB{n:013}");
        let mut m = self.locators.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_LOCATORS {
            m.retain(|_, l| l.touched.elapsed() < LOCATOR_IDLE);
            while m.len() >= MAX_LOCATORS {
                let oldest = m
                    .iter()
                    .min_by_key(|(_, l)| l.touched)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => m.remove(&k),
                    None => break,
                };
            }
        }
        m.insert(id.clone(), loc);
        id
    }

    fn fetch(&self, id: &str) -> Option<Fetched> {
        let mut m = self.locators.lock().unwrap_or_else(|p| p.into_inner());
        let l = m.get_mut(id)?;
        if l.touched.elapsed() >= LOCATOR_IDLE {
            m.remove(id);
            return None;
        }
        l.touched = Instant::now();
        Some((l.object, l.fields.clone(), l.rows.clone(), l.batch))
    }
}

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut body = Vec::new();
    body.extend_from_slice(b"[{\"message\":");
    json::push_str(&mut body, message);
    body.extend_from_slice(b",\"errorCode\":");
    json::push_str(&mut body, code);
    body.extend_from_slice(b"}]");
    json_response(status, body)
}

/// 401 `INVALID_SESSION_ID`.
pub(crate) fn invalid_session() -> Response {
    let mut r = sf_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    );
    r.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Token"),
    );
    r
}

fn oauth_error(error: &str, description: &str) -> Response {
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"error\":");
    json::push_str(&mut body, error);
    body.extend_from_slice(b",\"error_description\":");
    json::push_str(&mut body, description);
    body.push(b'}');
    json_response(StatusCode::BAD_REQUEST, body)
}

/// `POST /services/oauth2/token`.
pub(crate) async fn token(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: HashMap<String, String> = query_pairs(query.as_deref().unwrap_or(""));
    params.extend(url::form_urlencoded::parse(&body).into_owned());
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let creds = &state.creds;
    let ok = match get("grant_type") {
        "client_credentials" => {
            get("client_id") == creds.salesforce_client_id
                && get("client_secret") == creds.salesforce_client_secret
        }
        "refresh_token" => {
            get("client_id") == creds.salesforce_client_id
                && (get("client_secret").is_empty()
                    || get("client_secret") == creds.salesforce_client_secret)
                && !get("refresh_token").is_empty()
        }
        "" => return oauth_error("invalid_request", "grant type not specified"),
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    if !ok {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let token = state.sf.issue_token();
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    let signature = base64::engine::general_purpose::STANDARD.encode(format!("{token}{issued_at}"));
    let body = serde_json::json!({
        "access_token": token,
        "instance_url": state.base_url,
        "id": format!("{}/id/00DSANDBOX000001/005SANDBOX000001", state.base_url),
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
    });
    json_response(StatusCode::OK, body.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub(crate) fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "=" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            _ => return None,
        })
    }

    pub(crate) fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Cond {
    Modstamp(Op, i64),
    Deleted(Op, bool),
}

#[derive(Debug)]
struct Soql {
    fields: Vec<String>,
    object: &'static str,
    conds: Vec<Cond>,
    order: Vec<(SortKey, bool)>,
    limit: Option<usize>,
    offset: usize,
}

#[derive(Debug)]
pub(crate) enum SoqlError {
    Malformed(String),
    InvalidField(String, &'static str),
    InvalidType(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Word(String),
    Comma,
    Op(String),
    Str(String),
    Paren(char),
}

pub(crate) fn tokenize(q: &str) -> Result<Vec<Tok>, SoqlError> {
    let b: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(Tok::Paren(c));
            i += 1;
        } else if matches!(c, '<' | '>' | '=' | '!') {
            let mut op = c.to_string();
            if i + 1 < b.len() && matches!(b[i + 1], '=' | '>') && c != '=' {
                op.push(b[i + 1]);
                i += 1;
            }
            out.push(Tok::Op(op));
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(SoqlError::Malformed("unterminated string literal".into())),
                    Some('\\') => {
                        if let Some(n) = b.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let start = i;
            while i < b.len()
                && !b[i].is_whitespace()
                && !matches!(b[i], ',' | '(' | ')' | '<' | '>' | '=' | '!' | '\'')
            {
                i += 1;
            }
            out.push(Tok::Word(b[start..i].iter().collect()));
        }
    }
    Ok(out)
}

fn resolve_field(table: &Table, object: &'static str, name: &str) -> Result<String, SoqlError> {
    let spec = OBJECTS
        .iter()
        .find(|(o, _)| *o == object)
        .map_or(&[][..], |(_, f)| *f);
    table
        .keys
        .iter()
        .map(String::as_str)
        .chain(spec.iter().copied())
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(str::to_string)
        .ok_or_else(|| SoqlError::InvalidField(name.to_string(), object))
}

pub(crate) fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

fn parse_soql<'a>(
    q: &str,
    tables: impl Fn(&'static str) -> Option<&'a Table>,
) -> Result<Soql, SoqlError> {
    let toks = tokenize(q)?;
    let mal = |m: &str| SoqlError::Malformed(m.to_string());
    let mut i = 0;
    if !is_kw(toks.first(), "SELECT") {
        return Err(mal("expected SELECT"));
    }
    i += 1;
    let mut raw_fields = Vec::new();
    loop {
        match toks.get(i) {
            Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("FROM") => raw_fields.push(w.clone()),
            Some(Tok::Paren(_)) => {
                return Err(mal(
                    "functions and FIELDS() are not supported by the sandbox",
                ));
            }
            _ => return Err(mal("expected a field name")),
        }
        i += 1;
        match toks.get(i) {
            Some(Tok::Comma) => i += 1,
            t if is_kw(t, "FROM") => break,
            _ => return Err(mal("unexpected token: expected ',' or FROM")),
        }
    }
    i += 1;
    let object = match toks.get(i) {
        Some(Tok::Word(w)) => match OBJECTS.iter().find(|(o, _)| o.eq_ignore_ascii_case(w)) {
            Some((o, _)) => *o,
            None => return Err(SoqlError::InvalidType(w.clone())),
        },
        _ => return Err(mal("expected an object name after FROM")),
    };
    i += 1;
    let table = tables(object).ok_or_else(|| SoqlError::InvalidType(object.to_string()))?;
    let fields = raw_fields
        .iter()
        .map(|f| resolve_field(table, object, f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut conds = Vec::new();
    if is_kw(toks.get(i), "WHERE") {
        i += 1;
        loop {
            let Some(Tok::Word(f)) = toks.get(i) else {
                return Err(mal("expected a field name in WHERE"));
            };
            let field = resolve_field(table, object, f)?;
            let Some(Tok::Op(op)) = toks.get(i + 1) else {
                return Err(mal("expected a comparison operator"));
            };
            let op = Op::parse(op).ok_or_else(|| mal("unknown comparison operator"))?;
            i += 2;
            let value = match toks.get(i) {
                Some(Tok::Word(w)) | Some(Tok::Str(w)) => w.clone(),
                _ => return Err(mal("expected a value")),
            };
            i += 1;
            match field.as_str() {
                "SystemModstamp" | "LastModifiedDate" => {
                    let mut lit = value;
                    // A `+` left unencoded in the URL arrives as a space: `...00.000 0000`.
                    if let Some(Tok::Word(w)) = toks.get(i)
                        && (w.len() == 4 || w.len() == 5)
                        && w.chars().all(|c| c.is_ascii_digit() || c == ':')
                    {
                        lit = format!("{lit}+{w}");
                        i += 1;
                    }
                    let t = json::parse_instant(&lit)
                        .filter(|_| lit.contains('T'))
                        .ok_or_else(|| {
                            SoqlError::Malformed(format!(
                                "value of filter criterion for field '{field}' must be of type dateTime and should not be enclosed in quotes: {lit}"
                            ))
                        })?;
                    conds.push(Cond::Modstamp(op, t));
                }
                "IsDeleted" => {
                    let v = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(mal("IsDeleted must be compared with true or false")),
                    };
                    if !matches!(op, Op::Eq | Op::Ne) {
                        return Err(mal("IsDeleted takes = or !="));
                    }
                    conds.push(Cond::Deleted(op, v));
                }
                _ => {
                    return Err(SoqlError::Malformed(format!(
                        "the sandbox filters on SystemModstamp and IsDeleted only, not {field}"
                    )));
                }
            }
            if is_kw(toks.get(i), "AND") {
                i += 1;
                continue;
            }
            if is_kw(toks.get(i), "OR") {
                return Err(mal("OR is not supported by the sandbox"));
            }
            break;
        }
    }
    let mut order = Vec::new();
    if is_kw(toks.get(i), "ORDER") {
        if !is_kw(toks.get(i + 1), "BY") {
            return Err(mal("expected BY after ORDER"));
        }
        i += 2;
        loop {
            let Some(Tok::Word(f)) = toks.get(i) else {
                return Err(mal("expected a field name in ORDER BY"));
            };
            let key = match resolve_field(table, object, f)?.as_str() {
                "SystemModstamp" | "LastModifiedDate" => SortKey::Cursor,
                "Id" => SortKey::Id,
                other => {
                    return Err(SoqlError::Malformed(format!(
                        "the sandbox orders by SystemModstamp and Id only, not {other}"
                    )));
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
            if is_kw(toks.get(i), "NULLS") {
                i += 2;
            }
            order.push((key, desc));
            if toks.get(i) == Some(&Tok::Comma) {
                i += 1;
                continue;
            }
            break;
        }
    }
    let mut limit = None;
    let mut offset = 0;
    for _ in 0..2 {
        if is_kw(toks.get(i), "LIMIT") || is_kw(toks.get(i), "OFFSET") {
            let is_limit = is_kw(toks.get(i), "LIMIT");
            let n = match toks.get(i + 1) {
                Some(Tok::Word(w)) => w.parse::<usize>().map_err(|_| mal("expected a number"))?,
                _ => return Err(mal("expected a number")),
            };
            if is_limit {
                limit = Some(n);
            } else {
                offset = n;
            }
            i += 2;
        }
    }
    if i < toks.len() {
        return Err(mal("unexpected token after the end of the query"));
    }
    Ok(Soql {
        fields,
        object,
        conds,
        order,
        limit,
        offset,
    })
}

fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let v = headers.get("sforce-query-options")?.to_str().ok()?;
    v.split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("batchSize") {
            v.trim().parse::<usize>().ok().map(|n| n.clamp(200, 2000))
        } else {
            None
        }
    })
}

fn check_auth(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    match bearer(headers) {
        Some(t) if state.sf.is_valid(t) => None,
        _ => Some(invalid_session()),
    }
}

fn table_of<'a>(state: &'a AppState, object: &str) -> Option<&'a Table> {
    state.store.table("salesforce", object)
}

/// `GET /services/data/{version}/query` and `/queryAll`.
pub(crate) async fn query(
    state: State<Arc<AppState>>,
    version: Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    run_query(state, version, headers, raw, false).await
}

/// `GET /services/data/{version}/queryAll`.
pub(crate) async fn query_all(
    state: State<Arc<AppState>>,
    version: Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    run_query(state, version, headers, raw, true).await
}

async fn run_query(
    State(state): State<Arc<AppState>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    all: bool,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let params = query_pairs(raw.as_deref().unwrap_or(""));
    let Some(q) = params.get("q") else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let soql = match parse_soql(q, |o| table_of(&state, o)) {
        Ok(s) => s,
        Err(SoqlError::Malformed(m)) => {
            return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &m);
        }
        Err(SoqlError::InvalidType(t)) => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "INVALID_TYPE",
                &format!(
                    "sObject type '{t}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            );
        }
        Err(SoqlError::InvalidField(f, o)) => {
            return sf_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!(
                    "No such column '{f}' on entity '{o}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            );
        }
    };
    let Some(table) = table_of(&state, soql.object) else {
        return sf_error(StatusCode::BAD_REQUEST, "INVALID_TYPE", "unknown object");
    };
    let mut rows: Vec<u32> = table
        .by_id
        .iter()
        .copied()
        .filter(|&i| {
            let (cursor, flag) = (table.cursor(i), table.flag(i));
            (all || !flag)
                && soql.conds.iter().all(|c| match *c {
                    Cond::Modstamp(op, t) => cursor != i64::MIN && op.test(cursor, t),
                    Cond::Deleted(op, v) => op.test(flag, v),
                })
        })
        .collect();
    if !soql.order.is_empty() {
        table.sort(&mut rows, &soql.order);
    }
    let rows: Vec<u32> = rows
        .into_iter()
        .skip(soql.offset)
        .take(soql.limit.unwrap_or(usize::MAX))
        .collect();
    let batch = batch_size(&headers).unwrap_or(2000);
    let fields = Arc::new(soql.fields);
    let rows = Arc::new(rows);
    let locator = if rows.len() > batch {
        Some(state.sf.store(Locator {
            object: soql.object,
            fields: fields.clone(),
            rows: rows.clone(),
            batch,
            touched: Instant::now(),
        }))
    } else {
        None
    };
    page(
        table,
        &version,
        &fields,
        &rows,
        0,
        batch,
        locator.as_deref(),
    )
}

/// `GET /services/data/{version}/query/{locator}-{offset}`.
pub(crate) async fn next_page(
    State(state): State<Arc<AppState>>,
    Path((version, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let invalid = || {
        sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some((object, fields, rows, stored_batch)) = state.sf.fetch(id) else {
        return invalid();
    };
    if offset > rows.len() {
        return invalid();
    }
    let Some(table) = table_of(&state, object) else {
        return invalid();
    };
    let batch = batch_size(&headers).unwrap_or(stored_batch);
    page(table, &version, &fields, &rows, offset, batch, Some(id))
}

fn page(
    table: &Table,
    version: &str,
    fields: &[String],
    rows: &[u32],
    offset: usize,
    batch: usize,
    locator: Option<&str>,
) -> Response {
    let end = (offset + batch).min(rows.len());
    let done = end >= rows.len();
    let object = table.stream.stream;
    let mut out = Vec::with_capacity(64 + (end - offset) * 512);
    out.extend_from_slice(b"{\"totalSize\":");
    json::push_u(&mut out, rows.len() as u64);
    out.extend_from_slice(if done {
        b",\"done\":true"
    } else {
        b",\"done\":false"
    });
    if let (false, Some(loc)) = (done, locator) {
        out.extend_from_slice(b",\"nextRecordsUrl\":");
        json::push_str(
            &mut out,
            &format!("/services/data/{version}/query/{loc}-{end}"),
        );
    }
    out.extend_from_slice(b",\"records\":[");
    let mut records = table.reader();
    for (n, &i) in rows[offset..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let raw = records.raw(i);
        out.extend_from_slice(b"{\"attributes\":{\"type\":");
        json::push_str(&mut out, object);
        out.extend_from_slice(b",\"url\":");
        json::push_str(
            &mut out,
            &format!("/services/data/{version}/sobjects/{object}/{}", table.id(i)),
        );
        out.push(b'}');
        let members = json::members(raw);
        let identity = members.len() == fields.len()
            && members.iter().zip(fields).all(|(m, f)| m.key == f.as_str());
        if identity {
            let inner = json::inner(raw);
            if !inner.is_empty() {
                out.push(b',');
                out.extend_from_slice(inner);
            }
        } else {
            for f in fields {
                out.push(b',');
                json::push_str(&mut out, f);
                out.push(b':');
                match members.iter().find(|m| m.key == f.as_str()) {
                    Some(m) => out.extend_from_slice(m.value),
                    None => out.extend_from_slice(b"null"),
                }
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    json_response(StatusCode::OK, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_datetimes_and_operators() {
        let t =
            tokenize("SELECT Id FROM Account WHERE SystemModstamp>=2026-03-01T00:00:00.000+0000")
                .expect("ok");
        assert_eq!(t[5], Tok::Word("SystemModstamp".into()));
        assert_eq!(t[6], Tok::Op(">=".into()));
        assert_eq!(t[7], Tok::Word("2026-03-01T00:00:00.000+0000".into()));
    }
}
