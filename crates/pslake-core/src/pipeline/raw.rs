//! The YAML shape of a pipeline file, exactly as serde reads it (`deny_unknown_fields` everywhere).
//!
//! Resources inherit from `resource_defaults` field by field (dlt's `rest_api` config idea):
//! `endpoint.params` and `endpoint.headers` merge by key, every other field is taken from the
//! resource when set, else from the defaults. [`super::load`] turns this into [`super::Pipeline`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// The pipeline's name (used in run records).
    pub name: String,
    /// The lake location: a local path or an object-store URL.
    pub lake: String,
    /// Cron expression (seconds field first, as the `cron` crate reads it).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The IANA time zone `schedule` is read in (`Europe/Paris`); default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// What `pslake schedule` does when a scheduled run fails.
    #[serde(default)]
    pub retry: Option<RawRunRetry>,
    /// The reporting `as_of` date (`YYYY-MM-DD`).
    #[serde(default)]
    pub as_of: Option<String>,
    /// The first reported date (`YYYY-MM-DD`).
    #[serde(default)]
    pub history_start: Option<String>,
    /// A fixtures `manifest.json` that gives `as_of` and `history_start` when they are not set.
    #[serde(default)]
    pub manifest: Option<String>,
    /// A file of `NAME=value` lines that `${secret:NAME}` references read.
    #[serde(default)]
    pub secrets_file: Option<String>,
    /// The source systems.
    pub systems: Vec<RawSystem>,
    /// Vendor change notifications `pslake listen` accepts ([`super::triggers`]).
    #[serde(default)]
    pub triggers: Vec<super::triggers::RawTrigger>,
}

/// The retry policy of scheduled runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunRetry {
    /// Runs per slot, the first included.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// The wait before the second attempt, e.g. `5m`; doubles for each further attempt.
    #[serde(default)]
    pub backoff: Option<String>,
}

/// One source system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSystem {
    /// The system name, the first half of each raw table name (`salesforce`).
    pub name: String,
    /// `rest` or `files`.
    #[serde(rename = "type")]
    pub kind: RawSystemKind,
    /// HTTP client settings (`rest` only).
    #[serde(default)]
    pub client: Option<RawClient>,
    /// The folder or object-store prefix the files appear in (`files` only).
    #[serde(default)]
    pub location: Option<String>,
    /// Defaults every resource inherits.
    #[serde(default)]
    pub resource_defaults: Option<RawResource>,
    /// The streams.
    pub resources: Vec<RawResource>,
}

/// The kind of system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSystemKind {
    /// An HTTP JSON API.
    Rest,
    /// A file drop (CSV files in a folder or object-store prefix).
    Files,
}

/// HTTP client settings of a REST system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Base URL; relative endpoint paths and next-URLs resolve against it.
    pub base_url: String,
    /// Authentication.
    #[serde(default)]
    pub auth: Option<RawAuth>,
    /// Headers sent on every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Requests per second to this system (all its streams together).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Requests in flight to this system at once (all its streams together).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Per-request timeout, e.g. `60s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Retry policy.
    #[serde(default)]
    pub retry: Option<RawRetry>,
}

/// Retry policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts per request, the first included.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// First backoff, e.g. `200ms`; doubles each attempt, with jitter.
    #[serde(default)]
    pub initial_backoff: Option<String>,
    /// Backoff cap, e.g. `30s`.
    #[serde(default)]
    pub max_backoff: Option<String>,
    /// Vendor rules for error responses, checked in order before the generic behaviour
    /// (Salesforce: `{status: 403, body_contains: REQUEST_LIMIT_EXCEEDED, action: rate_limited}`).
    #[serde(default)]
    pub rules: Option<Vec<RawRetryRule>>,
}

/// A retry rule: an error response with this status (and body text) gets this action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetryRule {
    /// The HTTP status (400-599).
    pub status: u16,
    /// Text the response body must contain (default: any body).
    #[serde(default)]
    pub body_contains: Option<String>,
    /// `retry`, `rate_limited` or `fail`.
    pub action: RawRetryAction,
}

/// What a matching retry rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawRetryAction {
    /// Retry with backoff (a transient error).
    Retry,
    /// The vendor's rate-limit answer: retry with backoff, honouring `Retry-After`.
    RateLimited,
    /// Fail the stream at once (e.g. a 503 the vendor means as permanent).
    Fail,
}

