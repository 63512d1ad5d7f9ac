//! A pipeline's `triggers:`: which vendor change notifications `pslake listen` accepts, how
//! they are signed, and which streams an accepted event refreshes.
//!
//! ```yaml
//! triggers:
//!   - source: hubspot                       # a system of this pipeline
//!     path: /hubspot                        # where `pslake listen` serves it
//!     secret: "${secret:HUBSPOT_CLIENT_SECRET}"
//!     signature: hubspot_v3                 # hubspot_v3 | pslake_hmac_sha256
//!     events: [deal.propertyChange, deal.creation, deal.deletion]
//!     streams: [hubspot.deals]              # `system.stream` of this pipeline
//! ```
//!
//! Validation (all problems reported together, each with its line): the source and every stream
//! exist in the pipeline, paths are unique and start with `/`, the secret is a reference
//! (`${secret:NAME}` or `${env:NAME}`, never a literal), `events` and `streams` are not empty.
//! Which events mean what is declared here, not in Rust: an event whose type is not listed is
//! acknowledged and ignored.

use std::time::Duration;

use serde::Deserialize;

use super::model::ValueRef;

/// One `triggers:` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    /// The system whose notifications these are.
    pub source: String,
    /// The HTTP path `pslake listen` serves for it.
    pub path: String,
    /// The signing secret, a `${secret:NAME}` or `${env:NAME}` reference.
    pub secret: String,
    /// The signature scheme.
    pub signature: String,
    /// The body's shape; default from the signature (`hubspot_v3`: `hubspot_webhook`,
    /// `pslake_hmac_sha256`: `salesforce_change_event`).
    #[serde(default)]
    pub format: Option<String>,
    /// The event types that refresh `streams`.
    pub events: Vec<String>,
    /// `system.stream` names refreshed when one of `events` arrives.
    pub streams: Vec<String>,
    /// How old a signed request may be (default `5m`, HubSpot's rule).
    #[serde(default)]
    pub max_age: Option<String>,
    /// The URL the vendor posts to, when the receiver sits behind a proxy that changes it
    /// (HubSpot signs the full URI it called). Default: `http://<Host header><path>`.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// How a request is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// HubSpot's v3 webhook signature: `X-HubSpot-Signature-v3` =
    /// base64(HMAC-SHA256(client secret, method + URI + body + `X-HubSpot-Request-Timestamp`)),
    /// the timestamp in milliseconds.
    HubSpotV3,
    /// pslake's own, for callouts a vendor lets you sign yourself (a Salesforce Flow with an
    /// Apex action): `X-Pslake-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
    /// and `X-Pslake-Timestamp` in seconds since the epoch.
    PslakeHmacSha256,
}

impl SignatureScheme {
    /// The name written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HubSpotV3 => "hubspot_v3",
            Self::PslakeHmacSha256 => "pslake_hmac_sha256",
        }
    }
}

/// The body's shape: where the events, their ids and their types are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// A JSON array of HubSpot webhook events: `eventId`, `subscriptionType` (the event type),
    /// `objectId`, `propertyName`, `propertyValue`, `occurredAt` (ms).
    HubSpotWebhook,
    /// A JSON array (or one object) of Salesforce change events: `ChangeEventHeader` with
    /// `entityName`, `changeType` (the event type is `entityName.changeType`, e.g.
    /// `Opportunity.UPDATE`), `recordIds`, `commitTimestamp`, `transactionKey`,
    /// `sequenceNumber`; the event id is `eventId` when given, else
    /// `transactionKey:sequenceNumber`.
    SalesforceChangeEvent,
}

impl EventFormat {
    /// The name written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HubSpotWebhook => "hubspot_webhook",
            Self::SalesforceChangeEvent => "salesforce_change_event",
        }
    }
}

/// A validated trigger.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The system.
    pub source: String,
    /// The path served.
    pub path: String,
    /// The signing secret (a reference, resolved when `pslake listen` starts).
    pub secret: ValueRef,
    /// The signature scheme.
    pub signature: SignatureScheme,
    /// The body's shape.
    pub format: EventFormat,
    /// Event types that refresh `streams`.
    pub events: Vec<String>,
    /// `(system, stream)` pairs refreshed, as the pipeline spells them.
    pub streams: Vec<(String, String)>,
    /// How old a signed request may be.
    pub max_age: Duration,
    /// The URL the vendor calls, when set (see [`RawTrigger::public_url`]).
    pub public_url: Option<url::Url>,
}

