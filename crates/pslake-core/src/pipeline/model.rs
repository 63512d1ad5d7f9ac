//! The validated pipeline: every default merged, every string parsed into its rich type.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pipeline's name.
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Lake location (local path or object-store URL), env-interpolated.
    pub lake: String,
    /// Cron schedule.
    pub schedule: Option<cron::Schedule>,
    /// The time zone `schedule` is read in (UTC unless `timezone:` names another).
    pub timezone: chrono_tz::Tz,
    /// What `pslake schedule` does when a scheduled run fails.
    pub retry: RunRetry,
    /// `as_of` (from the file, else the manifest).
    pub as_of: Option<NaiveDate>,
    /// `history_start` (from the file, else the manifest).
    pub history_start: Option<NaiveDate>,
    /// The manifest file named by the pipeline, if any.
    pub manifest: Option<PathBuf>,
    /// The secrets file named by the pipeline, if any.
    pub secrets_file: Option<PathBuf>,
    /// Source systems in file order.
    pub systems: Vec<System>,
    /// Change notifications `pslake listen` accepts, in file order.
    pub triggers: Vec<super::triggers::Trigger>,
}

/// The retry policy of scheduled runs: a failed run is tried again after `backoff`, then twice
/// that, and so on, up to `attempts` runs per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRetry {
    /// Runs per slot, the first included (at least 1; 1 means no retry).
    pub attempts: u32,
    /// The wait before the second attempt; each further wait doubles.
    pub backoff: Duration,
}

impl Default for RunRetry {
    fn default() -> Self {
        Self {
            attempts: 1,
            backoff: Duration::from_secs(60),
        }
    }
}

impl RunRetry {
    /// The wait after failed attempt `attempt` (1-based): `backoff × 2^(attempt-1)`.
    pub fn wait_after(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
    }
}

/// A source system.
#[derive(Debug, Clone)]
pub struct System {
    /// System name.
    pub name: String,
    /// What kind of source and its settings.
    pub kind: SystemKind,
    /// Streams, defaults merged.
    pub streams: Vec<Stream>,
}

/// The kind of a system.
#[derive(Debug, Clone)]
pub enum SystemKind {
    /// An HTTP JSON API.
    Rest(Box<Client>),
    /// A file drop.
    Files {
        /// Folder path or object-store URL prefix.
        location: String,
    },
}

/// HTTP client settings.
#[derive(Debug, Clone)]
pub struct Client {
    /// Base URL.
    pub base_url: url::Url,
    /// Authentication.
    pub auth: Auth,
    /// Headers on every request.
    pub headers: BTreeMap<String, String>,
    /// Requests per second (None = unlimited).
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Vendor rules for error responses, first match wins, before the generic behaviour.
    pub retry_rules: Vec<RetryRule>,
}

/// A declared rule for an error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRule {
    /// The HTTP status.
    pub status: u16,
    /// Text the body must contain (None: any body).
    pub body_contains: Option<String>,
    /// What to do.
    pub action: RetryAction,
}

/// What a matching [`RetryRule`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Retry with backoff.
    Retry,
    /// A rate limit: retry with backoff, honouring `Retry-After`.
    RateLimited,
    /// Fail at once.
    Fail,
}

/// A value that is either plain text or a secret reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueRef {
    /// Literal text (non-secret values only).
    Plain(String),
    /// `${env:NAME}`: an environment variable.
    Env(String),
    /// `${secret:NAME}`: an entry of the secrets file (else the environment).
    Secret(String),
}

