//! SuiteQL on DataFusion: the NetSuite fixture tables as typed in-memory tables, NetSuite's
//! functions as UDFs, and results written the way NetSuite writes them.
//!
//! The tables (`customer`, `job`, `currency`, `transaction`, `transactionline`) are built once
//! from the fixture records with the columns of SPEC section 2, typed: ids and references
//! `BIGINT`, amounts `DECIMAL` (at the scale they are written with), dates `DATE`, last-modified
//! values `TIMESTAMP`, the rest text (`T`/`F` flags too: SuiteQL compares them as text). A fixture column whose values do not all read as its type stays text and is served
//! as written (a fixture may carry a deliberately bad value). A missing or empty non-text value is
//! NULL.
//!
//! Functions beyond DataFusion's: `TO_CHAR(value [, 'format'])`, `TO_DATE(text [, 'format'])` and
//! `TO_TIMESTAMP(text [, 'format'])` with Oracle format models (`YYYY`, `MM`, `DD`, `HH24`, `MI`,
//! `SS`, ...), and `BUILTIN.DF(field)` (a field's display value: a currency's name, an entity's
//! name, a status's label). Joins, `IN`, `COALESCE`, `CASE`, aggregates and the rest are
//! DataFusion's.
//!
//! Results: every value a string; booleans `T`/`F`; a date or timestamp not formatted by `TO_CHAR`
//! written in the account's date-format preference ([`DateFormat`]); NULLs omitted. Column names
//! are lower case; an unnamed expression is `expr1`, `expr2`, ...

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date32Builder, Decimal128Array, Decimal128Builder,
    Float64Array, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement as SqlStatement, Value as SqlValue, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use serde_json::Value;

use super::json;
use super::store::Store;

/// The account's date-format preference: how NetSuite writes a date a query does not format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateFormat {
    /// `M/D/YYYY` (NetSuite's default; the fixtures' own format).
    #[default]
    MonthDayYear,
    /// `D/M/YYYY`.
    DayMonthYear,
}

impl DateFormat {
    /// Every preference the sandbox offers, as NetSuite names it.
    pub const NAMES: &'static [&'static str] = &["M/D/YYYY", "D/M/YYYY"];

    fn render(self, d: NaiveDate) -> String {
        use chrono::Datelike;
        match self {
            DateFormat::MonthDayYear => format!("{}/{}/{}", d.month(), d.day(), d.year()),
            DateFormat::DayMonthYear => format!("{}/{}/{}", d.day(), d.month(), d.year()),
        }
    }
}

impl std::str::FromStr for DateFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "M/D/YYYY" | "MM/DD/YYYY" => Ok(DateFormat::MonthDayYear),
            "D/M/YYYY" | "DD/MM/YYYY" => Ok(DateFormat::DayMonthYear),
            _ => Err(format!(
                "unknown NetSuite date format '{s}': one of {}",
                DateFormat::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for DateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DateFormat::MonthDayYear => "M/D/YYYY",
            DateFormat::DayMonthYear => "D/M/YYYY",
        })
    }
}

/// How a fixture column is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Num,
    Bool,
    Date,
    Timestamp,
}

use Kind::{Bool, Date, Int, Num, Text, Timestamp};

/// The NetSuite tables the sandbox serves and their columns (SPEC section 2).
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "customer",
        &[
            ("id", Int),
            ("entityid", Text),
            ("companyname", Text),
            ("custentity_sf_account_id", Text),
            ("currency", Int),
            ("lastmodifieddate", Timestamp),
        ],
    ),
    (
        "job",
        &[
            ("id", Int),
            ("entityid", Text),
            ("companyname", Text),
            ("parent", Int),
            ("entitystatus", Text),
            ("jobbillingtype", Text),
            ("startdate", Date),
            ("projectedenddate", Date),
            ("currency", Int),
            ("custentity_crm_opportunity_id", Text),
            ("custentity_budget_hours", Num),
            ("custentity_practice", Text),
            ("datecreated", Date),
            ("lastmodifieddate", Timestamp),
        ],
    ),
    ("currency", &[("id", Int), ("symbol", Text), ("name", Text)]),
    (
        "transaction",
        &[
            ("id", Int),
            ("tranid", Text),
            ("type", Text),
            ("trandate", Date),
            ("entity", Int),
            ("status", Text),
            ("currency", Int),
            ("lastmodifieddate", Timestamp),
        ],
    ),
    (
        "transactionline",
        &[
            ("uniquekey", Int),
            ("id", Int),
            ("transaction", Int),
            ("mainline", Bool),
            ("taxline", Bool),
            ("entity", Int),
            ("foreignamount", Num),
            ("memo", Text),
            ("linelastmodifieddate", Timestamp),
        ],
    ),
];

