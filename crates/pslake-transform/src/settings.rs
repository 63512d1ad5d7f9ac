//! Project-wide settings: `pslake.yml` at the project root, as `dbt_project.yml` is for dbt.
//!
//! ```yaml
//! name: demo
//! memory_limit: 25%      # or 2GiB, 512MiB, 4GB, a number of bytes
//! threads: 4             # partitions a build's plans run in; default: the machine's cores
//! maintain:
//!   retention: 7d         # `pslake maintain` deletes files removed longer ago than this
//! ```
//!
//! `memory_limit` bounds the DataFusion memory pool every model build runs in; operators that
//! can (sorts, aggregations) spill to disk beyond it. The default is a quarter of the machine's
//! memory. The file is optional; an unknown key or an unreadable value is an error naming the
//! file and the line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::Problem;

/// The environment variable that overrides `threads`.
pub(crate) const THREADS_VAR: &str = "PSLAKE_THREADS";

/// The settings file's name, at the project root.
pub const SETTINGS_FILE: &str = "pslake.yml";

/// Project-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The project's name, when `pslake.yml` gives one.
    pub name: Option<String>,
    /// Bytes the memory pool of a build may hold before operators spill.
    pub memory_limit: u64,
    /// Partitions (threads) a build's plans run in; `None`: one per core. `PSLAKE_THREADS`
    /// overrides the file. The published tables do not depend on it (SPEC's exact rules: no
    /// floating-point sum whose order can vary).
    pub threads: Option<usize>,
    /// `pslake maintain`'s settings.
    pub maintain: MaintainSettings,
}

/// The `maintain:` section of `pslake.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainSettings {
    /// Data files a table stopped using longer ago than this are deleted (the versions that used
    /// them can no longer be read); default 7 days. `--retention` overrides it.
    pub retention: Duration,
}

/// The default of `maintain.retention`: Delta's own default for VACUUM.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86400);

impl Default for MaintainSettings {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: None,
            memory_limit: fraction_of_memory(0.25),
            threads: None,
            maintain: MaintainSettings::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    name: Option<String>,
    memory_limit: Option<serde_yaml_ng::Value>,
    threads: Option<usize>,
    maintain: Option<RawMaintain>,
    /// `pslake serve`'s section, read by `pslake-serve` (checked there, not here).
    #[serde(rename = "serve")]
    _serve: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintain {
    retention: Option<String>,
}

impl Settings {
    /// Reads `root/pslake.yml` (defaults when there is none).
    pub fn load(root: &Path) -> Result<Settings, Problem> {
        let mut settings = Self::load_file(root)?;
        if let Ok(t) = std::env::var(THREADS_VAR) {
            let n = t
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Problem::new(
                        Path::new(THREADS_VAR),
                        None,
                        format!(
                            "{THREADS_VAR}: cannot read {t:?} (a number of threads, at least 1)"
                        ),
                    )
                })?;
            settings.threads = Some(n);
        }
        Ok(settings)
    }

    fn load_file(root: &Path) -> Result<Settings, Problem> {
        let file = PathBuf::from(SETTINGS_FILE);
        let path = root.join(&file);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(Problem::new(&file, None, e.to_string())),
        };
        let raw: Option<RawSettings> = serde_yaml_ng::from_str(&text)
            .map_err(|e| Problem::new(&file, e.location().map(|l| l.line()), e.to_string()))?;
        let Some(raw) = raw else {
            return Ok(Settings::default());
        };
        if raw.threads == Some(0) {
            return Err(Problem::new(&file, None, "threads: at least 1"));
        }
        let mut settings = Settings {
            name: raw.name,
            threads: raw.threads,
            ..Settings::default()
        };
        if let Some(r) = raw.maintain.and_then(|m| m.retention) {
            settings.maintain.retention = pslake_core::pipeline::parse_duration(&r)
                .map_err(|e| Problem::new(&file, None, format!("maintain.retention: {e}")))?;
        }
        if let Some(v) = raw.memory_limit {
            let text = match &v {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                other => format!("{other:?}"),
            };
            settings.memory_limit = parse_size(&text).ok_or_else(|| {
                Problem::new(
                    &file,
                    None,
                    format!(
                        "memory_limit: cannot read {text:?} (write e.g. 2GiB, 512MiB, 25% or a number of bytes)"
                    ),
                )
            })?;
        }
        Ok(settings)
    }
}

/// `2GiB`, `512 MiB`, `4GB`, `1048576`, `25%` (of the machine's memory) as bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.trim().parse().ok()?;
        return (p > 0.0 && p <= 100.0).then(|| fraction_of_memory(p / 100.0));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "tib" | "t" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    let bytes = number * factor as f64;
    (bytes >= 1.0).then_some(bytes as u64)
}

/// `fraction` of the machine's physical memory (of 8 GiB when it cannot be read).
fn fraction_of_memory(fraction: f64) -> u64 {
    let total = fs_err::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(8 << 30);
    (total as f64 * fraction) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_units() {
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("4GB"), Some(4_000_000_000));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert!(parse_size("50%").expect("percent") > 0);
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("150%"), None);
    }

    #[test]
    fn the_file_is_optional_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Settings::load(dir.path()).expect("no file"),
            Settings::default()
        );
        fs_err::write(
            dir.path().join(SETTINGS_FILE),
            "name: x\nmemory_limit: 1GiB\n",
        )
        .expect("write");
        let s = Settings::load(dir.path()).expect("read");
        assert_eq!((s.name.as_deref(), s.memory_limit), (Some("x"), 1 << 30));
        fs_err::write(dir.path().join(SETTINGS_FILE), "memory_limt: 1GiB\n").expect("write");
        let e = Settings::load(dir.path()).expect_err("typo");
        assert!(e.to_string().contains("pslake.yml"), "{e}");
        assert!(e.to_string().contains("memory_limt"), "{e}");
        fs_err::write(
            dir.path().join(SETTINGS_FILE),
            "maintain:\n  retention: 36h\n",
        )
        .expect("write");
        let s = Settings::load(dir.path()).expect("read");
        assert_eq!(s.maintain.retention, Duration::from_secs(36 * 3600));
        fs_err::write(dir.path().join(SETTINGS_FILE), "maintain: {retain: 1d}\n").expect("write");
        let e = Settings::load(dir.path()).expect_err("typo");
        assert!(e.to_string().contains("retain"), "{e}");
        fs_err::write(
            dir.path().join(SETTINGS_FILE),
            "maintain: {retention: soon}\n",
        )
        .expect("write");
        let e = Settings::load(dir.path()).expect_err("bad duration");
        assert!(e.to_string().contains("maintain.retention"), "{e}");
        fs_err::write(dir.path().join(SETTINGS_FILE), "memory_limit: lots\n").expect("write");
        let e = Settings::load(dir.path()).expect_err("bad size");
        assert!(e.to_string().contains("lots"), "{e}");
    }
}