/// Authentication, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// A secret reference.
        token: String,
    },
    /// HTTP Basic.
    Basic {
        /// Plain value or secret reference.
        username: String,
        /// A secret reference.
        password: String,
    },
    /// An API key in a header or query parameter.
    ApiKey {
        /// Header or parameter name.
        name: String,
        /// A secret reference.
        value: String,
        /// `header` (default) or `query`.
        #[serde(default, rename = "in")]
        location: Option<String>,
    },
    /// OAuth 2 client credentials grant (form post), then bearer.
    Oauth2ClientCredentials {
        /// Token endpoint, absolute or relative to the base URL.
        token_url: String,
        /// Plain value or secret reference.
        client_id: String,
        /// A secret reference.
        client_secret: String,
        /// Optional `scope`.
        #[serde(default)]
        scope: Option<String>,
        /// Field of the token response holding the API base URL (Salesforce `instance_url`).
        #[serde(default)]
        instance_url_field: Option<String>,
    },
    /// OAuth 2 client credentials with a signed JWT client assertion (RFC 7523; NetSuite's
    /// machine-to-machine flow), then bearer.
    Oauth2JwtAssertion {
        /// Token endpoint, absolute or relative to the base URL; also the assertion's `aud`.
        token_url: String,
        /// The assertion's `iss`: plain value or secret reference.
        client_id: String,
        /// The assertion header's `kid`: plain value or secret reference.
        certificate_id: String,
        /// A secret reference to the PEM private key (PKCS#8) that signs the assertion.
        private_key: String,
        /// The assertion's `scope` claim (a list).
        #[serde(default)]
        scope: Vec<String>,
        /// Signature algorithm; only `PS256` (the default).
        #[serde(default)]
        algorithm: Option<String>,
        /// Fetch a new token this long before the current one expires (default `5m`).
        #[serde(default)]
        refresh_before: Option<String>,
        /// The assertion's lifetime (`exp - iat`, default and at most `1h`).
        #[serde(default)]
        assertion_lifetime: Option<String>,
    },
}

/// A stream (or the defaults of all streams). Every field is optional here so defaults merge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    /// Stream name (required on resources).
    #[serde(default)]
    pub name: Option<String>,
    /// The request.
    #[serde(default)]
    pub endpoint: Option<RawEndpoint>,
    /// How to page.
    #[serde(default)]
    pub paginator: Option<RawPaginator>,
    /// Where the records sit in a page.
    #[serde(default)]
    pub records: Option<RawRecords>,
    /// Incremental cursor.
    #[serde(default)]
    pub incremental: Option<RawIncremental>,
    /// Primary key column names.
    #[serde(default)]
    pub primary_key: Option<Vec<String>>,
    /// Typed columns.
    #[serde(default)]
    pub columns: Option<Vec<RawColumn>>,
    /// File name pattern (`files` systems), `*` wildcards, e.g. `fx_rates_*.csv`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Deletion reconciliation: a periodic keys-only pass that marks landed records gone from
    /// the source as deleted (tombstones).
    #[serde(default)]
    pub reconcile: Option<RawReconcile>,
    /// Requests one run of the stream may make (each parameter set and keyset window counted);
    /// past it the stream fails rather than page on forever. Default 100000.
    #[serde(default)]
    pub max_pages: Option<u64>,
    /// How old the last successful extract may be (`pslake status`).
    #[serde(default)]
    pub freshness: Option<RawFreshness>,
    /// A child stream: one request per batch of keys of another stream of the system that
    /// changed since this stream's cursor (HubSpot's property histories through batch reads).
    #[serde(default)]
    pub parent: Option<RawParent>,
}

/// `parent: {stream: deals, key: id, since: [hs_lastmodifieddate], batch: 50, into: inputs,
/// item: {id: "{parent.key}"}, match: {archived: archived}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParent {
    /// The parent stream (same system).
    pub stream: String,
    /// The parent's column whose values are sent.
    pub key: String,
    /// The parent's columns compared with this stream's start value: a parent row whose value
    /// in any of them is at or after it is asked for (all rows on a first or full run).
    #[serde(default)]
    pub since: Vec<String>,
    /// Keys per request.
    pub batch: usize,
    /// The JSON body field that receives the batch (an array of `item`).
    pub into: String,
    /// One element of the batch, `{parent.key}` replaced by the key (default: the key itself).
    #[serde(default)]
    pub item: Option<serde_json::Value>,
    /// Parameter name -> parent column: a parameter set gets only the parent rows whose column
    /// (as text) equals the set's value of the parameter.
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, String>,
    /// A member of the parent's records that already holds what this stream requests (HubSpot's
    /// `propertiesWithHistory` when the deals list asks for it): a parent row landed in the same
    /// run whose record carries it is decoded from there (its `_raw`) instead of requested.
    #[serde(default)]
    pub embedded: Option<String>,
}

/// `freshness: {warn_after: 26h, error_after: 48h}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFreshness {
    /// Older than this: flagged as a warning.
    #[serde(default)]
    pub warn_after: Option<String>,
    /// Older than this: an error (`pslake status` exits 1).
    #[serde(default)]
    pub error_after: Option<String>,
}

