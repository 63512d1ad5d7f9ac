//! Loading and validating pipeline files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::model::*;
use super::raw::*;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigProblem {}

/// Loads and validates one pipeline file, interpolating `${NAME:-default}` from the environment.
pub fn load_pipeline(path: &Path) -> Result<Pipeline, Vec<ConfigProblem>> {
    load_pipeline_with(path, &HashMap::new())
}

/// Loads and validates one pipeline file; `vars` take precedence over the environment in
/// `${NAME:-default}` interpolation.
pub fn load_pipeline_with(
    path: &Path,
    vars: &HashMap<String, String>,
) -> Result<Pipeline, Vec<ConfigProblem>> {
    let text = fs_err::read_to_string(path).map_err(|e| {
        vec![ConfigProblem {
            file: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        }]
    })?;
    parse_pipeline(path, &text, vars)
}

/// Validates a pipeline file, or every `*.yml`/`*.yaml` file in a folder, without network
/// access. Returns every problem found (empty = valid).
pub fn validate_path(path: &Path) -> Vec<ConfigProblem> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = match fs_err::read_dir(path) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
                .collect(),
            Err(e) => {
                return vec![ConfigProblem {
                    file: path.to_path_buf(),
                    line: None,
                    message: e.to_string(),
                }];
            }
        };
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        if let Err(mut p) = load_pipeline(&f) {
            out.append(&mut p);
        }
    }
    out
}

/// Parses pipeline text (exposed for tests).
pub fn parse_pipeline(
    path: &Path,
    text: &str,
    vars: &HashMap<String, String>,
) -> Result<Pipeline, Vec<ConfigProblem>> {
    let mut problems = Problems {
        file: path.to_path_buf(),
        text: text.to_string(),
        list: Vec::new(),
    };
    let interpolated = interpolate(text, vars, &mut problems);
    let raw: RawPipeline = match serde_yaml_ng::from_str(&interpolated) {
        Ok(r) => r,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            problems.list.push(ConfigProblem {
                file: path.to_path_buf(),
                line,
                message: e.to_string(),
            });
            return Err(problems.list);
        }
    };
    let pipeline = build(path, raw, &mut problems);
    if problems.list.is_empty() {
        Ok(pipeline)
    } else {
        Err(problems.list)
    }
}

struct Problems {
    file: PathBuf,
    text: String,
    list: Vec<ConfigProblem>,
}

impl Problems {
    /// Records a problem at the first line matching `needles` in order (each searched after the
    /// previous one's line), e.g. `["name: kantata", "name: time_entries", "cursor:"]`.
    fn at(&mut self, needles: &[&str], message: impl Into<String>) {
        let line = self.locate(needles);
        self.list.push(ConfigProblem {
            file: self.file.clone(),
            line,
            message: message.into(),
        });
    }

    /// Records a problem at the line of the top-level key `key` (unindented, so a system's
    /// setting of the same name is not taken for it).
    fn at_top(&mut self, key: &str, message: impl Into<String>) {
        let prefix = format!("{key}:");
        let line = self
            .text
            .lines()
            .position(|l| l.starts_with(&prefix))
            .map(|i| i + 1);
        self.list.push(ConfigProblem {
            file: self.file.clone(),
            line,
            message: message.into(),
        });
    }

    /// Like [`Problems::at`] with the first needle list that matches in full (a setting
    /// inherited from `resource_defaults` sits before the resource), else the first list.
    fn at_any(&mut self, candidates: &[&[&str]], message: impl Into<String>) {
        let line = candidates
            .iter()
            .find_map(|n| self.locate_all(n))
            .or_else(|| candidates.first().and_then(|n| self.locate(n)));
        self.list.push(ConfigProblem {
            file: self.file.clone(),
            line,
            message: message.into(),
        });
    }

    /// The line of the last needle when every needle is found in order.
    fn locate_all(&self, needles: &[&str]) -> Option<usize> {
        let (line, matched) = self.locate_counted(needles);
        (matched == needles.len()).then_some(line).flatten()
    }

    fn locate(&self, needles: &[&str]) -> Option<usize> {
        self.locate_counted(needles).0
    }

    fn locate_counted(&self, needles: &[&str]) -> (Option<usize>, usize) {
        let lines: Vec<&str> = self.text.lines().collect();
        let mut from = 0;
        let mut found = None;
        let mut matched = 0;
        for n in needles {
            let norm = |s: &str| s.replace(['"', '\''], "");
            let hit = lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| norm(l).contains(&norm(n)))
                .map(|(i, _)| i);
            match hit {
                Some(i) => {
                    found = Some(i + 1);
                    from = i + 1;
                    matched += 1;
                }
                None => break,
            }
        }
        (found, matched)
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` (not `${env:..}` / `${secret:..}`).
fn interpolate(text: &str, vars: &HashMap<String, String>, problems: &mut Problems) -> String {
    let mut out = String::with_capacity(text.len());
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &after[..end];
            if inner.starts_with("env:") || inner.starts_with("secret:") {
                out.push_str(&rest[start..start + 2 + end + 1]);
            } else {
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n.trim(), Some(d)),
                    None => (inner.trim(), None),
                };
                let value = vars
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
                    .or_else(|| default.map(str::to_string));
                match value {
                    Some(v) => out.push_str(&v),
                    None => problems.list.push(ConfigProblem {
                        file: problems.file.clone(),
                        line: Some(lineno + 1),
                        message: format!("variable `{name}` is not set and has no default (write `${{{name}:-default}}`)"),
                    }),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    out
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration `{s}` (e.g. 500ms, 30s, 5m, 2h, 1d)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("bad duration unit in `{s}` (ms, s, m, h, d)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration `{s}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn build(path: &Path, raw: RawPipeline, p: &mut Problems) -> Pipeline {
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let schedule = raw
        .schedule
        .as_deref()
        .and_then(|s| match cron::Schedule::from_str(s) {
            Ok(c) => Some(c),
            Err(e) => {
                p.at(&["schedule:"], format!("bad cron expression `{s}`: {e}"));
                None
            }
        });
    let timezone = match raw.timezone.as_deref().map(str::trim) {
        None => chrono_tz::UTC,
        Some(name) => name.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            p.at_top(
                "timezone",
                format!("unknown time zone `{name}` (an IANA name such as Europe/Paris, or UTC)"),
            );
            chrono_tz::UTC
        }),
    };
    let retry = run_retry(raw.retry.as_ref(), p);
    let mut date = |key: &str, v: &Option<String>| -> Option<chrono::NaiveDate> {
        v.as_deref().and_then(
            |s| match chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    p.at(
                        &[&format!("{key}:")],
                        format!("`{key}` must be a YYYY-MM-DD date, got `{s}`"),
                    );
                    None
                }
            },
        )
    };
    let mut as_of = date("as_of", &raw.as_of);
    let mut history_start = date("history_start", &raw.history_start);
    let resolve = |s: &str| {
        let pb = PathBuf::from(s);
        if pb.is_absolute() || s.contains("://") {
            pb
        } else {
            base_dir.join(pb)
        }
    };
    let manifest = raw.manifest.as_deref().map(|m| {
        // relative to the current directory first (the usual `pslake` invocation), else the file
        let pb = PathBuf::from(m);
        if pb.exists() { pb } else { resolve(m) }
    });
    // A missing manifest is not a validation problem: it may be generated later.
    if let Some(m) = &manifest
        && let Ok(text) = fs_err::read_to_string(m)
    {
        {
            #[derive(serde::Deserialize)]
            struct Manifest {
                as_of: Option<chrono::NaiveDate>,
                history_start: Option<chrono::NaiveDate>,
            }
            match serde_json::from_str::<Manifest>(&text) {
                Ok(mf) => {
                    as_of = as_of.or(mf.as_of);
                    history_start = history_start.or(mf.history_start);
                }
                Err(e) => p.at(
                    &["manifest:"],
                    format!("manifest {} is not valid: {e}", m.display()),
                ),
            }
        }
    }
    let secrets_file = raw
        .secrets_file
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let pb = PathBuf::from(s);
            if pb.exists() { pb } else { resolve(s) }
        });

    let mut systems = Vec::new();
    let mut names = HashSet::new();
    let mut tables = HashSet::new();
    for sys in raw.systems {
        if !names.insert(sys.name.clone()) {
            p.at(
                &[
                    &format!("name: {}", sys.name),
                    &format!("name: {}", sys.name),
                ],
                format!("system `{}` is declared twice", sys.name),
            );
        }
        if !is_ident(&sys.name) {
            p.at(
                &[&format!("name: {}", sys.name)],
                format!(
                    "system name `{}` must be lowercase letters, digits and `_`",
                    sys.name
                ),
            );
        }
        if let Some(s) = build_system(sys, p, &mut tables) {
            systems.push(s);
        }
    }
    if systems.is_empty() && p.list.is_empty() {
        p.at(&["systems:"], "the pipeline declares no systems");
    }
    let triggers = build_triggers(raw.triggers, &systems, p);
    Pipeline {
        name: raw.name,
        path: path.to_path_buf(),
        lake: raw.lake,
        schedule,
        timezone,
        retry,
        as_of,
        history_start,
        manifest,
        secrets_file,
        systems,
        triggers,
    }
}

/// The pipeline's `triggers:`, checked against its streams (see [`super::triggers`]).
fn build_triggers(
    raw: Vec<super::triggers::RawTrigger>,
    systems: &[System],
    p: &mut Problems,
) -> Vec<super::triggers::Trigger> {
    if raw.is_empty() {
        return Vec::new();
    }
    let streams: Vec<(String, String)> = systems
        .iter()
        .flat_map(|s| s.streams.iter().map(|st| (s.name.clone(), st.name.clone())))
        .collect();
    let mut found = Vec::new();
    let triggers = super::triggers::build_triggers(raw, &streams, &p.text, &mut found);
    for (line, message) in found {
        p.list.push(ConfigProblem {
            file: p.file.clone(),
            line,
            message,
        });
    }
    triggers
}

