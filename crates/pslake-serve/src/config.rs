//! `pslake serve`'s settings: the `serve:` section of `pslake.yml`, then the command line.
//!
//! ```yaml
//! serve:
//!   listen: 127.0.0.1:5433
//!   max_connections: 64
//!   memory_limit_per_query: 1GiB     # DataFusion memory pool of each query; sorts spill beyond it
//!   statement_timeout: 300s           # 0 for none; a client may lower it with SET statement_timeout
//!   auth: scram-sha-256               # or md5, for the clients that need it
//!   secrets_file: /etc/pslake/secrets.env   # optional: NAME=value lines for ${secret:NAME}
//!   tls: { cert: server.crt, key: server.key }
//!   users:
//!     - name: exec
//!       password: ${secret:PSLAKE_EXEC_PASSWORD}
//!     - name: analyst
//!       password: ${env:PSLAKE_ANALYST_PASSWORD}
//!       schemas: [canonical]          # the schemas this user sees; all when absent
//! ```
//!
//! Precedence: command-line flags over the file over the defaults. Passwords are never literal
//! values in the file: `${env:NAME}` reads the environment, `${secret:NAME}` the secrets file and
//! then the environment. With no `users`, the one user is `pslake` with the password in
//! `PSLAKE_SERVE_PASSWORD`; with neither, serve refuses to start.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pslake_core::Sensitive;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The environment variable holding the default user's password.
pub const PASSWORD_ENV: &str = "PSLAKE_SERVE_PASSWORD";
/// The default user's name.
pub const DEFAULT_USER: &str = "pslake";
/// The default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";

/// How clients prove their password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// SCRAM-SHA-256 (the default; PostgreSQL's own since version 14).
    #[default]
    ScramSha256,
    /// MD5, for old clients that cannot do SCRAM.
    Md5,
}

/// A user allowed to connect.
#[derive(Debug, Clone)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The password (resolved from the environment or the secrets file).
    pub password: Sensitive<String>,
    /// The schemas the user may read; `None` for all.
    pub schemas: Option<BTreeSet<String>>,
}

