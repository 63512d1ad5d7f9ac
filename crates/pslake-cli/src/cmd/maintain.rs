//! `pslake maintain`: compact small files, delete the files no version within the retention
//! needs (`pslake_lake::maintain` says what is kept), one line per table on stdout.
//!
//! The retention is `--retention`, else `maintain.retention` in `pslake.yml`, else 7 days. It is
//! a writing command: it takes the lake's lock and completes an interrupted release first.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pslake_lake::{Lake, TableMaintenance};

use super::UsageError;
use super::writer::{LockArgs, locked};

/// Arguments of `pslake maintain`.
#[derive(Debug, clap::Args)]
pub(crate) struct MaintainArgs {
    #[command(flatten)]
    lock: LockArgs,
    /// The lake: a folder or an object-store URL
    #[arg(long, default_value = "./lake")]
    lake: String,
    /// Delete the data files tables stopped using longer ago than this (`0s`, `36h`, `7d`);
    /// default: `maintain.retention` in pslake.yml, else 7d
    #[arg(long, value_parser = parse_retention)]
    retention: Option<Duration>,
    /// The project root holding pslake.yml
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

fn parse_retention(s: &str) -> Result<Duration, String> {
    pslake_core::pipeline::parse_duration(s)
}

pub(crate) async fn maintain(args: MaintainArgs) -> anyhow::Result<ExitCode> {
    let retention = match args.retention {
        Some(r) => r,
        None => {
            pslake_transform::Settings::load(&args.project)
                .map_err(|e| UsageError(e.to_string()))?
                .maintain
                .retention
        }
    };
    let lake = Lake::parse(&args.lake).map_err(|e| UsageError(e.to_string()))?;
    if let Some(path) = lake.local_path()
        && !path.is_dir()
    {
        return Err(UsageError(format!("no lake at {}", path.display())).into());
    }
    let reports = locked(&lake, "maintain", &args.lock, async {
        Ok(lake.maintain(retention).await?)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    write_report(&mut out, &reports, retention)?;
    Ok(ExitCode::SUCCESS)
}

fn write_report(
    out: &mut impl Write,
    reports: &[TableMaintenance],
    retention: Duration,
) -> std::io::Result<()> {
    let width = reports
        .iter()
        .map(|r| r.table.to_string().len())
        .max()
        .unwrap_or(0)
        .max("table".len());
    writeln!(
        out,
        "{:<width$} {:>15} {:>21} {:>17}  versions removed",
        "table", "files", "bytes", "deleted"
    )?;
    for r in reports {
        let removed = match r.versions_removed.as_slice() {
            [] => "-".to_string(),
            [one] => format!("{one}"),
            many => format!(
                "{} ({}-{})",
                many.len(),
                many.first().expect("not empty"),
                many.last().expect("not empty")
            ),
        };
        let kept = r
            .kept_release
            .map(|v| format!(", released version {v} kept"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<width$} {:>15} {:>21} {:>17}  {removed}{kept}",
            r.table.to_string(),
            format!("{} → {}", r.files_before, r.files_after),
            format!("{} → {}", bytes(r.bytes_before), bytes(r.bytes_after)),
            format!("{} ({})", r.deleted_files, bytes(r.deleted_bytes)),
        )?;
    }
    let compacted = reports.iter().filter(|r| r.compacted.is_some()).count();
    let (files, freed) = reports.iter().fold((0, 0), |(f, b), r| {
        (f + r.deleted_files, b + r.deleted_bytes)
    });
    writeln!(
        out,
        "{} tables: {compacted} compacted, {files} files deleted ({}), retention {}",
        reports.len(),
        bytes(freed),
        humantime(retention)
    )
}

/// `1.2 MiB`, `340 B`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `7d`, `36h`, `90s`.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 if d.is_zero() => "0s".to_string(),
        0 => format!("{}ms", d.as_millis()),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(340), "340 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
        assert_eq!(humantime(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(humantime(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(humantime(Duration::ZERO), "0s");
        assert_eq!(humantime(Duration::from_millis(250)), "250ms");
        assert_eq!(humantime(Duration::from_secs(90)), "90s");
    }
}