/// The pipeline's `retry:` (scheduled runs), defaults filled in.
fn run_retry(raw: Option<&RawRunRetry>, p: &mut Problems) -> RunRetry {
    let mut retry = RunRetry::default();
    let Some(raw) = raw else {
        return retry;
    };
    match raw.attempts {
        Some(0) => p.at_top("retry", "retry: attempts must be at least 1 (1: no retry)"),
        Some(n) => retry.attempts = n,
        None => {}
    }
    if let Some(b) = &raw.backoff {
        match parse_duration(b) {
            Ok(d) => retry.backoff = d,
            Err(e) => p.at_top("retry", format!("retry: backoff: {e}")),
        }
    }
    retry
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn build_system(sys: RawSystem, p: &mut Problems, tables: &mut HashSet<String>) -> Option<System> {
    let sname = sys.name.clone();
    let at_sys = format!("name: {sname}");
    let kind = match sys.kind {
        RawSystemKind::Rest => {
            let Some(c) = sys.client.clone() else {
                p.at(
                    &[&at_sys],
                    format!("system `{sname}`: a `rest` system needs `client`"),
                );
                return None;
            };
            if sys.location.is_some() {
                p.at(
                    &[&at_sys, "location:"],
                    format!("system `{sname}`: `location` is for `files` systems"),
                );
            }
            SystemKind::Rest(Box::new(build_client(&sname, c, p)?))
        }
        RawSystemKind::Files => {
            if sys.client.is_some() {
                p.at(
                    &[&at_sys, "client:"],
                    format!("system `{sname}`: `client` is for `rest` systems"),
                );
            }
            let Some(location) = sys.location.clone() else {
                p.at(
                    &[&at_sys],
                    format!("system `{sname}`: a `files` system needs `location`"),
                );
                return None;
            };
            SystemKind::Files { location }
        }
    };
    let defaults = sys.resource_defaults.clone().unwrap_or_default();
    let mut streams = Vec::new();
    let mut seen = HashSet::new();
    if sys.resources.is_empty() {
        p.at(&[&at_sys], format!("system `{sname}` has no resources"));
    }
    for r in &sys.resources {
        let Some(rname) = r.name.clone() else {
            p.at(
                &[&at_sys, "resources:"],
                format!("system `{sname}`: every resource needs a `name`"),
            );
            continue;
        };
        if !seen.insert(rname.clone()) {
            p.at(
                &[&at_sys, &format!("name: {rname}")],
                format!("system `{sname}`: resource `{rname}` is declared twice"),
            );
        }
        let merged = merge(&defaults, r);
        if let Some(s) = build_stream(&sname, &kind, &rname, merged, p) {
            if !tables.insert(s.table.clone()) {
                p.at(
                    &[&at_sys, &format!("name: {rname}")],
                    format!("two streams land in the same table raw.{}", s.table),
                );
            }
            streams.push(s);
        }
    }
    let mut sys = System {
        name: sname,
        kind,
        streams,
    };
    check_parents(&sys, p);
    keep_embedded(&mut sys);
    Some(sys)
}

fn build_client(sname: &str, c: RawClient, p: &mut Problems) -> Option<Client> {
    let at = format!("name: {sname}");
    let base_url = match url::Url::parse(c.base_url.trim()) {
        Ok(u) => Some(u),
        Err(e) => {
            p.at(
                &[&at, "base_url:"],
                format!(
                    "system `{sname}`: base_url `{}` is not a URL: {e}",
                    c.base_url
                ),
            );
            None
        }
    };
    let mut dur = |key: &str, v: Option<&String>, default: Duration| -> Duration {
        match v.map(|s| parse_duration(s)) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                p.at(
                    &[&at, &format!("{key}:")],
                    format!("system `{sname}`: {key}: {e}"),
                );
                default
            }
        }
    };
    let timeout = dur("timeout", c.timeout.as_ref(), Duration::from_secs(60));
    let retry = c.retry.clone().unwrap_or(RawRetry {
        max_attempts: None,
        initial_backoff: None,
        max_backoff: None,
        rules: None,
    });
    let initial_backoff = dur(
        "initial_backoff",
        retry.initial_backoff.as_ref(),
        Duration::from_millis(200),
    );
    let max_backoff = dur(
        "max_backoff",
        retry.max_backoff.as_ref(),
        Duration::from_secs(30),
    );
    let mut retry_rules = Vec::new();
    for r in retry.rules.iter().flatten() {
        let at_rule = format!("status: {}", r.status);
        if !(400..=599).contains(&r.status) {
            p.at(
                &[&at, "rules:", &at_rule],
                format!(
                    "system `{sname}`: retry rule status {} must be an error status (400-599)",
                    r.status
                ),
            );
        }
        if r.body_contains.as_deref() == Some("") {
            p.at(
                &[&at, "rules:", &at_rule, "body_contains:"],
                format!("system `{sname}`: retry rule body_contains must not be empty"),
            );
        }
        retry_rules.push(RetryRule {
            status: r.status,
            body_contains: r.body_contains.clone(),
            action: match r.action {
                RawRetryAction::Retry => RetryAction::Retry,
                RawRetryAction::RateLimited => RetryAction::RateLimited,
                RawRetryAction::Fail => RetryAction::Fail,
            },
        });
    }
    let max_attempts = retry.max_attempts.unwrap_or(6);
    if max_attempts == 0 {
        p.at(
            &[&at, "max_attempts:"],
            format!("system `{sname}`: max_attempts must be at least 1"),
        );
    }
    let concurrency = c.concurrency.unwrap_or(4);
    if concurrency == 0 {
        p.at(
            &[&at, "concurrency:"],
            format!("system `{sname}`: concurrency must be at least 1"),
        );
    }
    if let Some(r) = c.rate_limit
        && !(r.is_finite() && r > 0.0)
    {
        {
            p.at(
                &[&at, "rate_limit:"],
                format!(
                    "system `{sname}`: rate_limit must be a positive number of requests per second"
                ),
            );
        }
    }
    let secret = |p: &mut Problems, field: &str, v: &str| -> ValueRef {
        let r = ValueRef::parse(v);
        if !r.is_reference() {
            p.at(&[&at, &format!("{field}:")], format!(
                "system `{sname}`: `{field}` must be a secret reference like `${{env:NAME}}` or `${{secret:NAME}}`, never a literal value"
            ));
        }
        check_ref_name(p, &at, field, &r);
        r
    };
    let plain_or_ref = |p: &mut Problems, field: &str, v: &str| -> ValueRef {
        let r = ValueRef::parse(v);
        check_ref_name(p, &at, field, &r);
        r
    };
    let auth = match c.auth {
        None => Auth::None,
        Some(RawAuth::Bearer { token }) => Auth::Bearer {
            token: secret(p, "token", &token),
        },
        Some(RawAuth::Basic { username, password }) => Auth::Basic {
            username: plain_or_ref(p, "username", &username),
            password: secret(p, "password", &password),
        },
        Some(RawAuth::ApiKey {
            name,
            value,
            location,
        }) => {
            let in_query = match location.as_deref() {
                None | Some("header") => false,
                Some("query") => true,
                Some(o) => {
                    p.at(
                        &[&at, "in:"],
                        format!(
                            "system `{sname}`: api_key `in` must be `header` or `query`, got `{o}`"
                        ),
                    );
                    false
                }
            };
            Auth::ApiKey {
                name,
                value: secret(p, "value", &value),
                in_query,
            }
        }
        Some(RawAuth::Oauth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
            instance_url_field,
        }) => Auth::OAuth2ClientCredentials {
            token_url,
            client_id: plain_or_ref(p, "client_id", &client_id),
            client_secret: secret(p, "client_secret", &client_secret),
            scope,
            instance_url_field,
        },
        Some(RawAuth::Oauth2JwtAssertion {
            token_url,
            client_id,
            certificate_id,
            private_key,
            scope,
            algorithm,
            refresh_before,
            assertion_lifetime,
        }) => {
            if let Some(a) = algorithm.as_deref()
                && a != "PS256"
            {
                p.at(
                    &[&at, "algorithm:"],
                    format!("system `{sname}`: oauth2_jwt_assertion `algorithm` must be `PS256`, got `{a}`"),
                );
            }
            let mut jdur = |key: &str, v: Option<&String>, default: Duration| match v
                .map(|s| parse_duration(s))
            {
                None => default,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    p.at(
                        &[&at, &format!("{key}:")],
                        format!("system `{sname}`: {key}: {e}"),
                    );
                    default
                }
            };
            let refresh_before = jdur(
                "refresh_before",
                refresh_before.as_ref(),
                Duration::from_secs(300),
            );
            let mut assertion_lifetime = jdur(
                "assertion_lifetime",
                assertion_lifetime.as_ref(),
                Duration::from_secs(3600),
            );
            if assertion_lifetime > Duration::from_secs(3600) || assertion_lifetime.is_zero() {
                p.at(
                    &[&at, "assertion_lifetime:"],
                    format!(
                        "system `{sname}`: assertion_lifetime must be more than 0 and at most 1h"
                    ),
                );
                assertion_lifetime = Duration::from_secs(3600);
            }
            Auth::OAuth2JwtAssertion {
                token_url,
                client_id: plain_or_ref(p, "client_id", &client_id),
                certificate_id: plain_or_ref(p, "certificate_id", &certificate_id),
                private_key: secret(p, "private_key", &private_key),
                scope,
                refresh_before,
                assertion_lifetime,
            }
        }
    };
    Some(Client {
        // an invalid base URL is already a problem; keep checking the streams
        base_url: base_url
            .unwrap_or_else(|| url::Url::parse("http://invalid.invalid/").expect("valid URL")),
        auth,
        headers: c.headers,
        rate_limit: c.rate_limit,
        concurrency: concurrency.max(1),
        timeout,
        max_attempts: max_attempts.max(1),
        initial_backoff,
        max_backoff,
        retry_rules,
    })
}

fn check_ref_name(p: &mut Problems, at: &str, field: &str, r: &ValueRef) {
    if let ValueRef::Env(n) | ValueRef::Secret(n) = r
        && (n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        {
            p.at(
                &[at, &format!("{field}:")],
                format!("`{field}`: bad secret name `{n}` (letters, digits, `_`)"),
            );
        }
    }
}