/// A SuiteQL query's whole result, written as NetSuite items (without `links`).
#[derive(Debug)]
pub(crate) struct QueryResult {
    /// Each item's members after `"links":[]`: `,"name":"value"...` (at most the cap's worth).
    pub(crate) items: Vec<Box<[u8]>>,
    /// The number of rows of the whole result.
    pub(crate) total: usize,
}

/// The SuiteQL engine over one fixture directory.
pub(crate) struct Engine {
    ctx: SessionContext,
    format: DateFormat,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("format", &self.format)
            .finish()
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    json::parse_date(s.trim())
}

fn parse_ts(s: &str) -> Option<i64> {
    json::parse_ns_datetime(s)
}

/// The column of `values` as `kind`, or as text when a value does not read as `kind`.
fn build_column(kind: Kind, values: &[Option<&str>]) -> (DataType, ArrayRef) {
    let text = |values: &[Option<&str>]| -> (DataType, ArrayRef) {
        let mut b = StringBuilder::new();
        for v in values {
            b.append_option(*v);
        }
        (DataType::Utf8, Arc::new(b.finish()))
    };
    macro_rules! typed {
        ($builder:expr, $dt:expr, $parse:expr) => {{
            let mut b = $builder;
            for v in values {
                match v.filter(|s| !s.is_empty()) {
                    None => b.append_null(),
                    Some(s) => match $parse(s) {
                        Some(x) => b.append_value(x),
                        None => return text(values),
                    },
                }
            }
            ($dt, Arc::new(b.finish()) as ArrayRef)
        }};
    }
    match kind {
        Text => text(values),
        Int => typed!(Int64Builder::new(), DataType::Int64, |s: &str| s
            .trim()
            .parse::<i64>()
            .ok()),
        Num => {
            // exact decimals, at the largest scale the column's values are written with, so
            // "1000.00" is served as written
            let scale = values
                .iter()
                .flatten()
                .map(|s| s.trim().split_once('.').map_or(0, |(_, f)| f.len()))
                .max()
                .unwrap_or(0);
            let Ok(scale8) = i8::try_from(scale.min(18)) else {
                return text(values);
            };
            let dt = DataType::Decimal128(38, scale8);
            let parse = |s: &str| parse_decimal(s.trim(), scale);
            let (_, array) = typed!(Decimal128Builder::new(), dt.clone(), parse);
            let array = match array
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .map(|a| a.clone().with_precision_and_scale(38, scale8))
            {
                Some(Ok(a)) => Arc::new(a) as ArrayRef,
                _ => return text(values),
            };
            (dt, array)
        }
        // SuiteQL's booleans are the texts `T` and `F` (`WHERE mainline = 'F'`)
        Bool => text(values),
        Date => typed!(Date32Builder::new(), DataType::Date32, |s: &str| {
            parse_date(s).and_then(|d| i32::try_from(epoch_days(d)).ok())
        }),
        Timestamp => typed!(
            TimestampMillisecondBuilder::new(),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            parse_ts
        ),
    }
}

/// `s` (`-12.5`) as an integer of `scale` decimals; `None` unless it is a plain decimal number.
fn parse_decimal(s: &str, scale: usize) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || frac.len() > scale
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac.len()..scale {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

/// A JSON member value as text: strings as they are, numbers and booleans written out.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "T" } else { "F" }.to_owned()),
        other => Some(other.to_string()),
    }
}

/// Display values for `BUILTIN.DF`, by field name.
#[derive(Debug, Default)]
struct Display {
    /// Currency id → name.
    currency: HashMap<String, String>,
    /// Entity id (customer, job) → name.
    entity: HashMap<String, String>,
}