impl ValueRef {
    /// Parses `${env:NAME}`, `${secret:NAME}` or plain text.
    pub fn parse(s: &str) -> Self {
        let t = s.trim();
        if let Some(inner) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            if let Some(n) = inner.strip_prefix("env:") {
                return Self::Env(n.trim().to_string());
            }
            if let Some(n) = inner.strip_prefix("secret:") {
                return Self::Secret(n.trim().to_string());
            }
        }
        Self::Plain(s.to_string())
    }

    /// Whether this is a reference rather than literal text.
    pub fn is_reference(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

/// Authentication.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No authentication.
    None,
    /// Bearer token.
    Bearer {
        /// The token.
        token: ValueRef,
    },
    /// HTTP Basic.
    Basic {
        /// User name.
        username: ValueRef,
        /// Password.
        password: ValueRef,
    },
    /// API key.
    ApiKey {
        /// Header or query parameter name.
        name: String,
        /// The key.
        value: ValueRef,
        /// In a query parameter rather than a header.
        in_query: bool,
    },
    /// OAuth 2 client credentials.
    OAuth2ClientCredentials {
        /// Token endpoint (absolute, or relative to the base URL).
        token_url: String,
        /// Client id.
        client_id: ValueRef,
        /// Client secret.
        client_secret: ValueRef,
        /// Scope.
        scope: Option<String>,
        /// Token-response field with the API base URL.
        instance_url_field: Option<String>,
    },
    /// OAuth 2 client credentials with a JWT client assertion signed PS256 (RFC 7523).
    OAuth2JwtAssertion {
        /// Token endpoint (absolute, or relative to the base URL); the assertion's `aud`.
        token_url: String,
        /// Client id (`iss`).
        client_id: ValueRef,
        /// Certificate id (`kid`).
        certificate_id: ValueRef,
        /// PEM private key (PKCS#8) signing the assertion.
        private_key: ValueRef,
        /// `scope` claim.
        scope: Vec<String>,
        /// Refresh a token this long before it expires.
        refresh_before: std::time::Duration,
        /// `exp - iat` of an assertion.
        assertion_lifetime: std::time::Duration,
    },
}

/// A stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Stream name as the vendor spells it (`Opportunity`).
    pub name: String,
    /// Raw table name: `<system>_<stream lowercased>`.
    pub table: String,
    /// The request (REST only).
    pub endpoint: Endpoint,
    /// Paging.
    pub paginator: Paginator,
    /// Record selector.
    pub records: RecordSelector,
    /// Incremental cursor; None = full snapshot each run.
    pub incremental: Option<Incremental>,
    /// Primary key column names.
    pub primary_key: Vec<String>,
    /// Typed columns.
    pub columns: Vec<Column>,
    /// File name pattern (files systems).
    pub pattern: Option<String>,
    /// Deletion reconciliation (REST streams only); None = deletions are not looked for.
    pub reconcile: Option<Reconcile>,
    /// Requests one run of the stream may make (REST only; a keys pass has its own count):
    /// an API that never stops paging fails the stream here instead of running forever.
    pub max_pages: u64,
    /// How old the last successful extract may be before `pslake status` flags it.
    pub freshness: Freshness,
    /// A child stream's parent (REST only): its requests are batches of the parent's keys.
    pub parent: Option<Parent>,
}

/// The keys a child stream asks for (`parent:` of a stream).
#[derive(Debug, Clone, PartialEq)]
pub struct Parent {
    /// The parent stream's name (same system).
    pub stream: String,
    /// The parent's raw table (schema `raw`).
    pub table: String,
    /// The parent's column whose values are sent.
    pub key: String,
    /// The parent's columns compared with the child's start value.
    pub since: Vec<String>,
    /// Keys per request.
    pub batch: usize,
    /// The JSON body field receiving the batch.
    pub into: String,
    /// One element of the batch; `{parent.key}` is replaced by the key.
    pub item: serde_json::Value,
    /// Parameter name -> parent column (see `RawParent::matches`).
    pub matches: BTreeMap<String, String>,
    /// The parent's record member that holds this stream's records (see `RawParent::embedded`).
    pub embedded: Option<String>,
}

/// The placeholder of a [`Parent::item`].
pub const PARENT_KEY_PLACEHOLDER: &str = "{parent.key}";