/// Field-by-field inheritance; params and headers merge by key.
fn merge(d: &RawResource, r: &RawResource) -> RawResource {
    let endpoint = match (&d.endpoint, &r.endpoint) {
        (None, None) => None,
        (Some(e), None) | (None, Some(e)) => Some(e.clone()),
        (Some(de), Some(re)) => {
            let mut params: BTreeMap<String, String> = de.params.clone();
            params.extend(re.params.clone());
            let mut headers = de.headers.clone();
            headers.extend(re.headers.clone());
            Some(RawEndpoint {
                method: re.method.clone().or_else(|| de.method.clone()),
                path: re.path.clone().or_else(|| de.path.clone()),
                params,
                json: re.json.clone().or_else(|| de.json.clone()),
                headers,
                param_sets: re.param_sets.clone().or_else(|| de.param_sets.clone()),
            })
        }
    };
    let incremental = match (&d.incremental, &r.incremental) {
        (None, None) => None,
        (Some(i), None) | (None, Some(i)) => Some(i.clone()),
        (Some(di), Some(ri)) => Some(RawIncremental {
            cursor: ri.cursor.clone().or_else(|| di.cursor.clone()),
            initial_value: ri
                .initial_value
                .clone()
                .or_else(|| di.initial_value.clone()),
            lag: ri.lag.clone().or_else(|| di.lag.clone()),
            format: ri.format.clone().or_else(|| di.format.clone()),
            client_filter: ri.client_filter.or(di.client_filter),
            param_set_cursors: ri
                .param_set_cursors
                .clone()
                .or_else(|| di.param_set_cursors.clone()),
            since_cursor: ri.since_cursor.clone().or_else(|| di.since_cursor.clone()),
        }),
    };
    let records = match (&d.records, &r.records) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(dr), Some(rr)) => Some(RawRecords {
            path: rr.path.clone().or_else(|| dr.path.clone()),
            keyed_by: rr.keyed_by.clone().or_else(|| dr.keyed_by.clone()),
            strip: rr.strip.clone().or_else(|| dr.strip.clone()),
            unnest: rr.unnest.clone().or_else(|| dr.unnest.clone()),
        }),
    };
    let reconcile = match (&d.reconcile, &r.reconcile) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(dr), Some(rr)) => Some(RawReconcile {
            every: rr.every.clone().or_else(|| dr.every.clone()),
            endpoint: match (&dr.endpoint, &rr.endpoint) {
                (None, None) => None,
                (Some(e), None) | (None, Some(e)) => Some(e.clone()),
                (Some(de), Some(re)) => {
                    let mut params = de.params.clone();
                    params.extend(re.params.clone());
                    let mut headers = de.headers.clone();
                    headers.extend(re.headers.clone());
                    Some(RawReconcileEndpoint {
                        method: re.method.clone().or_else(|| de.method.clone()),
                        path: re.path.clone().or_else(|| de.path.clone()),
                        params,
                        json: re.json.clone().or_else(|| de.json.clone()),
                        headers,
                        param_sets: re.param_sets.clone().or_else(|| de.param_sets.clone()),
                    })
                }
            },
        }),
    };
    RawResource {
        name: r.name.clone(),
        endpoint,
        paginator: r.paginator.clone().or_else(|| d.paginator.clone()),
        records,
        incremental,
        primary_key: r.primary_key.clone().or_else(|| d.primary_key.clone()),
        columns: r.columns.clone().or_else(|| d.columns.clone()),
        pattern: r.pattern.clone().or_else(|| d.pattern.clone()),
        reconcile,
        freshness: match (&d.freshness, &r.freshness) {
            (None, None) => None,
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (Some(df), Some(rf)) => Some(RawFreshness {
                warn_after: rf.warn_after.clone().or_else(|| df.warn_after.clone()),
                error_after: rf.error_after.clone().or_else(|| df.error_after.clone()),
            }),
        },
        max_pages: r.max_pages.or(d.max_pages),
        parent: r.parent.clone().or_else(|| d.parent.clone()),
    }
}

const START_PLACEHOLDER: &str = "{incremental.start_value}";

/// A column's declared format, checked against its type; `Err` names the offending key.
fn column_format(t: DataType, c: &RawColumn) -> Result<ValueFormat, (&'static str, String)> {
    let is_bool = t == DataType::Boolean;
    if !is_bool && (c.true_values.is_some() || c.false_values.is_some()) {
        let key = if c.true_values.is_some() {
            "true_values:"
        } else {
            "false_values:"
        };
        return Err((
            key,
            "true_values/false_values apply to boolean columns only".into(),
        ));
    }
    match (t, &c.format) {
        (DataType::Boolean, f) => {
            let (mut tv, mut fv) = match f {
                None => (Vec::new(), Vec::new()),
                Some(f) => match f.split_once('/') {
                    Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains('/') => {
                        (vec![a.to_string()], vec![b.to_string()])
                    }
                    _ => {
                        return Err((
                            "format:",
                            format!("boolean format `{f}` must be `<true>/<false>`, e.g. `T/F`"),
                        ));
                    }
                },
            };
            tv.extend(c.true_values.iter().flatten().cloned());
            fv.extend(c.false_values.iter().flatten().cloned());
            if let Some(v) = tv.iter().find(|v| fv.contains(v)) {
                return Err(("format:", format!("`{v}` is declared both true and false")));
            }
            Ok(if tv.is_empty() && fv.is_empty() {
                ValueFormat::Default
            } else {
                ValueFormat::Bool {
                    true_values: tv,
                    false_values: fv,
                }
            })
        }
        (_, None) => Ok(ValueFormat::Default),
        (DataType::Date | DataType::Timestamp, Some(f)) => check_strftime(f, t == DataType::Date)
            .map(|()| ValueFormat::Chrono(f.clone()))
            .map_err(|e| ("format:", e)),
        (_, Some(f)) => Err((
            "format:",
            format!("format `{f}` applies to date, timestamp and boolean columns only"),
        )),
    }
}

/// Checks a chrono strftime format: known specifiers, and for a date at least a year, a month
/// and a day.
fn check_strftime(f: &str, date: bool) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(f).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(format!("`{f}` is not a chrono strftime format"));
    }
    // a format must name the calendar date: parse a known date written with it
    let sample = chrono::NaiveDate::from_ymd_opt(2026, 12, 31)
        .expect("valid date")
        .and_hms_opt(23, 59, 58)
        .expect("valid time");
    let mut text = String::new();
    if fmt::Write::write_fmt(&mut text, format_args!("{}", sample.and_utc().format(f))).is_err() {
        return Err(format!("`{f}` is not a chrono strftime format"));
    }
    let back = if date {
        chrono::NaiveDate::parse_from_str(&text, f).map(|d| d == sample.date())
    } else {
        chrono::NaiveDateTime::parse_from_str(&text, f)
            .map(|d| d.date() == sample.date())
            .or_else(|_| chrono::NaiveDate::parse_from_str(&text, f).map(|d| d == sample.date()))
            .or_else(|_| {
                chrono::DateTime::parse_from_str(&text, f).map(|d| d.date_naive() == sample.date())
            })
    };
    match back {
        Ok(true) => Ok(()),
        _ => Err(format!(
            "`{f}` does not read back a full date (needs year, month and day)"
        )),
    }
}