impl Display {
    fn of(&self, field: &str, v: &str) -> String {
        let look = |m: &HashMap<String, String>| m.get(v).cloned().unwrap_or_else(|| v.to_owned());
        match field {
            "currency" => look(&self.currency),
            "entity" | "parent" | "job" | "customer" => look(&self.entity),
            "type" => match v {
                "CustInvc" => "Invoice".into(),
                "ExpRept" => "Expense Report".into(),
                _ => v.into(),
            },
            "status" => match v {
                "A" => "Open".into(),
                "B" | "G" => "Paid In Full".into(),
                "V" => "Voided".into(),
                _ => v.into(),
            },
            "entitystatus" => match v {
                "1" => "Closed".into(),
                "2" => "In Progress".into(),
                "3" => "Not Awarded".into(),
                "4" => "Pending".into(),
                "5" => "Awarded".into(),
                "6" => "On Hold".into(),
                _ => v.into(),
            },
            "jobbillingtype" => match v {
                "TM" => "Time and Materials".into(),
                "FBI" => "Fixed Bid, Interval".into(),
                "FBM" => "Fixed Bid, Milestone".into(),
                _ => v.into(),
            },
            _ => v.into(),
        }
    }
}

impl Engine {
    /// Builds the tables from `store`'s NetSuite streams.
    pub(crate) fn new(store: &Store, format: DateFormat) -> Result<Engine, String> {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let mut display = Display::default();
        for &(name, columns) in TABLES {
            // column by column, one record parsed at a time: never every record as a JSON map
            let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.len()];
            if let Some(t) = store.table("netsuite", name) {
                for texts in &mut texts {
                    texts.reserve_exact(t.len());
                }
                let mut rows = t.reader();
                for i in 0..t.len() as u32 {
                    let r: serde_json::Map<String, Value> = serde_json::from_slice(rows.raw(i))
                        .map_err(|e| format!("netsuite/{name}.jsonl: {e}"))?;
                    for (texts, &(col, _)) in texts.iter_mut().zip(columns) {
                        texts.push(r.get(col).and_then(value_text));
                    }
                    let get = |k: &str| r.get(k).and_then(value_text);
                    if let (Some(id), Some(n)) = (get("id"), get("companyname"))
                        && (name == "customer" || name == "job")
                    {
                        display.entity.insert(id, n);
                    }
                    if let (Some(id), Some(n)) = (get("id"), get("name"))
                        && name == "currency"
                    {
                        display.currency.insert(id, n);
                    }
                }
            }
            let mut fields = Vec::new();
            let mut arrays = Vec::new();
            for (texts, &(col, kind)) in texts.iter_mut().zip(columns) {
                let column = std::mem::take(texts);
                let refs: Vec<Option<&str>> = column.iter().map(Option::as_deref).collect();
                let (dt, array) = build_column(kind, &refs);
                fields.push(Field::new(col, dt, true));
                arrays.push(array);
            }
            let schema = Arc::new(Schema::new(fields));
            let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
            let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| e.to_string())?;
            ctx.register_table(name, Arc::new(table))
                .map_err(|e| e.to_string())?;
        }
        ctx.register_udf(ScalarUDF::from(ToChar::new()));
        ctx.register_udf(ScalarUDF::from(ToTimestamp::new("to_timestamp")));
        ctx.register_udf(ScalarUDF::from(ToTimestamp::new("to_date")));
        ctx.register_udf(ScalarUDF::from(BuiltinDf {
            signature: Signature::any(2, Volatility::Immutable),
            display: Arc::new(display),
        }));
        Ok(Engine { ctx, format })
    }

    /// Runs one SuiteQL query; `keep` is how many items to write (the rest are only counted).
    /// The error is NetSuite's detail text.
    pub(crate) async fn run(&self, q: &str, keep: usize) -> Result<QueryResult, String> {
        let mut statements = DFParser::parse_sql_with_dialect(q, &GenericDialect {})
            .map_err(|e| format!("Search error occurred: {e}"))?;
        if statements.len() != 1 {
            return Err("Search error occurred: expected exactly one SELECT statement".into());
        }
        let Some(DfStatement::Statement(mut stmt)) = statements.pop_front() else {
            return Err("Search error occurred: only SELECT statements are supported".into());
        };
        if !matches!(*stmt, SqlStatement::Query(_)) {
            return Err("Search error occurred: only SELECT statements are supported".into());
        }
        rewrite_builtin_df(&mut stmt);
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(DfStatement::Statement(stmt))
            .await
            .map_err(search_error)?;
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(search_error)?;
        let batches = df.collect().await.map_err(search_error)?;
        let mut total = 0usize;
        let mut items = Vec::new();
        let mut names: Option<Vec<String>> = None;
        for batch in &batches {
            total += batch.num_rows();
            let names = names.get_or_insert_with(|| column_names(batch.schema().fields()));
            for row in 0..batch.num_rows() {
                if items.len() >= keep {
                    break;
                }
                let mut out = Vec::with_capacity(64 * names.len());
                for (c, name) in names.iter().enumerate() {
                    if let Some(v) = self.cell(batch.column(c), row) {
                        out.push(b',');
                        json::push_str(&mut out, name);
                        out.push(b':');
                        json::push_str(&mut out, &v);
                    }
                }
                items.push(out.into_boxed_slice());
            }
        }
        Ok(QueryResult { items, total })
    }

    /// One value as NetSuite writes it, `None` for NULL.
    fn cell(&self, a: &ArrayRef, row: usize) -> Option<String> {
        if a.is_null(row) {
            return None;
        }
        let any = a.as_any();
        if let Some(b) = any.downcast_ref::<BooleanArray>() {
            return Some(if b.value(row) { "T" } else { "F" }.to_owned());
        }
        if let Some(d) = any.downcast_ref::<Date32Array>() {
            return d.value_as_date(row).map(|d| self.format.render(d));
        }
        if let Some(t) = any.downcast_ref::<TimestampMillisecondArray>() {
            return t
                .value_as_datetime(row)
                .map(|t| self.format.render(t.date()));
        }
        if let DataType::Timestamp(..) = a.data_type() {
            let t = datafusion::arrow::compute::cast(
                a,
                &DataType::Timestamp(TimeUnit::Millisecond, None),
            )
            .ok()?;
            return self.cell(&t, row);
        }
        if let Some(f) = any.downcast_ref::<Float64Array>() {
            return Some(f.value(row).to_string());
        }
        if let Some(i) = any.downcast_ref::<Int64Array>() {
            return Some(i.value(row).to_string());
        }
        if let Some(s) = any.downcast_ref::<StringArray>() {
            return Some(s.value(row).to_owned());
        }
        array_value_to_string(a, row).ok()
    }
}