/// Changes to a request (`reconcile.endpoint`, `incremental.since_cursor.endpoint`): unset
/// fields keep the request's; a `None` parameter removes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointChanges {
    /// New method.
    pub method: Option<Method>,
    /// New path.
    pub path: Option<String>,
    /// Parameters set (`Some`) or removed (`None`).
    pub params: BTreeMap<String, Option<String>>,
    /// New JSON body.
    pub json: Option<serde_json::Value>,
    /// Headers added.
    pub headers: BTreeMap<String, String>,
}

impl EndpointChanges {
    /// `ep` with these changes, its parameters first extended with `set`.
    pub fn apply(&self, ep: &Endpoint, set: &BTreeMap<String, String>) -> Endpoint {
        let mut out = ep.clone();
        out.params
            .extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.param_sets = Vec::new();
        if let Some(m) = self.method {
            out.method = m;
        }
        if let Some(p) = &self.path {
            out.path = p.clone();
        }
        for (k, v) in &self.params {
            match v {
                Some(v) => {
                    out.params.insert(k.clone(), v.clone());
                }
                None => {
                    out.params.remove(k);
                }
            }
        }
        if let Some(j) = &self.json {
            out.json = Some(j.clone());
        }
        out.headers
            .extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

/// `incremental.since_cursor`: the request of the matching parameter sets on a run that starts
/// from a stored cursor.
#[derive(Debug, Clone)]
pub struct SinceCursor {
    /// Parameters a set must hold (empty: every set).
    pub when: BTreeMap<String, String>,
    /// Changes to the request.
    pub changes: EndpointChanges,
    /// Its paging (`None`: the stream's).
    pub paginator: Option<Paginator>,
}

impl SinceCursor {
    /// Whether parameter set `set` takes this request.
    pub fn applies_to(&self, set: &BTreeMap<String, String>) -> bool {
        self.when.iter().all(|(k, v)| set.get(k) == Some(v))
    }
}

/// How old a stream's last successful extract may be (`freshness:` of a stream or of
/// `resource_defaults`); `None`: not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// Older than this: a warning.
    pub warn_after: Option<Duration>,
    /// Older than this: an error.
    pub error_after: Option<Duration>,
}

/// [`Stream::max_pages`] when the pipeline declares none: far above any stream of the demo
/// at scale 100 (Kantata time entries: about 3,800 pages), far below forever.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;

/// Deletion reconciliation: every `every`, a pass over the source that reads only the primary
/// keys, with no incremental filter, and marks the landed records whose key is gone as deleted.
#[derive(Debug, Clone)]
pub struct Reconcile {
    /// How often the keys pass runs (it also runs when a run forces it).
    pub every: Duration,
    /// The keys pass's request: the stream's endpoint with the `reconcile.endpoint` changes
    /// merged in. A `{incremental.start_value}` left in it is filled with the stream's
    /// `initial_value`, so the pass covers the whole history.
    pub endpoint: Endpoint,
}

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A request template.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Method.
    pub method: Method,
    /// Path (placeholders resolved except `{incremental.start_value}`).
    pub path: String,
    /// Query parameters.
    pub params: BTreeMap<String, String>,
    /// JSON body.
    pub json: Option<serde_json::Value>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// Extra parameter sets, each paged separately into the stream (empty = one plain run).
    pub param_sets: Vec<BTreeMap<String, String>>,
}

/// Where a paginator puts its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// Query string.
    Query,
    /// JSON body.
    Body,
}

/// Keyset paging across a per-query cap (see `paginator.keyset` in pipelines/README.md).
#[derive(Debug, Clone)]
pub struct Keyset {
    /// Path of the key in a record.
    pub key: JsonPath,
    /// The first query's `{keyset.last}`.
    pub start: String,
    /// The first offset the API refuses.
    pub max_offset: u64,
}

/// The placeholder a keyset paginator fills with the last key seen.
pub const KEYSET_PLACEHOLDER: &str = "{keyset.last}";