/// A certificate and key in PEM files.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Everything `pslake serve` needs besides the lake.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Connections served at once; more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// The memory pool of one query, in bytes.
    pub memory_limit_per_query: usize,
    /// The longest a statement may run; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// SCRAM or MD5.
    pub auth: AuthMethod,
    /// TLS, when configured.
    pub tls: Option<TlsPaths>,
    /// The users.
    pub users: Vec<User>,
    /// How often at most the lake is checked for a newly published build.
    pub refresh_interval: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    listen: Option<String>,
    max_connections: Option<usize>,
    memory_limit_per_query: Option<serde_yaml_ng::Value>,
    statement_timeout: Option<String>,
    auth: Option<AuthMethod>,
    secrets_file: Option<PathBuf>,
    tls: Option<TlsPaths>,
    #[serde(default)]
    users: Vec<RawUser>,
    refresh_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password: String,
    schemas: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    serve: Option<RawServe>,
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--memory-limit-per-query`.
    pub memory_limit_per_query: Option<String>,
    /// `--statement-timeout`.
    pub statement_timeout: Option<String>,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<TlsPaths>,
}

impl ServeConfig {
    /// Reads the `serve:` section of `settings_file` (defaults when the file or section is
    /// absent), applies `overrides`, and resolves every password.
    pub fn load(settings_file: &Path, overrides: &Overrides) -> Result<Self> {
        let raw = match fs_err::read_to_string(settings_file) {
            Ok(text) => {
                let file: Option<RawFile> =
                    serde_yaml_ng::from_str(&text).map_err(|e| Error::Config {
                        file: settings_file.display().to_string(),
                        message: e.to_string(),
                    })?;
                file.and_then(|f| f.serve).unwrap_or_default()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RawServe::default(),
            Err(e) => {
                return Err(Error::Config {
                    file: settings_file.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        Self::from_raw(raw, overrides, &settings_file.display().to_string())
    }

    fn from_raw(raw: RawServe, o: &Overrides, file: &str) -> Result<Self> {
        let bad = |message: String| Error::Config {
            file: file.to_string(),
            message,
        };
        let memory = match (&o.memory_limit_per_query, &raw.memory_limit_per_query) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(serde_yaml_ng::Value::String(s))) => Some(s.clone()),
            (None, Some(serde_yaml_ng::Value::Number(n))) => Some(n.to_string()),
            (None, Some(other)) => Some(format!("{other:?}")),
            (None, None) => None,
        };
        let memory_limit_per_query = match memory {
            Some(text) => pslake_transform::parse_size(&text)
                .ok_or_else(|| {
                    bad(format!(
                        "serve.memory_limit_per_query: cannot read {text:?} (write e.g. 1GiB, 512MiB, 10%)"
                    ))
                })
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX))?,
            None => 1 << 30,
        };
        let timeout = o
            .statement_timeout
            .clone()
            .or(raw.statement_timeout)
            .unwrap_or_else(|| "300s".into());
        let statement_timeout = parse_duration(&timeout)
            .ok_or_else(|| bad(format!("serve.statement_timeout: cannot read {timeout:?} (write e.g. 300s, 5min, 1500ms, 0)")))?;
        let refresh = raw.refresh_interval.unwrap_or_else(|| "1s".into());
        let refresh_interval = parse_duration(&refresh).ok_or_else(|| {
            bad(format!(
                "serve.refresh_interval: cannot read {refresh:?} (write e.g. 1s, 500ms)"
            ))
        })?;
        let secrets = read_secrets_file(raw.secrets_file.as_deref())?;
        let mut users = Vec::new();
        let mut seen = BTreeSet::new();
        for u in raw.users {
            if !seen.insert(u.name.clone()) {
                return Err(bad(format!("serve.users: {} is listed twice", u.name)));
            }
            let password = resolve_password(&u.name, &u.password, &secrets)
                .map_err(|message| bad(format!("serve.users: {message}")))?;
            users.push(User {
                name: u.name,
                password,
                schemas: u.schemas.map(|s| s.into_iter().collect()),
            });
        }
        if users.is_empty() {
            match std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
                Some(p) => users.push(User {
                    name: DEFAULT_USER.into(),
                    password: Sensitive::new(p),
                    schemas: None,
                }),
                None => return Err(Error::NoUsers),
            }
        }
        Ok(Self {
            listen: o
                .listen
                .clone()
                .or(raw.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.into()),
            max_connections: o.max_connections.or(raw.max_connections).unwrap_or(64),
            memory_limit_per_query,
            statement_timeout: Some(statement_timeout).filter(|d| !d.is_zero()),
            auth: raw.auth.unwrap_or_default(),
            tls: o.tls.clone().or(raw.tls),
            users,
            refresh_interval,
        })
    }
}

/// `300s`, `5min`, `1500ms`, `1h`, or a bare number of milliseconds (PostgreSQL's unit for
/// `statement_timeout`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000,
        "min" | "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

fn read_secrets_file(path: Option<&Path>) -> Result<HashMap<String, Sensitive<String>>> {
    let mut map = HashMap::new();
    let Some(path) = path else { return Ok(map) };
    let text = fs_err::read_to_string(path).map_err(|e| Error::Config {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(Error::Config {
                file: path.display().to_string(),
                message: format!("line {}: expected NAME=value", i + 1),
            });
        };
        map.insert(
            k.trim().to_string(),
            Sensitive::new(v.trim().trim_matches('"').to_string()),
        );
    }
    Ok(map)
}

/// A user's password from `${env:NAME}` or `${secret:NAME}`; a literal is refused (it would sit
/// in a file under version control). The error names the variable, never a value.
fn resolve_password(
    user: &str,
    reference: &str,
    secrets: &HashMap<String, Sensitive<String>>,
) -> std::result::Result<Sensitive<String>, String> {
    let inner = reference
        .trim()
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| {
            format!(
                "the password of {user} must be ${{env:NAME}} or ${{secret:NAME}}, not a literal value"
            )
        })?;
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let (kind, name) = inner.split_once(':').ok_or_else(|| {
        format!("the password of {user}: write ${{env:NAME}} or ${{secret:NAME}}")
    })?;
    let value = match kind {
        "env" => env(name).map(Sensitive::new),
        "secret" => secrets
            .get(name)
            .cloned()
            .or_else(|| env(name).map(Sensitive::new)),
        _ => {
            return Err(format!(
                "the password of {user}: unknown source {kind:?} (env or secret)"
            ));
        }
    };
    value.ok_or_else(|| format!("the password of {user}: {name} is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawServe {
        let f: RawFile = serde_yaml_ng::from_str(yaml).expect("test yaml parses");
        f.serve.unwrap_or_default()
    }

    #[test]
    fn users_and_limits_are_read() {
        // A secrets file, not the environment: set_var is unsafe (and unsafe_code is forbidden).
        let name = "PSLAKE_SERVE_TEST_ANALYST_PW";
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = dir.path().join("secrets.env");
        fs_err::write(&secrets, format!("{name}=s3cret\n")).expect("write secrets");
        let yaml = format!(
            "serve:\n  statement_timeout: 5s\n  memory_limit_per_query: 64MiB\n  secrets_file: {}\n  users:\n    - name: analyst\n      password: ${{secret:{name}}}\n      schemas: [canonical]\n",
            secrets.display()
        );
        let c = ServeConfig::from_raw(raw(&yaml), &Overrides::default(), "pslake.yml")
            .expect("config loads");
        assert_eq!(c.statement_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.memory_limit_per_query, 64 << 20);
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].password.expose(), "s3cret");
        assert_eq!(
            c.users[0].schemas.as_ref().map(|s| s.len()),
            Some(1),
            "analyst sees canonical only"
        );
    }

    #[test]
    fn literal_passwords_are_refused_without_echoing_them() {
        let yaml = "serve:\n  users:\n    - name: bob\n      password: hunter2\n";
        let err = ServeConfig::from_raw(raw(yaml), &Overrides::default(), "pslake.yml")
            .expect_err("literal refused")
            .to_string();
        assert!(err.contains("not a literal"), "{err}");
        assert!(!err.contains("hunter2"), "the value leaked: {err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
    }
}