/// Default [`Trigger::max_age`]: HubSpot refuses to count on requests older than 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// The 1-based lines of the entries of the top-level `triggers:` list in `text` (block style),
/// and the line of `triggers:` itself.
fn entry_lines(text: &str) -> (Option<usize>, Vec<(usize, usize)>) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(top) = lines.iter().position(|l| l.starts_with("triggers:")) else {
        return (None, Vec::new());
    };
    let mut starts = Vec::new();
    let mut end = lines.len();
    let mut indent = None;
    for (i, l) in lines.iter().enumerate().skip(top + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = l.len() - t.len();
        if ind == 0 && !t.starts_with('-') {
            end = i;
            break;
        }
        if t.starts_with("- ") && indent.is_none_or(|n| n == ind) {
            indent = Some(ind);
            starts.push(i);
        }
    }
    let spans = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| (s, starts.get(k + 1).copied().unwrap_or(end)))
        .collect();
    (Some(top + 1), spans)
}

/// Checks `raw` against the pipeline's streams (`(system, stream)` pairs); problems come back
/// with the line of the entry's offending field (`text` is the file).
pub(crate) fn build_triggers(
    raw: Vec<RawTrigger>,
    streams: &[(String, String)],
    text: &str,
    problems: &mut Vec<(Option<usize>, String)>,
) -> Vec<Trigger> {
    let mut out = Vec::new();
    let mut paths = std::collections::HashSet::new();
    let (top, spans) = entry_lines(text);
    let lines: Vec<&str> = text.lines().collect();
    for (n, t) in raw.into_iter().enumerate() {
        let span = spans.get(n).copied();
        let at = |field: &str| -> Option<usize> {
            let norm = |s: &str| s.replace(['"', '\''], "");
            span.and_then(|(s, e)| {
                (s..e)
                    .find(|&i| norm(lines[i]).contains(&norm(field)))
                    .or(Some(s))
                    .map(|i| i + 1)
            })
            .or(top)
        };
        let mut ok = true;
        let mut bad = |line: Option<usize>, msg: String| problems.push((line, msg));
        let what = format!("trigger {}", t.path);
        if !t.path.starts_with('/') || t.path.len() < 2 || t.path.contains(char::is_whitespace) {
            bad(
                at("path:"),
                format!("{what}: `path` must start with `/` and name a route, e.g. /hubspot"),
            );
            ok = false;
        } else if t.path.starts_with("/_pslake") {
            bad(
                at("path:"),
                format!("{what}: paths under /_pslake are the listener's own"),
            );
            ok = false;
        } else if !paths.insert(t.path.clone()) {
            bad(at("path:"), format!("{what}: two triggers serve this path"));
            ok = false;
        }
        if !streams.iter().any(|(s, _)| *s == t.source) {
            bad(
                at("source:"),
                format!(
                    "{what}: `source: {}` is not a system of this pipeline",
                    t.source
                ),
            );
            ok = false;
        }
        let secret = ValueRef::parse(&t.secret);
        match &secret {
            ValueRef::Plain(_) => {
                bad(
                    at("secret:"),
                    format!(
                        "{what}: `secret` must be a reference such as \"${{secret:NAME}}\" or \"${{env:NAME}}\", never the value"
                    ),
                );
                ok = false;
            }
            ValueRef::Env(n) | ValueRef::Secret(n)
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                bad(
                    at("secret:"),
                    format!("{what}: bad secret name `{n}` (letters, digits, `_`)"),
                );
                ok = false;
            }
            _ => {}
        }
        let signature = match t.signature.trim() {
            "hubspot_v3" => Some(SignatureScheme::HubSpotV3),
            "pslake_hmac_sha256" => Some(SignatureScheme::PslakeHmacSha256),
            other => {
                bad(
                    at("signature:"),
                    format!("{what}: unknown signature `{other}` (hubspot_v3, pslake_hmac_sha256)"),
                );
                ok = false;
                None
            }
        };
        let format = match t.format.as_deref().map(str::trim) {
            Some("hubspot_webhook") => Some(EventFormat::HubSpotWebhook),
            Some("salesforce_change_event") => Some(EventFormat::SalesforceChangeEvent),
            Some(other) => {
                bad(
                    at("format:"),
                    format!(
                        "{what}: unknown format `{other}` (hubspot_webhook, salesforce_change_event)"
                    ),
                );
                ok = false;
                None
            }
            None => signature.map(|s| match s {
                SignatureScheme::HubSpotV3 => EventFormat::HubSpotWebhook,
                SignatureScheme::PslakeHmacSha256 => EventFormat::SalesforceChangeEvent,
            }),
        };
        if t.events.is_empty() || t.events.iter().any(|e| e.trim().is_empty()) {
            bad(
                at("events:"),
                format!(
                    "{what}: `events` must list at least one event type, e.g. deal.propertyChange"
                ),
            );
            ok = false;
        }
        if t.streams.is_empty() {
            bad(
                at("streams:"),
                format!("{what}: `streams` must list at least one `system.stream` to refresh"),
            );
            ok = false;
        }
        let mut refreshed = Vec::new();
        for s in &t.streams {
            let known = s
                .split_once('.')
                .and_then(|(sys, st)| streams.iter().find(|(a, b)| a == sys && b == st));
            match known {
                Some(pair) => refreshed.push(pair.clone()),
                None => {
                    bad(
                        at(s),
                        format!("{what}: stream `{s}` is not a `system.stream` of this pipeline"),
                    );
                    ok = false;
                }
            }
        }
        let max_age = match t.max_age.as_deref() {
            None => DEFAULT_MAX_AGE,
            Some(s) => match super::load::parse_duration(s) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    bad(at("max_age:"), format!("{what}: `max_age` must be above 0"));
                    ok = false;
                    DEFAULT_MAX_AGE
                }
                Err(e) => {
                    bad(at("max_age:"), format!("{what}: max_age: {e}"));
                    ok = false;
                    DEFAULT_MAX_AGE
                }
            },
        };
        let public_url = match t.public_url.as_deref() {
            None => None,
            Some(u) => match url::Url::parse(u.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                _ => {
                    bad(
                        at("public_url:"),
                        format!("{what}: `public_url` must be an absolute http(s) URL, got `{u}`"),
                    );
                    ok = false;
                    None
                }
            },
        };
        if let (true, Some(signature), Some(format)) = (ok, signature, format) {
            out.push(Trigger {
                source: t.source,
                path: t.path,
                secret,
                signature,
                format,
                events: t.events.iter().map(|e| e.trim().to_string()).collect(),
                streams: refreshed,
                max_age,
                public_url,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::pipeline::load::parse_pipeline;

    const BASE: &str = "name: t
lake: /tmp/lake
systems:
  - name: hubspot
    type: rest
    client: {base_url: 'http://x', auth: {type: bearer, token: '${secret:T}'}}
    resources:
      - name: deals
        endpoint: {path: /deals}
        primary_key: [id]
        columns: [{name: id, type: string}]
";

    #[test]
    fn triggers_are_read_with_defaults() {
        let text = format!(
            "{BASE}triggers:
  - source: hubspot
    path: /hubspot
    secret: \"${{secret:HUBSPOT_CLIENT_SECRET}}\"
    signature: hubspot_v3
    events: [deal.propertyChange, deal.creation]
    streams: [hubspot.deals]
"
        );
        let p = parse_pipeline(Path::new("t.yml"), &text, &HashMap::new()).expect("valid");
        let t = &p.triggers[0];
        assert_eq!(t.path, "/hubspot");
        assert_eq!(t.format, super::EventFormat::HubSpotWebhook);
        assert_eq!(t.streams, vec![("hubspot".into(), "deals".into())]);
        assert_eq!(t.max_age, super::DEFAULT_MAX_AGE);
        assert!(t.secret.is_reference());
    }

    #[test]
    fn trigger_problems_name_file_and_line() {
        let text = format!(
            "{BASE}triggers:
  - source: hubspot
    path: /hubspot
    secret: plain-text-secret
    signature: hubspot_v3
    events: [deal.creation]
    streams: [hubspot.deals]
  - source: salesforce
    path: /hubspot
    secret: \"${{secret:S}}\"
    signature: rot13
    events: []
    streams: [hubspot.nope]
"
        );
        let errs = parse_pipeline(Path::new("t.yml"), &text, &HashMap::new()).expect_err("bad");
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let has = |line: usize, needle: &str| {
            assert!(
                shown
                    .iter()
                    .any(|s| s.starts_with(&format!("t.yml:{line}:")) && s.contains(needle)),
                "no problem at line {line} containing {needle:?} in {shown:#?}"
            );
        };
        has(15, "must be a reference");
        has(20, "two triggers serve this path");
        has(19, "`source: salesforce` is not a system");
        has(22, "unknown signature `rot13`");
        has(23, "at least one event type");
        has(24, "`hubspot.nope` is not");
        // the secret's value is never echoed
        assert!(!shown.iter().any(|s| s.contains("plain-text-secret")));
    }
}