fn build_stream(
    sname: &str,
    kind: &SystemKind,
    rname: &str,
    r: RawResource,
    p: &mut Problems,
) -> Option<Stream> {
    let at_s = format!("name: {sname}");
    let at_r = format!("name: {rname}");
    let ctx = format!("stream `{sname}.{rname}`");
    let table = raw_table_name(sname, rname);
    if !is_ident(&table) {
        p.at(
            &[&at_s, &at_r],
            format!("{ctx}: table name raw.{table} must be lowercase letters, digits and `_`"),
        );
    }
    let subst = |s: &str| s.replace("{name}", rname);
    let is_rest = matches!(kind, SystemKind::Rest(_));

    // columns
    let mut columns = Vec::new();
    let mut col_names = HashSet::new();
    let raw_cols = r.columns.clone().unwrap_or_default();
    if raw_cols.is_empty() {
        p.at(
            &[&at_s, &at_r],
            format!("{ctx}: declare at least one column"),
        );
    }
    for c in raw_cols {
        if !col_names.insert(c.name.clone()) {
            p.at(
                &[&at_s, &at_r, &format!("name: {}", c.name)],
                format!("{ctx}: column `{}` is declared twice", c.name),
            );
        }
        if !is_ident(&c.name) || c.name.starts_with('_') {
            p.at(
                &[&at_s, &at_r, &format!("name: {}", c.name)],
                format!(
                    "{ctx}: column name `{}` must be snake_case and not start with `_`",
                    c.name
                ),
            );
        }
        match DataType::parse(&c.data_type) {
            Ok(t) => {
                let format = match column_format(t, &c) {
                    Ok(f) => f,
                    Err((key, e)) => {
                        p.at(
                            &[&at_s, &at_r, &format!("name: {}", c.name), key],
                            format!("{ctx}: column `{}`: {e}", c.name),
                        );
                        ValueFormat::Default
                    }
                };
                columns.push(Column {
                    path: JsonPath::parse(c.path.as_deref().unwrap_or(&c.name)),
                    name: c.name,
                    data_type: t,
                    required: c.required,
                    format,
                })
            }
            Err(e) => p.at(
                &[&at_s, &at_r, &format!("name: {}", c.name), "type:"],
                format!("{ctx}: column `{}`: {e}", c.name),
            ),
        }
    }
    let primary_key = r.primary_key.clone().unwrap_or_default();
    if primary_key.is_empty() {
        p.at(&[&at_s, &at_r], format!("{ctx}: declare a primary_key"));
    }
    for k in &primary_key {
        if !col_names.contains(k) {
            p.at(
                &[&at_s, &at_r, "primary_key:"],
                format!("{ctx}: primary key `{k}` is not a declared column"),
            );
        }
    }

    // endpoint
    let endpoint = match (&r.endpoint, is_rest) {
        (Some(e), _) => {
            let method = match e.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
                None | Some("GET") => Method::Get,
                Some("POST") => Method::Post,
                Some(m) => {
                    p.at(
                        &[&at_s, &at_r, "method:"],
                        format!("{ctx}: method must be GET or POST, got `{m}`"),
                    );
                    Method::Get
                }
            };
            let path = subst(e.path.as_deref().unwrap_or(""));
            if path.is_empty() && is_rest {
                p.at(&[&at_s, &at_r], format!("{ctx}: endpoint needs a `path`"));
            }
            Endpoint {
                method,
                path,
                params: e
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), subst(v)))
                    .collect(),
                json: e.json.clone().map(|j| subst_json(j, &subst)),
                headers: e.headers.clone(),
                param_sets: e.param_sets.clone().unwrap_or_default(),
            }
        }
        (None, true) => {
            p.at(
                &[&at_s, &at_r],
                format!("{ctx}: a REST stream needs an `endpoint`"),
            );
            Endpoint {
                method: Method::Get,
                path: String::new(),
                params: BTreeMap::new(),
                json: None,
                headers: BTreeMap::new(),
                param_sets: Vec::new(),
            }
        }
        (None, false) => Endpoint {
            method: Method::Get,
            path: String::new(),
            params: BTreeMap::new(),
            json: None,
            headers: BTreeMap::new(),
            param_sets: Vec::new(),
        },
    };
    let uses_start = endpoint
        .params
        .values()
        .any(|v| v.contains(START_PLACEHOLDER))
        || endpoint.path.contains(START_PLACEHOLDER)
        || endpoint
            .json
            .as_ref()
            .is_some_and(|j| j.to_string().contains(START_PLACEHOLDER));

    let paginator = build_paginator(
        r.paginator.clone().unwrap_or(RawPaginator::None),
        endpoint.method,
        p,
        &ctx,
        &[&at_s, &at_r],
    );

    let records = r.records.clone().unwrap_or_default();
    let records = RecordSelector {
        path: JsonPath::parse(&subst(records.path.as_deref().unwrap_or(""))),
        keyed_by: records.keyed_by.as_ref().map(|k| {
            let type_filter = match (&k.type_field, &k.type_value) {
                (Some(f), Some(v)) => Some((f.clone(), subst(v))),
                (None, None) => None,
                _ => {
                    p.at_any(
                        &[&[&at_s, &at_r, "keyed_by"], &[&at_s, "keyed_by"]],
                        format!("{ctx}: keyed_by needs type_field and type_value together"),
                    );
                    None
                }
            };
            KeyedBy {
                refs: JsonPath::parse(&subst(&k.refs)),
                id_field: k.id_field.clone().unwrap_or_else(|| "id".into()),
                type_filter,
            }
        }),
        strip: records.strip.clone().unwrap_or_default(),
        kept: Vec::new(),
        unnest: records.unnest.as_ref().map(|u| {
            let path = JsonPath::parse(&subst(&u.path));
            let at: &[&[&str]] = &[&[&at_s, &at_r, "unnest"], &[&at_s, "unnest"]];
            if path.is_root() {
                p.at_any(
                    at,
                    format!(
                        "{ctx}: unnest needs a `path` inside the record (not the record itself)"
                    ),
                );
            }
            let mut names: Vec<&str> = u.parent.iter().map(|(n, _)| n.as_str()).collect();
            names.extend(u.key_as.as_deref());
            for (i, n) in names.iter().enumerate() {
                if n.is_empty() || n.contains('.') {
                    p.at_any(
                        at,
                        format!("{ctx}: unnest field name `{n}` must be a plain, non-empty key"),
                    );
                } else if names[..i].contains(n) {
                    p.at_any(at, format!("{ctx}: unnest names the field `{n}` twice"));
                }
            }
            Unnest {
                path,
                key_as: u.key_as.clone(),
                parent: u
                    .parent
                    .iter()
                    .map(|(n, path)| (n.clone(), JsonPath::parse(&subst(path))))
                    .collect(),
            }
        }),
    };

    // incremental
    let incremental = match r.incremental {
        None => {
            if uses_start {
                p.at(&[&at_s, &at_r], format!("{ctx}: the endpoint uses {START_PLACEHOLDER} but the stream declares no `incremental`"));
            }
            None
        }
        Some(inc) => {
            let cursor = inc.cursor.clone().unwrap_or_default();
            let column = columns.iter().position(|c| c.name == cursor);
            match column {
                None => {
                    p.at(
                        &[&at_s, &at_r, "cursor:"],
                        format!("{ctx}: incremental cursor `{cursor}` is not a declared column"),
                    );
                }
                Some(i)
                    if !matches!(columns[i].data_type, DataType::Date | DataType::Timestamp) =>
                {
                    p.at(&[&at_s, &at_r, "cursor:"], format!("{ctx}: incremental cursor `{cursor}` must be a date or timestamp column"));
                }
                _ => {}
            }
            let lag = match inc.lag.as_deref().map(parse_duration) {
                None => Duration::ZERO,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    p.at(&[&at_s, &at_r, "lag:"], format!("{ctx}: lag: {e}"));
                    Duration::ZERO
                }
            };
            let initial_value = inc
                .initial_value
                .clone()
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
            if crate::pipeline::load::parse_start(&initial_value).is_none() {
                p.at(&[&at_s, &at_r, "initial_value:"], format!("{ctx}: initial_value `{initial_value}` is not a YYYY-MM-DD date or RFC 3339 datetime"));
            }
            let client_filter = inc.client_filter.unwrap_or(false);
            if !uses_start && !client_filter && is_rest {
                p.at(&[&at_s, &at_r, "incremental:"], format!(
                    "{ctx}: incremental stream neither sends {START_PLACEHOLDER} to the API nor sets `client_filter: true`"
                ));
            }
            let mut param_set_cursors = Vec::new();
            for o in inc.param_set_cursors.iter().flatten() {
                match columns.iter().position(|c| c.name == o.cursor) {
                    None => p.at(
                        &[&at_s, &at_r, "param_set_cursors:"],
                        format!("{ctx}: param_set_cursors cursor `{}` is not a declared column", o.cursor),
                    ),
                    Some(i) if column.is_some_and(|c| columns[c].data_type != columns[i].data_type) => p.at(
                        &[&at_s, &at_r, "param_set_cursors:"],
                        format!("{ctx}: param_set_cursors cursor `{}` must have the type of the cursor `{cursor}`", o.cursor),
                    ),
                    Some(i) => param_set_cursors.push((o.when.clone(), i)),
                }
            }
            let since_cursor = inc.since_cursor.as_ref().map(|sc| {
                let changes = endpoint_changes(&sc.endpoint, &subst, &mut |extra, msg| {
                    p.at(
                        &[&at_s, &at_r, "since_cursor:", extra],
                        format!("{ctx}: since_cursor {msg}"),
                    );
                });
                let method = changes.method.unwrap_or(endpoint.method);
                let paginator = sc.paginator.clone().map(|rp| {
                    build_paginator(
                        rp,
                        method,
                        p,
                        &format!("{ctx} since_cursor"),
                        &[&at_s, &at_r],
                    )
                });
                SinceCursor {
                    when: sc.when.clone(),
                    changes,
                    paginator,
                }
            });
            column.map(|column| Incremental {
                column,
                param_set_cursors,
                since_cursor,
                initial_value,
                lag,
                format: inc
                    .format
                    .clone()
                    .unwrap_or_else(|| "%Y-%m-%dT%H:%M:%SZ".into()),
                client_filter,
            })
        }
    };
    let freshness = build_freshness(r.freshness.as_ref(), p, &ctx, &[&at_s, &at_r]);
    let reconcile = r.reconcile.as_ref().and_then(|rc| {
        build_reconcile(
            rc,
            &endpoint,
            incremental.is_some(),
            is_rest,
            &subst,
            p,
            &ctx,
            &[&at_s, &at_r],
        )
    });
    let pages_by_keyset = |p: &Paginator| {
        matches!(
            p,
            Paginator::Offset {
                keyset: Some(_),
                ..
            }
        )
    };
    // each request with the paginator that pages it: the stream's, or a since_cursor's own
    let since = incremental
        .as_ref()
        .and_then(|i| i.since_cursor.as_ref())
        .map(|sc| {
            (
                sc.changes.apply(&endpoint, &BTreeMap::new()),
                sc.paginator.as_ref().unwrap_or(&paginator),
            )
        });
    for (ep, pager, what) in [(&endpoint, &paginator, "endpoint")]
        .into_iter()
        .chain(
            reconcile
                .as_ref()
                .map(|rc| (&rc.endpoint, &paginator, "reconcile endpoint")),
        )
        .chain(
            since
                .as_ref()
                .map(|(ep, pager)| (ep, *pager, "since_cursor endpoint")),
        )
    {
        let has_keyset = pages_by_keyset(pager);
        let uses = endpoint_uses(ep, KEYSET_PLACEHOLDER);
        if has_keyset && !uses {
            p.at(&[&at_s, &at_r, "keyset:"], format!("{ctx}: the paginator pages by keyset but the {what} does not use {KEYSET_PLACEHOLDER} (e.g. `WHERE id > {KEYSET_PLACEHOLDER} ORDER BY id`)"));
        } else if !has_keyset && uses {
            p.at(&[&at_s, &at_r], format!("{ctx}: the {what} uses {KEYSET_PLACEHOLDER} but the paginator declares no `keyset`"));
        }
    }
    if !is_rest && r.pattern.is_none() {
        p.at(
            &[&at_s, &at_r],
            format!("{ctx}: a files stream needs a `pattern` such as `fx_rates_*.csv`"),
        );
    }
    let parent = r.parent.as_ref().and_then(|pr| {
        build_parent(
            pr,
            raw_table_name(sname, &pr.stream),
            &endpoint,
            &paginator,
            is_rest,
            p,
            &ctx,
            &[&at_s, &at_r],
        )
    });
    let max_pages = match r.max_pages {
        Some(0) => {
            p.at(
                &[&at_s, &at_r, "max_pages:"],
                format!("{ctx}: max_pages must be at least 1"),
            );
            1
        }
        Some(n) => n,
        None => DEFAULT_MAX_PAGES,
    };
    Some(Stream {
        name: rname.to_string(),
        table,
        endpoint,
        paginator,
        records,
        incremental,
        primary_key,
        columns,
        pattern: r.pattern,
        reconcile,
        freshness,
        max_pages,
        parent,
    })
}

/// The raw table (schema `raw`) stream `stream` of system `system` lands in.
fn raw_table_name(system: &str, stream: &str) -> String {
    format!("{system}_{}", stream.to_ascii_lowercase())
}