/// Deletion reconciliation of a stream (`reconcile: {every: 7d, endpoint: {...}}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconcile {
    /// How often the keys pass runs, e.g. `7d` (required once defaults are merged).
    #[serde(default)]
    pub every: Option<String>,
    /// Changes to the stream's request for the keys pass (ask the API for keys only, drop the
    /// incremental filter); merged over the stream's endpoint.
    #[serde(default)]
    pub endpoint: Option<RawReconcileEndpoint>,
}

/// The keys pass's changes to a stream's request. Unset fields keep the stream's value;
/// `params` and `headers` merge by key, and a `null` parameter removes the stream's one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconcileEndpoint {
    /// `GET` or `POST`.
    #[serde(default)]
    pub method: Option<String>,
    /// Path relative to the base URL; `{name}` is the resource name.
    #[serde(default)]
    pub path: Option<String>,
    /// Query parameters merged over the stream's; `null` removes one (e.g. `updated_after`).
    #[serde(default)]
    pub params: BTreeMap<String, Option<String>>,
    /// JSON body replacing the stream's (e.g. `{q: "SELECT id FROM {name} ORDER BY id"}`).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Headers merged over the stream's.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Parameter sets replacing the stream's.
    #[serde(default)]
    pub param_sets: Option<Vec<BTreeMap<String, String>>>,
}

/// A request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Option<String>,
    /// Path relative to the base URL; `{name}` is the resource name.
    #[serde(default)]
    pub path: Option<String>,
    /// Query parameters; values may hold `{incremental.start_value}` and `{name}`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// JSON body (string values may hold the same placeholders).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Run the request once per set of extra parameters and land all of them in the stream
    /// (HubSpot: `[{archived: "false"}, {archived: "true"}]`).
    #[serde(default)]
    pub param_sets: Option<Vec<BTreeMap<String, String>>>,
}

/// `paginator.keyset`: before the offset reaches `max_offset`, the query restarts at offset 0
/// with `{keyset.last}` (in the path, parameters or JSON body) replaced by the key of the last
/// record seen; the first query gets `start`. The query must order by the key, ascending.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyset {
    /// Dotted path of the key in a record (as returned, before column mapping).
    pub key: String,
    /// The first query's `{keyset.last}`: a value below every key (e.g. `"0"`).
    pub start: String,
    /// The first offset the API refuses (NetSuite: 100000).
    pub max_offset: u64,
}

/// Paginator, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPaginator {
    /// Follow a URL found in the page until it is missing or `done_path` is true.
    NextUrl {
        /// Dotted JSON path of the next URL (relative or absolute).
        path: String,
        /// Dotted JSON path of a boolean "no more pages" flag.
        #[serde(default)]
        done_path: Option<String>,
    },
    /// Send the cursor found in the page as a query parameter.
    Cursor {
        /// Dotted JSON path of the cursor.
        path: String,
        /// Query parameter to send it in.
        param: String,
    },
    /// `limit`/`offset` paging.
    Offset {
        /// Page size.
        limit: u64,
        /// Name of the limit parameter (default `limit`).
        #[serde(default)]
        limit_param: Option<String>,
        /// Name of the offset parameter (default `offset`).
        #[serde(default)]
        offset_param: Option<String>,
        /// Dotted JSON path of a has-more flag.
        #[serde(default)]
        has_more_path: Option<String>,
        /// Dotted JSON path of the total record count (enables concurrent page fetches).
        #[serde(default)]
        total_path: Option<String>,
        /// `query` (default) or `body` (the JSON body gets the two fields).
        #[serde(default, rename = "in")]
        location: Option<String>,
        /// Keyset paging across a cap on one query's results (NetSuite's 100,000).
        #[serde(default)]
        keyset: Option<RawKeyset>,
    },
    /// `page=N` paging.
    PageNumber {
        /// Name of the page parameter (default `page`).
        #[serde(default)]
        page_param: Option<String>,
        /// The first page number (default 1).
        #[serde(default)]
        start: Option<u64>,
        /// Dotted JSON path of the total page count (enables concurrent page fetches).
        #[serde(default)]
        total_pages_path: Option<String>,
    },
    /// One request, one page.
    None,
}

/// Where the records sit in a page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecords {
    /// Dotted JSON path of the array of records, or of a keyed object map (with `keyed_by`);
    /// `{name}` is the resource name. Empty or `$` = the page itself is the array.
    #[serde(default)]
    pub path: Option<String>,
    /// The records at `path` are an object map `{id: record}`, listed in order by references
    /// elsewhere in the page (Kantata: `results: [{key, id}]`).
    #[serde(default)]
    pub keyed_by: Option<RawKeyedBy>,
    /// Top-level fields removed from each record before it is stored (Salesforce `attributes`).
    #[serde(default)]
    pub strip: Option<Vec<String>>,
    /// Each record holds nested rows (a child table, as in dlt): land one row per element of
    /// the array (or of each array of the object) at `unnest.path` instead of the record.
    #[serde(default)]
    pub unnest: Option<RawUnnest>,
}