/// Paging strategy.
#[derive(Debug, Clone)]
pub enum Paginator {
    /// Follow a next URL.
    NextUrl {
        /// Path of the URL.
        path: JsonPath,
        /// Path of the done flag.
        done_path: Option<JsonPath>,
    },
    /// Opaque cursor sent back as a parameter.
    Cursor {
        /// Path of the cursor.
        path: JsonPath,
        /// Parameter name.
        param: String,
    },
    /// limit/offset.
    Offset {
        /// Page size.
        limit: u64,
        /// Limit parameter.
        limit_param: String,
        /// Offset parameter.
        offset_param: String,
        /// Has-more flag path.
        has_more_path: Option<JsonPath>,
        /// Total-count path.
        total_path: Option<JsonPath>,
        /// Where the two parameters go.
        location: ParamLocation,
        /// Keyset restarts across a cap on one query's results.
        keyset: Option<Keyset>,
    },
    /// Page numbers.
    PageNumber {
        /// Page parameter.
        page_param: String,
        /// First page number.
        start: u64,
        /// Total-pages path.
        total_pages_path: Option<JsonPath>,
    },
    /// A single page.
    None,
}

/// A dotted JSON path (`paging.next.after`); empty = the document itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPath(pub Vec<String>);

impl JsonPath {
    /// Parses `a.b.c`; `""` and `$` are the root. A leading `$.` is allowed. A key holding
    /// dots is written in brackets: `['@odata.nextLink']` or `$['@odata.nextLink']`.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        let s = s.strip_prefix('$').unwrap_or(s);
        let mut segs = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
                continue;
            }
            if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
                let quote = if rest.starts_with("['") { "']" } else { "\"]" };
                match r.find(quote) {
                    Some(end) => {
                        segs.push(r[..end].to_string());
                        rest = &r[end + 2..];
                    }
                    None => {
                        segs.push(r.to_string());
                        rest = "";
                    }
                }
                continue;
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segs.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        Self(segs)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("$")
        } else {
            let parts: Vec<String> = self
                .0
                .iter()
                .map(|p| {
                    if p.contains('.') {
                        format!("['{p}']")
                    } else {
                        p.clone()
                    }
                })
                .collect();
            f.write_str(&parts.join("."))
        }
    }
}

/// Where the records sit.
#[derive(Debug, Clone, Default)]
pub struct RecordSelector {
    /// Path of the array (or keyed map when `keyed_by` is set).
    pub path: JsonPath,
    /// The records are an object map listed by references.
    pub keyed_by: Option<KeyedBy>,
    /// Top-level fields stripped from `_raw`.
    pub strip: Vec<String>,
    /// Top-level fields kept in `_raw` without a column, not reported as new: the members a
    /// child stream reads from this stream's landed records (its `parent.embedded`).
    pub kept: Vec<String>,
    /// Nested rows: each record becomes one row per element found here (None: the record is
    /// the row).
    pub unnest: Option<Unnest>,
}

/// Nested rows of a record (a child table, as in dlt): the elements of the array at `path`, or
/// of every array of the object at `path`, each become a row. A row is the element (an object;
/// any other value is put under `value`) with, in front, the `parent` fields copied from the
/// record and the `key_as` field holding the element's object key (for an array: its index).
/// The stream's columns, primary key and cursor address that row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unnest {
    /// Where the rows sit in the record.
    pub path: JsonPath,
    /// The field that receives the object key (or array index) of each row.
    pub key_as: Option<String>,
    /// `(field, path in the record)`: record values copied into each row, in order.
    pub parent: Vec<(String, JsonPath)>,
}

/// The field a non-object element of an [`Unnest`] is put under.
pub const UNNEST_VALUE_FIELD: &str = "value";

/// A keyed object map's references, in record order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBy {
    /// Path of the array of references.
    pub refs: JsonPath,
    /// Field of a reference holding the map key.
    pub id_field: String,
    /// `(field, value)`: only references whose field has this value point into this map.
    pub type_filter: Option<(String, String)>,
}