fn search_error(e: DataFusionError) -> String {
    let msg = e.to_string();
    let msg = msg.strip_prefix("Error during planning: ").unwrap_or(&msg);
    format!("Search error occurred: {msg}")
}

/// Lower-case names; an expression without a plain name is `exprN`.
fn column_names(fields: &datafusion::arrow::datatypes::Fields) -> Vec<String> {
    let mut n = 0;
    fields
        .iter()
        .map(|f| {
            let name = f.name().to_ascii_lowercase();
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                name
            } else {
                n += 1;
                format!("expr{n}")
            }
        })
        .collect()
}

/// `BUILTIN.DF(x.field)` becomes `builtin_df(x.field, 'field')`, so the function knows which
/// field's display value to give.
fn rewrite_builtin_df(stmt: &mut SqlStatement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let SqlExpr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case("BUILTIN.DF")
            && let FunctionArguments::List(list) = &mut f.args
            && list.args.len() == 1
        {
            let field = match &list.args[0] {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Identifier(i))) => {
                    i.value.to_ascii_lowercase()
                }
                FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::CompoundIdentifier(p))) => p
                    .last()
                    .map(|i| i.value.to_ascii_lowercase())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(
                    SqlValue::SingleQuotedString(field).into(),
                ))));
            f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("builtin_df"))]);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// An Oracle format model (`YYYY-MM-DD HH24:MI:SS`) as a chrono format; whether it has a time.