/// A paginator as declared (`paginator:` of a stream, or of an `incremental.since_cursor`);
/// `method` is its request's. `at`: the system's and the stream's keys.
fn build_paginator(
    raw: RawPaginator,
    method: Method,
    p: &mut Problems,
    ctx: &str,
    at: &[&str],
) -> Paginator {
    match raw {
        RawPaginator::None => Paginator::None,
        RawPaginator::NextUrl { path, done_path } => Paginator::NextUrl {
            path: JsonPath::parse(&path),
            done_path: done_path.as_deref().map(JsonPath::parse),
        },
        RawPaginator::Cursor { path, param } => Paginator::Cursor {
            path: JsonPath::parse(&path),
            param,
        },
        RawPaginator::Offset {
            limit,
            limit_param,
            offset_param,
            has_more_path,
            total_path,
            location,
            keyset,
        } => {
            if limit == 0 {
                p.at(
                    &[at[0], at[1], "limit:"],
                    format!("{ctx}: offset paginator limit must be at least 1"),
                );
            }
            if has_more_path.is_none() && total_path.is_none() {
                p.at(&[at[0], at[1], "type: offset"], format!("{ctx}: offset paginator needs `has_more_path` or `total_path` (else it stops at a short page)"));
            }
            let location = match location.as_deref() {
                None | Some("query") => ParamLocation::Query,
                Some("body") => ParamLocation::Body,
                Some(o) => {
                    p.at(
                        &[at[0], at[1], "in:"],
                        format!("{ctx}: paginator `in` must be `query` or `body`, got `{o}`"),
                    );
                    ParamLocation::Query
                }
            };
            if location == ParamLocation::Body && method != Method::Post {
                p.at(
                    &[at[0], at[1], "in:"],
                    format!("{ctx}: paginator parameters in the body need method POST"),
                );
            }
            Paginator::Offset {
                limit: limit.max(1),
                limit_param: limit_param.unwrap_or_else(|| "limit".into()),
                offset_param: offset_param.unwrap_or_else(|| "offset".into()),
                has_more_path: has_more_path.as_deref().map(JsonPath::parse),
                total_path: total_path.as_deref().map(JsonPath::parse),
                location,
                keyset: keyset.map(|k| {
                    if k.max_offset < limit.max(1) {
                        p.at(
                            &[at[0], at[1], "max_offset:"],
                            format!("{ctx}: keyset max_offset must be at least the page limit"),
                        );
                    }
                    Keyset {
                        key: JsonPath::parse(&k.key),
                        start: k.start,
                        max_offset: k.max_offset,
                    }
                }),
            }
        }
        RawPaginator::PageNumber {
            page_param,
            start,
            total_pages_path,
        } => Paginator::PageNumber {
            page_param: page_param.unwrap_or_else(|| "page".into()),
            start: start.unwrap_or(1),
            total_pages_path: total_pages_path.as_deref().map(JsonPath::parse),
        },
    }
}

/// A stream's `parent`, checked where it can be without the parent (its columns are checked
/// once every stream is built, in `check_parents`).
#[allow(clippy::too_many_arguments)]
fn build_parent(
    r: &RawParent,
    table: String,
    endpoint: &Endpoint,
    paginator: &Paginator,
    is_rest: bool,
    p: &mut Problems,
    ctx: &str,
    at: &[&str],
) -> Option<Parent> {
    let mut at_p: Vec<&str> = at.to_vec();
    at_p.push("parent:");
    let mut ok = true;
    if !is_rest {
        p.at(&at_p, format!("{ctx}: `parent` is for REST streams"));
        ok = false;
    }
    if r.batch == 0 {
        p.at(&at_p, format!("{ctx}: parent batch must be at least 1"));
        ok = false;
    }
    if !matches!(paginator, Paginator::None) {
        p.at(
            &at_p,
            format!("{ctx}: a child stream sends one request per batch of keys: its paginator must be `none`"),
        );
        ok = false;
    }
    if endpoint.method != Method::Post || !endpoint.json.as_ref().is_some_and(|j| j.is_object()) {
        p.at(
            &at_p,
            format!("{ctx}: a child stream's keys go in its JSON body (`into: {}`): it needs `method: POST` and a `json` object", r.into),
        );
        ok = false;
    }
    for k in r.matches.keys() {
        if !endpoint.param_sets.iter().all(|set| set.contains_key(k))
            || endpoint.param_sets.is_empty()
        {
            p.at(
                &at_p,
                format!("{ctx}: parent match `{k}` must be a parameter of every one of the endpoint's param_sets"),
            );
            ok = false;
        }
    }
    ok.then(|| Parent {
        stream: r.stream.clone(),
        table,
        key: r.key.clone(),
        since: r.since.clone(),
        batch: r.batch,
        into: r.into.clone(),
        item: r
            .item
            .clone()
            .unwrap_or_else(|| serde_json::Value::String(PARENT_KEY_PLACEHOLDER.into())),
        matches: r.matches.clone(),
        embedded: r.embedded.clone(),
    })
}

/// Every child stream's parent is another stream of its system, declared before it, and has the
/// columns the child names.
fn check_parents(sys: &System, p: &mut Problems) {
    let at_s = format!("name: {}", sys.name);
    for (i, s) in sys.streams.iter().enumerate() {
        let Some(parent) = &s.parent else { continue };
        let at_r = format!("name: {}", s.name);
        let ctx = format!("stream `{}.{}`", sys.name, s.name);
        let Some(ps) = sys.streams[..i].iter().find(|x| x.name == parent.stream) else {
            p.at(
                &[&at_s, &at_r, "parent:"],
                format!(
                    "{ctx}: parent stream `{}` is not a stream of `{}` declared before it",
                    parent.stream, sys.name
                ),
            );
            continue;
        };
        let cols = std::iter::once(&parent.key)
            .chain(&parent.since)
            .chain(parent.matches.values());
        for c in cols {
            if !ps.columns.iter().any(|x| &x.name == c) {
                p.at(
                    &[&at_s, &at_r, "parent:"],
                    format!(
                        "{ctx}: parent column `{c}` is not a column of `{}.{}`",
                        sys.name, ps.name
                    ),
                );
            }
        }
        if let Some(inc) = &s.incremental {
            let t = s.columns[inc.column].data_type;
            for c in &parent.since {
                if let Some(pc) = ps.columns.iter().find(|x| &x.name == c)
                    && pc.data_type != t
                {
                    p.at(
                        &[&at_s, &at_r, "parent:"],
                        format!("{ctx}: parent since column `{c}` must have the type of the cursor `{}`", s.columns[inc.column].name),
                    );
                }
            }
        } else if !parent.since.is_empty() {
            p.at(
                &[&at_s, &at_r, "parent:"],
                format!(
                    "{ctx}: parent `since` compares with the stream's cursor: declare `incremental`"
                ),
            );
        }
    }
}

/// The member each child stream reads from its parent's records (`parent.embedded`) is kept in
/// the parent's `_raw` and not reported as a new field there.
fn keep_embedded(sys: &mut System) {
    let kept: Vec<(String, String)> = sys
        .streams
        .iter()
        .filter_map(|s| s.parent.as_ref())
        .filter_map(|p| Some((p.stream.clone(), p.embedded.clone()?)))
        .collect();
    for (parent, member) in kept {
        if let Some(ps) = sys.streams.iter_mut().find(|s| s.name == parent)
            && !ps.records.kept.contains(&member)
        {
            ps.records.kept.push(member);
        }
    }
}

/// A request's changes (`reconcile.endpoint`, `since_cursor.endpoint`), `{name}` substituted;
/// `bad(key, message)` reports a wrong value.
fn endpoint_changes(
    o: &RawReconcileEndpoint,
    subst: &dyn Fn(&str) -> String,
    bad: &mut dyn FnMut(&str, String),
) -> EndpointChanges {
    let method = match o.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None => None,
        Some("GET") => Some(Method::Get),
        Some("POST") => Some(Method::Post),
        Some(m) => {
            bad("method:", format!("method must be GET or POST, got `{m}`"));
            None
        }
    };
    EndpointChanges {
        method,
        path: o.path.as_deref().map(subst),
        params: o
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_deref().map(subst)))
            .collect(),
        json: o.json.clone().map(|j| subst_json(j, subst)),
        headers: o.headers.clone(),
    }
}

/// A stream's `freshness`: two durations, `warn_after` not above `error_after`.
fn build_freshness(
    f: Option<&RawFreshness>,
    p: &mut Problems,
    ctx: &str,
    at: &[&str],
) -> Freshness {
    let Some(f) = f else {
        return Freshness::default();
    };
    let mut read = |key: &str, v: &Option<String>| -> Option<Duration> {
        let text = v.as_deref()?;
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                let mut own: Vec<&str> = at.to_vec();
                own.push(key);
                let mut defaults: Vec<&str> = at[..1].to_vec();
                defaults.extend(["resource_defaults:", key]);
                p.at_any(&[&own, &defaults], format!("{ctx}: freshness {key} {e}"));
                None
            }
        }
    };
    let warn_after = read("warn_after:", &f.warn_after);
    let error_after = read("error_after:", &f.error_after);
    if let (Some(w), Some(e)) = (warn_after, error_after)
        && w > e
    {
        let mut own: Vec<&str> = at.to_vec();
        own.push("freshness:");
        p.at_any(
            &[&own],
            format!("{ctx}: freshness warn_after is longer than error_after"),
        );
    }
    Freshness {
        warn_after,
        error_after,
    }
}

/// The keys pass of a stream: `every`, and the stream's endpoint with the reconcile changes.
#[allow(clippy::too_many_arguments)]
fn build_reconcile(
    rc: &RawReconcile,
    endpoint: &Endpoint,
    incremental: bool,
    is_rest: bool,
    subst: &dyn Fn(&str) -> String,
    p: &mut Problems,
    ctx: &str,
    at: &[&str],
) -> Option<Reconcile> {
    // the resource's own setting, else the one in `resource_defaults` (at[0] is the system)
    let locate = |p: &mut Problems, extra: &str, msg: String| {
        let mut own: Vec<&str> = at.to_vec();
        own.push(extra);
        let mut defaults: Vec<&str> = at[..1].to_vec();
        defaults.extend(["resource_defaults:", extra]);
        p.at_any(&[&own, &defaults], msg);
    };
    if !is_rest {
        locate(
            p,
            "reconcile:",
            format!("{ctx}: `reconcile` is for REST streams (a file drop loads each file once)"),
        );
        return None;
    }
    let every = match rc.every.as_deref().map(parse_duration) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            locate(p, "every:", format!("{ctx}: reconcile every: {e}"));
            return None;
        }
        None => {
            locate(
                p,
                "reconcile:",
                format!("{ctx}: `reconcile` needs `every`, e.g. `reconcile: {{every: 7d}}`"),
            );
            return None;
        }
    };
    let ep = match &rc.endpoint {
        None => endpoint.clone(),
        Some(o) => {
            let changes = endpoint_changes(o, subst, &mut |extra, msg| {
                locate(p, extra, format!("{ctx}: reconcile {msg}"))
            });
            let mut ep = changes.apply(endpoint, &BTreeMap::new());
            ep.param_sets = o
                .param_sets
                .clone()
                .unwrap_or_else(|| endpoint.param_sets.clone());
            ep
        }
    };
    let uses_start = ep.params.values().any(|v| v.contains(START_PLACEHOLDER))
        || ep.path.contains(START_PLACEHOLDER)
        || ep
            .json
            .as_ref()
            .is_some_and(|j| j.to_string().contains(START_PLACEHOLDER));
    if uses_start && !incremental {
        locate(
            p,
            "reconcile:",
            format!(
                "{ctx}: the reconcile endpoint uses {START_PLACEHOLDER} but the stream declares no `incremental`"
            ),
        );
    }
    Some(Reconcile {
        every,
        endpoint: ep,
    })
}