/// Incremental cursor.
#[derive(Debug, Clone)]
pub struct Incremental {
    /// Index into the stream's columns of the cursor column.
    pub column: usize,
    /// Start value without state.
    pub initial_value: String,
    /// Overlap.
    pub lag: Duration,
    /// chrono format of the start value placeholder.
    pub format: String,
    /// Filter records client side.
    pub client_filter: bool,
    /// Per parameter set cursor columns: a set holding every pair of the map filters and
    /// advances on that column instead of `column` (first match wins).
    pub param_set_cursors: Vec<(BTreeMap<String, String>, usize)>,
    /// Another request for some parameter sets on runs from a stored cursor.
    pub since_cursor: Option<SinceCursor>,
}

impl Incremental {
    /// The cursor column for the endpoint parameter set `set`.
    pub fn column_for(&self, set: &BTreeMap<String, String>) -> usize {
        self.param_set_cursors
            .iter()
            .find(|(when, _)| when.iter().all(|(k, v)| set.get(k) == Some(v)))
            .map_or(self.column, |(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(
            JsonPath::parse("paging.next.after").0,
            vec!["paging", "next", "after"]
        );
        assert_eq!(JsonPath::parse("$.a").0, vec!["a"]);
        assert!(JsonPath::parse("$").is_root() && JsonPath::parse("").is_root());
        assert_eq!(
            JsonPath::parse("['@odata.nextLink']").0,
            vec!["@odata.nextLink"]
        );
        assert_eq!(JsonPath::parse("$.x['a.b'].c").0, vec!["x", "a.b", "c"]);
        assert_eq!(JsonPath::parse("x['a.b']").to_string(), "x.['a.b']");
    }
}

/// Column data types of the raw tables (docs/raw_tables.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Utf8.
    String,
    /// Boolean.
    Boolean,
    /// Int64.
    Integer,
    /// Float64.
    Double,
    /// Decimal128(precision, scale).
    Decimal(u8, i8),
    /// Date32.
    Date,
    /// Timestamp(µs, UTC).
    Timestamp,
}

impl DataType {
    /// Parses `string`, `boolean`, `integer`, `double`, `decimal(p,s)`, `date`, `timestamp`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "string" => Self::String,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "double" => Self::Double,
            "date" => Self::Date,
            "timestamp" => Self::Timestamp,
            _ => {
                let inner = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown type `{s}` (expected string, boolean, integer, double, decimal(p,s), date or timestamp)"))?;
                let (p, sc) = inner
                    .split_once(',')
                    .ok_or_else(|| format!("decimal type `{s}` needs precision and scale"))?;
                let p: u8 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad decimal precision in `{s}`"))?;
                let sc: i8 = sc
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad decimal scale in `{s}`"))?;
                if !(1..=38).contains(&p) || sc < 0 || sc as u8 > p {
                    return Err(format!(
                        "decimal `{s}` needs 1 <= precision <= 38 and 0 <= scale <= precision"
                    ));
                }
                Self::Decimal(p, sc)
            }
        })
    }
}

/// A typed column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Path in the record.
    pub path: JsonPath,
    /// Type.
    pub data_type: DataType,
    /// Missing value rejects the record.
    pub required: bool,
    /// How the source writes the value (declared; never guessed from its shape).
    pub format: ValueFormat,
}

/// A column's declared value format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ValueFormat {
    /// Only unambiguous forms: ISO 8601 dates and datetimes, JSON booleans, `true`/`false`.
    #[default]
    Default,
    /// A chrono strftime format (`date` and `timestamp` columns), checked at load time.
    Chrono(String),
    /// The spellings of a `boolean` column (JSON booleans are accepted too).
    Bool {
        /// Strings that mean true.
        true_values: Vec<String>,
        /// Strings that mean false.
        false_values: Vec<String>,
    },
}