/// Nested rows of a record: `{path: propertiesWithHistory, key_as: property, parent: {deal_id: id}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnnest {
    /// Dotted path, in the record, of an array of rows, or of an object whose values are arrays
    /// of rows (each key names its array).
    pub path: String,
    /// A field added to each row holding its object key (for an array: its index).
    #[serde(default)]
    pub key_as: Option<String>,
    /// Fields added to each row from the record: `{name: dotted path in the record}`, in order.
    #[serde(default, deserialize_with = "ordered_pairs")]
    pub parent: Vec<(String, String)>,
}

/// A YAML mapping of strings as its pairs, in file order (a duplicate key is an error).
fn ordered_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a mapping of field names to dotted paths")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, String>()? {
                if out.iter().any(|(n, _)| *n == k) {
                    return Err(serde::de::Error::custom(format!("duplicate field `{k}`")));
                }
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// A keyed map's references: `{refs: results, id_field: id, type_field: key, type_value: "{name}"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyedBy {
    /// Dotted path of the array of references, in record order.
    pub refs: String,
    /// Field of a reference holding the map key (default `id`).
    #[serde(default)]
    pub id_field: Option<String>,
    /// Field of a reference naming the map it points into (references into other maps are
    /// skipped); set together with `type_value`.
    #[serde(default)]
    pub type_field: Option<String>,
    /// The `type_field` value of this stream's references; `{name}` is the resource name.
    #[serde(default)]
    pub type_value: Option<String>,
}

/// Incremental cursor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncremental {
    /// The declared column (date or timestamp) whose maximum is the cursor.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Start value when there is no state yet, e.g. `1970-01-01T00:00:00Z`.
    #[serde(default)]
    pub initial_value: Option<String>,
    /// How far before the stored cursor the next run starts (overlap), e.g. `1d`, `5m`.
    #[serde(default)]
    pub lag: Option<String>,
    /// chrono format of `{incremental.start_value}` (default RFC 3339 `%Y-%m-%dT%H:%M:%SZ`).
    #[serde(default)]
    pub format: Option<String>,
    /// Drop records older than the start value here (APIs without a server-side filter).
    #[serde(default)]
    pub client_filter: Option<bool>,
    /// Another cursor column for some of the endpoint's `param_sets`: a parameter set holding
    /// every pair of `when` filters and advances on `cursor` instead (e.g. HubSpot's archived
    /// listing on `archived_at`).
    #[serde(default)]
    pub param_set_cursors: Option<Vec<RawParamSetCursor>>,
    /// Another request for the parameter sets matching `when`, on runs that start from a stored
    /// cursor (a search endpoint that filters on the server, where the first run lists
    /// everything): `endpoint` changes merged over the stream's request with the set applied.
    #[serde(default)]
    pub since_cursor: Option<RawSinceCursor>,
}

/// `since_cursor: {when: {archived: "false"}, endpoint: {method: POST, path: ..., json: ...}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSinceCursor {
    /// Parameters a set must hold (all of them; empty: every set).
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    /// Changes to the request, as `reconcile.endpoint` (a `null` parameter removes one).
    pub endpoint: RawReconcileEndpoint,
    /// Its paging, when not the stream's (e.g. offsets with keyset restarts across a cap on
    /// results; `{incremental.start_value}` may be the keyset's `start`).
    #[serde(default)]
    pub paginator: Option<RawPaginator>,
}

/// A cursor column for the parameter sets that match `when`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParamSetCursor {
    /// Parameters a set must hold (all of them, same values).
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    /// The declared column (same type as the stream's cursor) used for those sets.
    pub cursor: String,
}

/// A typed column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    /// Column name in the raw table (snake_case).
    pub name: String,
    /// Dotted path in the record (default: the name).
    #[serde(default)]
    pub path: Option<String>,
    /// `string`, `boolean`, `integer`, `double`, `decimal(p,s)`, `date`, `timestamp`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// A record without a value here is rejected.
    #[serde(default)]
    pub required: bool,
    /// How the source writes the value: a chrono strftime format for `date`/`timestamp`
    /// (`"%m/%d/%Y"`), or `"<true>/<false>"` for `boolean` (`"T/F"`). Without it only
    /// unambiguous forms parse: ISO 8601 dates and datetimes, JSON booleans, `true`/`false`.
    #[serde(default)]
    pub format: Option<String>,
    /// `boolean` only: the strings that mean true (e.g. `["T"]`).
    #[serde(default)]
    pub true_values: Option<Vec<String>>,
    /// `boolean` only: the strings that mean false (e.g. `["F"]`).
    #[serde(default)]
    pub false_values: Option<Vec<String>>,
}