/// Whether the endpoint's path, parameters or JSON body hold `needle`.
fn endpoint_uses(ep: &Endpoint, needle: &str) -> bool {
    ep.path.contains(needle)
        || ep.params.values().any(|v| v.contains(needle))
        || ep
            .param_sets
            .iter()
            .flat_map(|s| s.values())
            .any(|v| v.contains(needle))
        || ep
            .json
            .as_ref()
            .is_some_and(|j| j.to_string().contains(needle))
}

/// Parses a stored cursor or initial value: `YYYY-MM-DD` or an RFC 3339 datetime.
pub fn parse_start(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

fn subst_json(v: serde_json::Value, f: &dyn Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| subst_json(x, f)).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, x)| (k, subst_json(x, f))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline, Vec<ConfigProblem>> {
        parse_pipeline(Path::new("t.yml"), text, &HashMap::new())
    }

    const GOOD: &str = r#"
name: t
lake: ${PSLAKE_TEST_NOPE_LAKE:-./lake}
schedule: "0 0 6 * * *"
systems:
  - name: acme
    type: rest
    client:
      base_url: ${PSLAKE_TEST_NOPE_URL:-http://127.0.0.1:9}
      auth: {type: bearer, token: "${env:ACME_TOKEN}"}
    resource_defaults:
      endpoint: {path: "/api/{name}", params: {since: "{incremental.start_value}", per_page: "100"}}
      paginator: {type: next_url, path: links.next}
      records: {path: "{name}"}
      incremental: {cursor: updated_at, lag: 5m}
      primary_key: [id]
    resources:
      - name: things
        endpoint: {params: {per_page: "50"}}
        columns:
          - {name: id, type: integer, required: true}
          - {name: updated_at, type: timestamp}
"#;

    #[test]
    fn schedule_time_zone_and_retry_policy() {
        let p = parse(GOOD).expect("valid");
        assert_eq!(p.timezone, chrono_tz::UTC);
        assert_eq!(p.retry, RunRetry::default());

        let text = GOOD.replace(
            "schedule: \"0 0 6 * * *\"\n",
            "schedule: \"0 0 6 * * *\"\ntimezone: Europe/Paris\nretry: {attempts: 3, backoff: 30s}\n",
        );
        let p = parse(&text).expect("valid");
        assert_eq!(p.timezone, chrono_tz::Europe::Paris);
        assert_eq!(
            p.retry,
            RunRetry {
                attempts: 3,
                backoff: Duration::from_secs(30)
            }
        );
        assert_eq!(p.retry.wait_after(1), Duration::from_secs(30));
        assert_eq!(p.retry.wait_after(2), Duration::from_secs(60));

        // every problem reported, each at its top-level line (not a system's `retry:`)
        let text = GOOD
            .replace(
                "schedule: \"0 0 6 * * *\"\n",
                "schedule: \"0 0 6 * * *\"\ntimezone: Europe/Pariss\n",
            )
            .replace(
                "      auth: {type: bearer, token: \"${env:ACME_TOKEN}\"}\n",
                "      auth: {type: bearer, token: \"${env:ACME_TOKEN}\"}\n      retry: {max_attempts: 3}\n",
            )
            + "retry: {attempts: 0, backoff: soon}\n";
        let problems = parse(&text).expect_err("invalid");
        let lines: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        let line_of = |key: &str| text.lines().position(|l| l.starts_with(key)).map(|i| i + 1);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].0, line_of("timezone:"), "{lines:?}");
        assert!(lines[0].1.contains("Europe/Pariss"), "{lines:?}");
        assert_eq!(lines[1].0, line_of("retry:"), "{lines:?}");
        assert!(lines[1].1.contains("at least 1"), "{lines:?}");
        assert!(lines[2].1.contains("bad duration `soon`"), "{lines:?}");

        let text = GOOD.to_string() + "retry: {attempts: 2, wait: 1m}\n";
        let problems = parse(&text).expect_err("unknown key");
        assert!(problems[0].message.contains("wait"), "{problems:?}");
    }

    #[test]
    fn defaults_merge_and_interpolate() {
        let p = parse(GOOD).expect("valid");
        assert_eq!(p.lake, "./lake");
        let s = &p.systems[0].streams[0];
        assert_eq!(s.table, "acme_things");
        assert_eq!(s.endpoint.path, "/api/things");
        assert_eq!(s.endpoint.params["per_page"], "50");
        assert_eq!(s.endpoint.params["since"], "{incremental.start_value}");
        assert_eq!(s.records.path, JsonPath(vec!["things".into()]));
        assert_eq!(
            s.incremental.as_ref().map(|i| i.lag),
            Some(Duration::from_secs(300))
        );
        assert_eq!(s.max_pages, DEFAULT_MAX_PAGES);
    }

    #[test]
    fn max_pages_is_inherited_overridden_and_at_least_one() {
        let text = GOOD.replace(
            "      primary_key: [id]\n",
            "      primary_key: [id]\n      max_pages: 500\n",
        );
        assert_eq!(
            parse(&text).expect("valid").systems[0].streams[0].max_pages,
            500
        );
        let own = text.replace(
            "      - name: things\n",
            "      - name: things\n        max_pages: 7\n",
        );
        assert_eq!(
            parse(&own).expect("valid").systems[0].streams[0].max_pages,
            7
        );
        let zero = text.replace("max_pages: 500", "max_pages: 0");
        let problems = parse(&zero).expect_err("invalid");
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("max_pages must be at least 1")),
            "{problems:?}"
        );
    }

    #[test]
    fn jwt_assertion_auth_is_declared_in_yaml_and_its_key_must_be_a_reference() {
        let jwt = r#"auth:
        type: oauth2_jwt_assertion
        token_url: /services/rest/auth/oauth2/v1/token
        client_id: ${secret:NS_CLIENT}
        certificate_id: ${secret:NS_CERT}
        private_key: ${secret:NS_KEY}
        scope: [restlets, rest_webservices]
        refresh_before: 2m"#;
        let text = GOOD.replace(r#"auth: {type: bearer, token: "${env:ACME_TOKEN}"}"#, jwt);
        let p = parse(&text).expect("valid");
        let SystemKind::Rest(c) = &p.systems[0].kind else {
            panic!("rest")
        };
        match &c.auth {
            Auth::OAuth2JwtAssertion {
                token_url,
                private_key,
                scope,
                refresh_before,
                assertion_lifetime,
                ..
            } => {
                assert_eq!(token_url, "/services/rest/auth/oauth2/v1/token");
                assert_eq!(private_key, &ValueRef::Secret("NS_KEY".into()));
                assert_eq!(scope, &["restlets", "rest_webservices"]);
                assert_eq!(*refresh_before, Duration::from_secs(120));
                assert_eq!(*assertion_lifetime, Duration::from_secs(3600));
            }
            other => panic!("{other:?}"),
        }
        // a literal key, another algorithm, an assertion living past an hour: problems
        let bad = text
            .replace("${secret:NS_KEY}", "-----BEGIN PRIVATE KEY-----")
            .replace(
                "refresh_before: 2m",
                "refresh_before: 2m\n        algorithm: RS256\n        assertion_lifetime: 2h",
            );
        let problems = parse(&bad).expect_err("invalid");
        let all: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            all.iter()
                .any(|m| m.contains("`private_key` must be a secret reference")),
            "{all:?}"
        );
        assert!(all.iter().any(|m| m.contains("must be `PS256`")), "{all:?}");
        assert!(
            all.iter().any(|m| m.contains("assertion_lifetime")),
            "{all:?}"
        );
        assert!(
            !all.iter().any(|m| m.contains("BEGIN PRIVATE KEY")),
            "{all:?}"
        );
    }

    #[test]
    fn a_child_stream_names_a_parent_declared_before_it_with_the_columns_it_uses() {
        let yaml = |parent: &str, paginator: &str| {
            format!(
                r#"name: t
lake: ./lake
systems:
  - name: hs
    type: rest
    client: {{base_url: "http://x", auth: {{type: bearer, token: "${{env:T}}"}}}}
    resources:
      - name: deals
        endpoint: {{path: /deals, param_sets: [{{archived: "false"}}, {{archived: "true"}}]}}
        paginator: {{type: none}}
        incremental: {{cursor: modified, client_filter: true}}
        primary_key: [id]
        columns: [{{name: id, type: string}}, {{name: modified, type: timestamp}}, {{name: archived, type: boolean}}]
      - name: history
        parent: {parent}
        endpoint: {{method: POST, path: /read, json: {{}}, param_sets: [{{archived: "false"}}, {{archived: "true"}}]}}
        paginator: {paginator}
        incremental: {{cursor: modified, client_filter: true}}
        primary_key: [id]
        columns: [{{name: id, type: string}}, {{name: modified, type: timestamp}}]
"#
            )
        };
        let good = "{stream: deals, key: id, since: [modified], match: {archived: archived}, batch: 50, into: inputs}";
        let p = parse(&yaml(good, "{type: none}")).unwrap_or_else(|e| panic!("{e:#?}"));
        let child = &p.systems[0].streams[1];
        assert_eq!(
            child.parent.as_ref().map(|p| p.item.clone()),
            Some(serde_json::Value::String(PARENT_KEY_PLACEHOLDER.into())),
            "a key is sent as itself by default"
        );
        for (parent, paginator, want) in [
            (
                good.replace("deals,", "nope,"),
                "{type: none}",
                "parent stream `nope` is not a stream of `hs`",
            ),
            (
                good.replace("key: id", "key: ident"),
                "{type: none}",
                "parent column `ident` is not a column of `hs.deals`",
            ),
            (
                good.replace("batch: 50", "batch: 0"),
                "{type: none}",
                "parent batch must be at least 1",
            ),
            (
                good.to_string(),
                "{type: page_number, page_param: page}",
                "its paginator must be `none`",
            ),
            (
                good.replace("{archived: archived}", "{region: archived}"),
                "{type: none}",
                "parent match `region` must be a parameter",
            ),
        ] {
            let err = parse(&yaml(&parent, paginator)).expect_err(want);
            let text = format!("{err:?}");
            assert!(text.contains(want), "{want}: {text}");
        }
    }

    #[test]
    fn param_set_cursors_pick_a_column_per_parameter_set() {
        let text = GOOD
            .replace(
                "        endpoint: {params: {per_page: \"50\"}}",
                "        endpoint: {params: {per_page: \"50\"}, param_sets: [{archived: \"false\"}, {archived: \"true\"}]}\n        incremental: {param_set_cursors: [{when: {archived: \"true\"}, cursor: archived_at}]}",
            )
            .replace(
                "          - {name: updated_at, type: timestamp}",
                "          - {name: updated_at, type: timestamp}\n          - {name: archived_at, type: timestamp}\n          - {name: day, type: date}",
            );
        let p = parse(&text).unwrap_or_else(|e| panic!("{e:#?}"));
        let inc = p.systems[0].streams[0]
            .incremental
            .as_ref()
            .expect("merged over the defaults");
        assert_eq!(inc.column, 1, "updated_at from the defaults");
        assert_eq!(inc.lag, Duration::from_secs(300));
        let set = |v: &str| BTreeMap::from([("archived".to_string(), v.to_string())]);
        assert_eq!(inc.column_for(&set("true")), 2);
        assert_eq!(inc.column_for(&set("false")), 1);
        assert_eq!(inc.column_for(&BTreeMap::new()), 1);

        let unknown = text.replace("cursor: archived_at}", "cursor: nope}");
        let e = format!("{:?}", parse(&unknown).expect_err("unknown column"));
        assert!(e.contains("`nope` is not a declared column"), "{e}");
        let other_type = text.replace("cursor: archived_at}", "cursor: day}");
        let e = format!(
            "{:?}",
            parse(&other_type).expect_err("a date, not a timestamp")
        );
        assert!(e.contains("must have the type of the cursor"), "{e}");
    }

    #[test]
    fn keyset_needs_its_placeholder_and_the_placeholder_needs_keyset() {
        let keyset = GOOD
            .replace(
                "per_page: \"100\"}}",
                "per_page: \"100\", q: \"id > {keyset.last}\"}}",
            )
            .replace(
                "paginator: {type: next_url, path: links.next}",
                "paginator: {type: offset, limit: 100, has_more_path: more, keyset: {key: id, start: \"0\", max_offset: 1000}}",
            );
        let p = parse(&keyset).unwrap_or_else(|e| panic!("{e:#?}"));
        let Paginator::Offset {
            keyset: Some(k), ..
        } = &p.systems[0].streams[0].paginator
        else {
            panic!("keyset")
        };
        assert_eq!(
            (k.key.0.as_slice(), k.start.as_str(), k.max_offset),
            (&["id".to_string()][..], "0", 1000)
        );

        // the reconcile request drops the placeholder: an error with its line
        let no_reconcile_placeholder = keyset.replace(
            "      primary_key: [id]\n    resources:",
            "      primary_key: [id]\n      reconcile: {every: 7d, endpoint: {params: {q: \"all\"}}}\n    resources:",
        );
        let e = parse(&no_reconcile_placeholder).expect_err("reconcile without {keyset.last}");
        assert!(
            e.iter().any(|p| p
                .message
                .contains("reconcile endpoint does not use {keyset.last}")),
            "{e:#?}"
        );

        let e =
            parse(&keyset.replace(" q: \"id > {keyset.last}\"", "")).expect_err("no placeholder");
        assert!(
            e.iter()
                .any(|p| p.message.contains("does not use {keyset.last}") && p.line.is_some()),
            "{e:#?}"
        );
        let e = parse(&keyset.replace(", keyset: {key: id, start: \"0\", max_offset: 1000}", ""))
            .expect_err("no keyset");
        assert!(
            e.iter().any(|p| p.message.contains("declares no `keyset`")),
            "{e:#?}"
        );
        let e =
            parse(&keyset.replace("max_offset: 1000", "max_offset: 10")).expect_err("below limit");
        assert!(
            e.iter()
                .any(|p| p.message.contains("max_offset must be at least")),
            "{e:#?}"
        );
    }

    #[test]
    fn reconcile_merges_over_the_stream_endpoint() {
        let text = GOOD.replace(
            "      primary_key: [id]\n    resources:",
            "      primary_key: [id]\n      reconcile: {every: 7d, endpoint: {params: {since: null, fields: \"id\"}}}\n    resources:",
        );
        let p = parse(&text).unwrap_or_else(|e| panic!("{e:#?}"));
        let rc = p.systems[0].streams[0]
            .reconcile
            .as_ref()
            .expect("inherited from resource_defaults");
        assert_eq!(rc.every, Duration::from_secs(7 * 86400));
        assert_eq!(rc.endpoint.path, "/api/things");
        assert!(!rc.endpoint.params.contains_key("since"), "null removes");
        assert_eq!(rc.endpoint.params["fields"], "id");
        assert_eq!(
            rc.endpoint.params["per_page"], "50",
            "the stream's own params stay"
        );

        // a resource overrides `every` and keeps the defaults' endpoint changes
        let text = text.replace(
            "        endpoint: {params: {per_page: \"50\"}}",
            "        endpoint: {params: {per_page: \"50\"}}\n        reconcile: {every: 1d, endpoint: {json: {q: \"SELECT id FROM {name}\"}}}",
        );
        let p = parse(&text).unwrap_or_else(|e| panic!("{e:#?}"));
        let rc = p.systems[0].streams[0].reconcile.as_ref().expect("set");
        assert_eq!(rc.every, Duration::from_secs(86400));
        assert!(!rc.endpoint.params.contains_key("since"));
        assert_eq!(
            rc.endpoint.json,
            Some(serde_json::json!({"q": "SELECT id FROM things"}))
        );
    }

    #[test]
    fn reconcile_problems() {
        let no_every = GOOD.replace(
            "      primary_key: [id]\n    resources:",
            "      primary_key: [id]\n      reconcile: {endpoint: {params: {since: null}}}\n    resources:",
        );
        let e = parse(&no_every).unwrap_err();
        assert!(e[0].message.contains("needs `every`"), "{e:#?}");
        assert_eq!(e[0].line, Some(17), "the line in resource_defaults: {e:#?}");
        let bad_every = no_every.replace("{endpoint:", "{every: weekly, endpoint:");
        let e = parse(&bad_every).unwrap_err();
        assert!(e[0].message.contains("bad duration"), "{e:#?}");
        let typo = GOOD.replace(
            "      primary_key: [id]\n    resources:",
            "      primary_key: [id]\n      reconcile: {evry: 7d}\n    resources:",
        );
        let e = parse(&typo).unwrap_err();
        assert!(e[0].message.contains("evry"), "{e:#?}");
    }

    #[test]
    fn unknown_field_has_a_line() {
        let bad = GOOD.replace(
            "      records: {path: \"{name}\"}",
            "      recrods: {path: x}",
        );
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(14), "{}", e[0]);
        assert!(e[0].message.contains("recrods"), "{}", e[0]);
    }

    #[test]
    fn reports_every_semantic_problem_with_lines() {
        let bad = GOOD
            .replace("cursor: updated_at", "cursor: modified")
            .replace("primary_key: [id]", "primary_key: [key]")
            .replace("\"${env:ACME_TOKEN}\"", "literal-token")
            .replace("type: timestamp", "type: datetime");
        let e = parse(&bad).unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 4, "{text:#?}");
        assert!(e.iter().all(|p| p.line.is_some()), "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("never a literal")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`modified` is not a declared column")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("primary key `key`")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("unknown type `datetime`")),
            "{text:#?}"
        );
        // the literal token never shows up in messages
        assert!(
            !text.iter().any(|t| t.contains("literal-token")),
            "{text:#?}"
        );
    }

    #[test]
    fn column_formats_are_declared_and_checked() {
        let cols = "          - {name: id, type: integer, required: true}\n          - {name: updated_at, type: timestamp}";
        let good = GOOD.replace(
            cols,
            &format!(
                "{cols}\n          - {{name: day, type: date, format: \"%d/%m/%Y\"}}\n          - {{name: flag, type: boolean, format: \"T/F\"}}\n          - {{name: ok, type: boolean, true_values: [Y, \"1\"], false_values: [N]}}"
            ),
        );
        let p = parse(&good).expect("valid");
        let c = &p.systems[0].streams[0].columns;
        assert_eq!(c[1].format, ValueFormat::Default);
        assert_eq!(c[2].format, ValueFormat::Chrono("%d/%m/%Y".into()));
        assert_eq!(
            c[3].format,
            ValueFormat::Bool {
                true_values: vec!["T".into()],
                false_values: vec!["F".into()]
            }
        );
        assert_eq!(
            c[4].format,
            ValueFormat::Bool {
                true_values: vec!["Y".into(), "1".into()],
                false_values: vec!["N".into()]
            }
        );

        let bad = GOOD.replace(
            cols,
            &format!(
                "{cols}\n          - {{name: day, type: date,\n             format: \"%m/%Q/%Y\"}}\n          - {{name: month, type: date, format: \"%m/%Y\"}}\n          - {{name: flag, type: boolean, format: \"yes\"}}\n          - {{name: n, type: integer,\n             format: \"%d\"}}\n          - {{name: s, type: string, true_values: [x]}}"
            ),
        );
        let e = parse(&bad).unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 5, "{text:#?}");
        assert!(e.iter().all(|p| p.line.is_some()), "{text:#?}");
        assert!(
            text[0].contains("`%m/%Q/%Y` is not a chrono strftime format"),
            "{text:#?}"
        );
        // the problem points at the `format:` line of the column
        assert_eq!(
            e[0].line,
            bad.lines()
                .position(|l| l.contains("%m/%Q/%Y"))
                .map(|i| i + 1)
        );
        assert!(
            text[1].contains("does not read back a full date"),
            "{text:#?}"
        );
        assert!(text[2].contains("must be `<true>/<false>`"), "{text:#?}");
        assert!(
            text[3].contains("date, timestamp and boolean columns only"),
            "{text:#?}"
        );
        assert!(text[4].contains("boolean columns only"), "{text:#?}");

        // an unknown column field is a serde error with a line
        let typo = GOOD.replace(
            "{name: updated_at, type: timestamp}",
            "{name: updated_at, type: timestamp, fromat: \"%Y\"}",
        );
        let e = parse(&typo).unwrap_err();
        assert!(
            e[0].line.is_some() && e[0].message.contains("fromat"),
            "{e:?}"
        );
    }

    #[test]
    fn retry_rules_are_checked() {
        let auth = "      auth: {type: bearer, token: \"${env:ACME_TOKEN}\"}";
        let with = |rules: &str| {
            GOOD.replace(
                auth,
                &format!("{auth}\n      retry:\n        rules:\n{rules}"),
            )
        };
        let p = parse(&with(
            "          - {status: 403, body_contains: REQUEST_LIMIT_EXCEEDED, action: rate_limited}",
        ))
        .expect("valid");
        let SystemKind::Rest(c) = &p.systems[0].kind else {
            panic!("rest")
        };
        assert_eq!(
            c.retry_rules,
            vec![RetryRule {
                status: 403,
                body_contains: Some("REQUEST_LIMIT_EXCEEDED".into()),
                action: RetryAction::RateLimited
            }]
        );
        for (rules, needle) in [
            (
                "          - {status: 403, action: rate_limit}",
                "unknown variant `rate_limit`",
            ),
            (
                "          - {status: 403, body: X, action: retry}",
                "unknown field `body`",
            ),
            (
                "          - {status: 200, action: retry}",
                "must be an error status",
            ),
        ] {
            let text = with(rules);
            let e = parse(&text).unwrap_err();
            assert!(e[0].message.contains(needle), "{e:?}");
            let line = text
                .lines()
                .position(|l| l.contains("status:"))
                .map(|i| i + 1);
            assert_eq!(e[0].line, line, "{e:?}");
        }
    }

    #[test]
    fn keyed_by_selector() {
        let keyed = |k: &str| {
            GOOD.replace(
                "records: {path: \"{name}\"}",
                &format!("records: {{path: \"{{name}}\", keyed_by: {k}}}"),
            )
        };
        let p = parse(&keyed(
            "{refs: results, type_field: key, type_value: \"{name}\"}",
        ))
        .expect("valid");
        let r = &p.systems[0].streams[0].records;
        assert_eq!(
            r.keyed_by,
            Some(KeyedBy {
                refs: JsonPath::parse("results"),
                id_field: "id".into(),
                type_filter: Some(("key".into(), "things".into())),
            })
        );
        let e = parse(&keyed("{refs: results, type_field: key}")).unwrap_err();
        assert!(
            e[0].message.contains("type_field and type_value together") && e[0].line.is_some(),
            "{e:?}"
        );
        let e = parse(&keyed("{refs: results, order_key: id}")).unwrap_err();
        assert!(e[0].message.contains("unknown field `order_key`"), "{e:?}");
    }

    #[test]
    fn unnest_selector() {
        let nested = |u: &str| {
            GOOD.replace(
                "records: {path: \"{name}\"}",
                &format!("records: {{path: \"{{name}}\", unnest: {u}}}"),
            )
        };
        let p = parse(&nested(
            "{path: propertiesWithHistory, key_as: property, parent: {deal_id: id, modified: properties.hs_lastmodifieddate}}",
        ))
        .expect("valid");
        assert_eq!(
            p.systems[0].streams[0].records.unnest,
            Some(Unnest {
                path: JsonPath::parse("propertiesWithHistory"),
                key_as: Some("property".into()),
                // in the order written
                parent: vec![
                    ("deal_id".into(), JsonPath::parse("id")),
                    (
                        "modified".into(),
                        JsonPath::parse("properties.hs_lastmodifieddate")
                    ),
                ],
            })
        );
        for (u, needle) in [
            ("{path: $}", "unnest needs a `path` inside the record"),
            (
                "{path: h, key_as: id, parent: {id: id}}",
                "names the field `id` twice",
            ),
            (
                "{path: h, parent: {a.b: id}}",
                "must be a plain, non-empty key",
            ),
            ("{path: h, parent: {a: id, a: x}}", "duplicate"),
            ("{path: h, key: k}", "unknown field `key`"),
        ] {
            let e = parse(&nested(u)).unwrap_err();
            assert!(e[0].message.contains(needle), "{u}: {e:?}");
            assert!(e[0].line.is_some(), "{u}: {e:?}");
        }
    }

    #[test]
    fn missing_variable_without_default() {
        let bad = GOOD.replace(
            "${PSLAKE_TEST_NOPE_LAKE:-./lake}",
            "${PSLAKE_TEST_NOPE_LAKE}",
        );
        let e = parse(&bad).unwrap_err();
        assert_eq!(e[0].line, Some(3));
    }

    #[test]
    fn a_since_cursor_request_and_its_paginator_agree_on_the_keyset() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/demo.yml");
        let text = std::fs::read_to_string(&path).expect("demo pipeline");
        let keyset = "              keyset: {key: properties.hs_lastmodifieddate, start: \"{incremental.start_value}\", max_offset: 10000}\n";
        assert!(text.contains(keyset));
        let e = format!(
            "{:?}",
            parse(&text.replace(keyset, "")).expect_err("a placeholder without keyset")
        );
        assert!(
            e.contains("the since_cursor endpoint uses {keyset.last} but the paginator declares no `keyset`"),
            "{e}"
        );
    }

    #[test]
    fn demo_pipeline_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/demo.yml");
        let p = load_pipeline(&path).unwrap_or_else(|e| panic!("{e:#?}"));
        let tables: Vec<&str> = p
            .systems
            .iter()
            .flat_map(|s| s.streams.iter().map(|t| t.table.as_str()))
            .collect();
        assert_eq!(tables.len(), 21, "{tables:?}");
        for t in [
            "salesforce_opportunityhistory",
            "hubspot_deal_history",
            "workday_worker_history",
            "netsuite_currency",
            "netsuite_transaction",
            "netsuite_transactionline",
            "salesforce_opportunity",
            "kantata_time_entries",
            "workday_time_off",
            "treasury_fx_rates",
            "hubspot_deals",
        ] {
            assert!(tables.contains(&t), "{t} in {tables:?}");
        }
        assert!(validate_path(path.parent().expect("pipelines dir")).is_empty());
        // deletions are reconciled where they change revenue and margin
        let reconciled: Vec<&str> = p
            .systems
            .iter()
            .flat_map(|s| s.streams.iter())
            .filter(|s| s.reconcile.is_some())
            .map(|s| s.table.as_str())
            .collect();
        for t in [
            "kantata_time_entries",
            "netsuite_transaction",
            "netsuite_transactionline",
            "salesforce_opportunity",
        ] {
            assert!(reconciled.contains(&t), "{t} in {reconciled:?}");
        }
        for t in ["hubspot_deals", "workday_workers", "treasury_fx_rates"] {
            assert!(!reconciled.contains(&t), "{t} in {reconciled:?}");
        }
        // SPEC 4b: the deals' property histories are nested rows of the deals listing
        let history = p
            .systems
            .iter()
            .flat_map(|s| s.streams.iter())
            .find(|s| s.table == "hubspot_deal_history")
            .expect("deal_history");
        let unnest = history.records.unnest.as_ref().expect("unnested");
        assert_eq!(unnest.key_as.as_deref(), Some("property"));
        assert_eq!(history.primary_key, ["deal_id", "property", "timestamp"]);
        // read in batches of 50 changed deals, a child of `deals`
        let parent = history.parent.as_ref().expect("a child stream");
        assert_eq!((parent.stream.as_str(), parent.batch), ("deals", 50));
        assert_eq!(parent.item, serde_json::json!({"id": "{parent.key}"}));
        assert!(matches!(history.paginator, Paginator::None));
        // the deals: searched on runs from a cursor, for the live set only
        let deals = p
            .systems
            .iter()
            .flat_map(|s| s.streams.iter())
            .find(|s| s.table == "hubspot_deals")
            .expect("deals");
        let since = deals
            .incremental
            .as_ref()
            .and_then(|i| i.since_cursor.as_ref())
            .expect("since_cursor");
        let live = BTreeMap::from([("archived".to_string(), "false".to_string())]);
        let archived = BTreeMap::from([("archived".to_string(), "true".to_string())]);
        assert!(since.applies_to(&live) && !since.applies_to(&archived));
        let search = since.changes.apply(&deals.endpoint, &live);
        assert_eq!(
            (search.method, search.path.as_str()),
            (Method::Post, "/crm/v3/objects/deals/search")
        );
        assert!(search.params.is_empty(), "{:?}", search.params);
        assert!(
            search
                .json
                .as_ref()
                .is_some_and(|j| j.to_string().contains(KEYSET_PLACEHOLDER))
        );
        // past the search's 10,000 results, a new query from the last modification time
        match &since.paginator {
            Some(Paginator::Offset {
                keyset: Some(ks),
                location: ParamLocation::Body,
                ..
            }) => assert_eq!(
                (ks.start.as_str(), ks.max_offset),
                (START_PLACEHOLDER, 10_000)
            ),
            other => panic!("{other:?}"),
        }
        let keys = |table: &str| {
            p.systems
                .iter()
                .flat_map(|s| s.streams.iter())
                .find(|s| s.table == table)
                .and_then(|s| s.reconcile.as_ref())
                .map(|r| r.endpoint.clone())
                .expect("reconciled")
        };
        assert_eq!(
            keys("netsuite_customer").json,
            Some(
                serde_json::json!({"q": "SELECT id FROM customer WHERE id > {keyset.last} ORDER BY id"})
            )
        );
        assert_eq!(
            keys("salesforce_account").params["q"],
            "SELECT Id FROM Account ORDER BY Id ASC"
        );
        assert!(
            !keys("kantata_time_entries")
                .params
                .contains_key("updated_after")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn value_refs() {
        assert_eq!(ValueRef::parse("${env:A_B}"), ValueRef::Env("A_B".into()));
        assert_eq!(ValueRef::parse("${secret:X}"), ValueRef::Secret("X".into()));
        assert_eq!(ValueRef::parse("plain"), ValueRef::Plain("plain".into()));
    }
}