fn oracle_format(fmt: &str) -> Result<(String, bool), String> {
    let mut out = String::new();
    let mut time = false;
    let upper = fmt.to_ascii_uppercase();
    let b = upper.as_bytes();
    let mut i = 0;
    const TOKENS: &[(&str, &str, bool)] = &[
        ("YYYY", "%Y", false),
        ("HH24", "%H", true),
        ("HH12", "%I", true),
        ("MONTH", "%B", false),
        ("FF3", "%3f", true),
        ("MON", "%b", false),
        ("DAY", "%A", false),
        ("YY", "%y", false),
        ("MM", "%m", false),
        ("DD", "%d", false),
        ("DY", "%a", false),
        ("HH", "%I", true),
        ("MI", "%M", true),
        ("SS", "%S", true),
        ("AM", "%p", true),
        ("PM", "%p", true),
        ("FF", "%3f", true),
    ];
    'outer: while i < b.len() {
        if b[i] == b'"' {
            let end = upper[i + 1..]
                .find('"')
                .ok_or_else(|| format!("unterminated quoted text in format '{fmt}'"))?;
            out.push_str(&fmt[i + 1..i + 1 + end].replace('%', "%%"));
            i += end + 2;
            continue;
        }
        for (tok, chrono_fmt, is_time) in TOKENS {
            if upper[i..].starts_with(tok) {
                out.push_str(chrono_fmt);
                time |= is_time;
                i += tok.len();
                continue 'outer;
            }
        }
        let c = fmt[i..].chars().next().unwrap_or(' ');
        if c.is_ascii_alphanumeric() {
            return Err(format!("unknown element '{}' in format '{fmt}'", &fmt[i..]));
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        i += c.len_utf8();
    }
    Ok((out, time))
}

fn epoch_days(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

/// The text argument `i` of `args` (a scalar or an array) at `row`.
fn arg_text(arrays: &[ArrayRef], i: usize, row: usize) -> Option<String> {
    let a = arrays.get(i)?;
    if a.is_null(row) {
        return None;
    }
    array_value_to_string(a, row).ok()
}

fn exec_err(msg: String) -> DataFusionError {
    DataFusionError::Execution(msg)
}

/// `TO_CHAR(value [, format])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
}

impl ToChar {
    fn new() -> Self {
        ToChar {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.is_empty() || args.args.len() > 2 {
            return Err(exec_err("TO_CHAR takes a value and a format".into()));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let value = &arrays[0];
        let ts = match value.data_type() {
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
                Some(datafusion::arrow::compute::cast(
                    value,
                    &DataType::Timestamp(TimeUnit::Millisecond, None),
                )?)
            }
            _ => None,
        };
        let mut out = StringBuilder::new();
        // The format parsed once (it is the same for every row but for odd queries), not per
        // row: parsing it row by row was 5 % of the sandbox's CPU serving a scale-100 run.
        let cannot = |f: &str| exec_err(format!("cannot format with '{f}'"));
        let plain = StrftimeItems::new("%Y-%m-%d %H:%M:%S")
            .parse_to_owned()
            .map_err(|_| cannot("YYYY-MM-DD HH24:MI:SS"))?;
        let mut parsed: Option<(String, Vec<Item<'static>>)> = None;
        for row in 0..args.number_rows {
            let fmt = arg_text(&arrays, 1, row);
            let instant: Option<NaiveDateTime> = match &ts {
                Some(t) => {
                    let t = t
                        .as_any()
                        .downcast_ref::<TimestampMillisecondArray>()
                        .expect("cast to ms timestamps");
                    if t.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    t.value_as_datetime(row)
                }
                None => {
                    let Some(s) = arg_text(&arrays, 0, row) else {
                        out.append_null();
                        continue;
                    };
                    // a text value: a date in the fixtures' own format is formatted, anything else
                    // (a number, a bad value) comes back as it is
                    match (fmt.as_ref(), parse_ts(&s)) {
                        (Some(_), Some(ms)) if parse_date(&s).is_some() || s.contains(' ') => {
                            chrono::DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc())
                        }
                        _ => {
                            out.append_value(s);
                            continue;
                        }
                    }
                }
            };
            let Some(instant) = instant else {
                out.append_null();
                continue;
            };
            let items = match &fmt {
                None => &plain,
                Some(f) => {
                    if parsed.as_ref().is_none_or(|(k, _)| k != f) {
                        let (chrono_fmt, _) = oracle_format(f).map_err(exec_err)?;
                        let items = StrftimeItems::new(&chrono_fmt)
                            .parse_to_owned()
                            .map_err(|_| cannot(f))?;
                        parsed = Some((f.clone(), items));
                    }
                    &parsed.as_ref().expect("parsed just above").1
                }
            };
            let mut text = String::new();
            write!(text, "{}", instant.format_with_items(items.iter()))
                .map_err(|_| cannot(fmt.as_deref().unwrap_or("YYYY-MM-DD HH24:MI:SS")))?;
            out.append_value(text);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `TO_TIMESTAMP(text [, format])` and `TO_DATE(text [, format])` (an Oracle `DATE` has a time
/// of day too): a timestamp.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimestamp {
    name: &'static str,
    signature: Signature,
}

impl ToTimestamp {
    fn new(name: &'static str) -> Self {
        ToTimestamp {
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn parse_with(s: &str, fmt: Option<&str>) -> Result<NaiveDateTime, String> {
    let s = s.trim();
    match fmt {
        Some(f) => {
            let (chrono_fmt, time) = oracle_format(f)?;
            let parsed = if time {
                NaiveDateTime::parse_from_str(s, &chrono_fmt).ok()
            } else {
                NaiveDate::parse_from_str(s, &chrono_fmt)
                    .ok()
                    .map(|d| d.and_time(NaiveTime::MIN))
            };
            parsed.ok_or_else(|| format!("'{s}' does not match the format '{f}'"))
        }
        None => parse_ts(s)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.naive_utc())
            .ok_or_else(|| format!("cannot read '{s}' as a date")),
    }
}

impl ScalarUDFImpl for ToTimestamp {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.is_empty() || args.args.len() > 2 {
            return Err(exec_err(format!(
                "{} takes a text and a format",
                self.name.to_ascii_uppercase()
            )));
        }
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut out = TimestampMillisecondBuilder::new();
        for row in 0..rows {
            let Some(s) = arg_text(&arrays, 0, row) else {
                out.append_null();
                continue;
            };
            let fmt = arg_text(&arrays, 1, row);
            let t = parse_with(&s, fmt.as_deref()).map_err(exec_err)?;
            out.append_value(t.and_utc().timestamp_millis());
        }
        let array = out.finish();
        if all_scalar {
            let v = if array.is_null(0) {
                None
            } else {
                Some(array.value(0))
            };
            return Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
                v, None,
            )));
        }
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

/// `BUILTIN.DF(field)`, rewritten to `builtin_df(field, 'name')`: the field's display value.
#[derive(Debug)]
struct BuiltinDf {
    signature: Signature,
    display: Arc<Display>,
}

impl PartialEq for BuiltinDf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.display, &other.display)
    }
}

impl Eq for BuiltinDf {}

impl std::hash::Hash for BuiltinDf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "builtin_df".hash(state);
    }
}

impl ScalarUDFImpl for BuiltinDf {
    fn name(&self) -> &str {
        "builtin_df"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            let field = arg_text(&arrays, 1, row).unwrap_or_default();
            let bool_value = arrays[0]
                .as_any()
                .downcast_ref::<BooleanArray>()
                .filter(|b| !b.is_null(row))
                .map(|b| if b.value(row) { "T" } else { "F" }.to_owned());
            match bool_value.or_else(|| arg_text(&arrays, 0, row)) {
                None => out.append_null(),
                Some(v) => out.append_value(self.display.of(&field, &v)),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_formats() {
        assert_eq!(
            oracle_format("YYYY-MM-DD HH24:MI:SS").unwrap(),
            ("%Y-%m-%d %H:%M:%S".to_owned(), true)
        );
        assert_eq!(
            oracle_format("yyyy-mm-dd").unwrap(),
            ("%Y-%m-%d".to_owned(), false)
        );
        assert_eq!(
            oracle_format("DD.MM.YYYY \"at\" HH24").unwrap(),
            ("%d.%m.%Y at %H".to_owned(), true)
        );
        assert!(oracle_format("YYYY-QQ").is_err());
        assert_eq!(
            parse_with("2026-03-01", Some("YYYY-MM-DD"))
                .unwrap()
                .to_string(),
            "2026-03-01 00:00:00"
        );
        assert!(parse_with("3/1/2026", Some("YYYY-MM-DD")).is_err());
        assert_eq!(epoch_days(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }

    #[test]
    fn date_preferences_render_and_parse() {
        let d = NaiveDate::from_ymd_opt(2026, 9, 3).unwrap();
        assert_eq!(DateFormat::MonthDayYear.render(d), "9/3/2026");
        assert_eq!(DateFormat::DayMonthYear.render(d), "3/9/2026");
        assert_eq!(
            "d/m/yyyy".parse::<DateFormat>(),
            Ok(DateFormat::DayMonthYear)
        );
        assert!("YYYY.MM.DD".parse::<DateFormat>().is_err());
    }
}
