//! `pslake sandbox` and `pslake fixtures generate`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pslake_sandbox::generate::{GenerateOptions, generate, generate_messy};
use pslake_sandbox::server::{
    DEFAULT_LISTEN, FAULTS_HELP, FaultSpec, NetSuiteDateFormat, Sandbox, SandboxConfig,
};

use super::UsageError;

/// Arguments of `pslake sandbox`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FAULTS_HELP)]
pub(crate) struct SandboxArgs {
    /// Fixture directory in the SPEC layout (`<system>/<stream>.jsonl`, `treasury/`, `manifest.json`)
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Address to listen on (loopback)
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Faults to inject, e.g. `rate_limit=0.05,error503=0.02,seed=7` (see --help)
    #[arg(long, value_parser = parse_faults)]
    faults: Option<FaultSpec>,
    /// The NetSuite account's date-format preference: how SuiteQL writes a date the query does
    /// not format with TO_CHAR (`M/D/YYYY` or `D/M/YYYY`)
    #[arg(long, default_value = "M/D/YYYY")]
    netsuite_date_format: NetSuiteDateFormat,
    /// Start the sandbox in the background and print `export NAME='value'` lines
    /// (PSLAKE_SANDBOX_URL, PSLAKE_FIXTURES, the demo pipeline's secrets, PSLAKE_SANDBOX_PID):
    /// `eval "$(pslake sandbox --print-env)"` then `pslake run --pipeline pipelines/demo.yml`;
    /// `kill $PSLAKE_SANDBOX_PID` stops the sandbox
    #[arg(long)]
    print_env: bool,
    /// Where change notifications go: the control endpoints
    /// `POST /_sandbox/hubspot/deals/{id}/close-won` and
    /// `POST /_sandbox/salesforce/opportunities/{id}/close-won` change the record, then send the
    /// signed HubSpot webhook to BASE_URL/hubspot and the Salesforce callout to
    /// BASE_URL/salesforce (`pslake listen`'s paths), retried with backoff while it is down
    #[arg(long, value_name = "BASE_URL", value_parser = parse_target)]
    webhook_target: Option<String>,
}

fn parse_target(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(s.trim_end_matches('/').to_string()),
        _ => Err(format!("invalid URL '{s}': expected http://HOST:PORT")),
    }
}

fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    FaultSpec::parse(s).map_err(|e| e.to_string())
}

/// `pslake fixtures ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FixturesCommand {
    /// Write a deterministic synthetic consultancy in the sandbox's wire formats
    Generate(GenerateArgs),
}

/// Arguments of `pslake fixtures generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Output directory (created; existing stream files are replaced)
    #[arg(long)]
    out: PathBuf,
    /// Size of the firm: 1 is about 80k time entries, 100 about 8M; fractions allowed
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    scale: f64,
    /// Random seed: the same seed and scale give byte-identical files
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Leave out the deliberate bad rows that exercise the data-quality rules
    #[arg(long)]
    no_bad_rows: bool,
    /// Plant the messy situations (no treasury file for the as_of month, cross-currency records,
    /// lines on unknown or empty jobs, records dated after as_of) and write two later runs as
    /// overlays OUT/run2 and OUT/run3 that change and delete records (see fixtures/messy/README.md)
    #[arg(long)]
    messy: bool,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "invalid scale '{s}': a positive number such as 1 or 0.05"
        )),
    }
}

pub(crate) async fn sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    if args.print_env {
        return print_env(&args).await;
    }
    let mut config = SandboxConfig::new(&args.fixtures);
    config.listen = args.listen;
    config.faults = args.faults;
    config.netsuite_date_format = args.netsuite_date_format;
    config.webhook_target = args.webhook_target.clone();
    let running = Sandbox::start(config)
        .await
        .map_err(|e| UsageError(format!("cannot start the sandbox: {e}")))?;
    tracing::warn!(url = %running.base_url(), fixtures = %args.fixtures.display(), "sandbox listening; ctrl-c stops it");
    eprintln!(
        "sandbox listening on {} (fixtures {})",
        running.base_url(),
        args.fixtures.display()
    );
    running.wait().await;
    Ok(ExitCode::SUCCESS)
}

/// `export NAME='value'` lines for a POSIX shell: values single-quoted (a `'` written `'\''`),
/// so multi-line values such as a PEM key survive `eval`.
pub(crate) fn export_lines(vars: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (k, v) in vars {
        s.push_str(&format!("export {k}='{}'\n", v.replace('\'', r"'\''")));
    }
    s
}

/// `--print-env`: starts this same command without `--print-env` as a background process on a
/// fixed loopback port (stdout to /dev/null, so a shell's `$(...)` ends), waits until it
/// answers, prints the `export` lines and returns; the sandbox keeps serving until killed
/// (`kill $PSLAKE_SANDBOX_PID`).
async fn print_env(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let fixtures = args.fixtures.canonicalize().map_err(|e| {
        UsageError(format!(
            "fixtures directory {}: {e}",
            args.fixtures.display()
        ))
    })?;
    // a free port (also: a sandbox already on the port must not pass for the new one)
    let listen = std::net::TcpListener::bind(args.listen)
        .and_then(|l| l.local_addr())
        .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
    // the same arguments, without --print-env and --listen, then the chosen address
    let mut child_args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip = false;
    for a in std::env::args_os().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        let s = a.to_string_lossy();
        if s == "--print-env" || s.starts_with("--listen=") {
            continue;
        }
        if s == "--listen" {
            skip = true;
            continue;
        }
        child_args.push(a);
    }
    child_args.push("--listen".into());
    child_args.push(listen.to_string().into());
    let exe = std::env::current_exe().context("locating the pslake binary")?;
    let mut child = std::process::Command::new(exe)
        .args(&child_args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the sandbox process")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(UsageError(format!("the sandbox process exited: {status}")).into());
        }
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(UsageError("the sandbox did not start within 120 s".into()).into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let creds = SandboxConfig::new(&fixtures).credentials;
    let mut lines = vec![
        ("PSLAKE_SANDBOX_URL", format!("http://{listen}")),
        ("PSLAKE_FIXTURES", fixtures.display().to_string()),
    ];
    lines.extend(
        creds
            .demo_secrets()
            .into_iter()
            .map(|(k, v)| (k, v.to_string())),
    );
    // not needed by `pslake run`: lets the shell stop the sandbox
    lines.push(("PSLAKE_SANDBOX_PID", child.id().to_string()));
    let mut out = std::io::stdout().lock();
    out.write_all(export_lines(&lines).as_bytes())
        .and_then(|()| out.flush())
        .context("writing the environment to stdout")?;
    eprintln!(
        "sandbox listening on http://{listen} (process {}); `kill $PSLAKE_SANDBOX_PID` stops it",
        child.id()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn fixtures(command: FixturesCommand) -> anyhow::Result<ExitCode> {
    match command {
        FixturesCommand::Generate(args) => {
            let opts = GenerateOptions {
                out: args.out.clone(),
                scale: args.scale,
                seed: args.seed,
                bad_rows: !args.no_bad_rows,
            };
            let messy = args.messy;
            let (summary, overlays) = tokio::task::spawn_blocking(move || {
                if messy {
                    generate_messy(&opts).map(|m| (m.base, m.overlays))
                } else {
                    generate(&opts).map(|s| (s, Vec::new()))
                }
            })
            .await
            .context("the generator task panicked")?
            .with_context(|| format!("generating fixtures into {}", args.out.display()))?;
            let total: u64 = summary.files.iter().map(|(_, n)| n).sum();
            eprintln!(
                "wrote {} files, {} records, into {}",
                summary.files.len(),
                total,
                args.out.display()
            );
            for (dir, files) in overlays {
                eprintln!(
                    "wrote the overlay {} ({} files)",
                    dir.display(),
                    files.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::export_lines;

    #[test]
    fn export_lines_survive_eval() {
        let value = "it's\n-----BEGIN PRIVATE KEY-----\nMII $x `y` \\z\n";
        let lines = export_lines(&[("A", value.to_string()), ("B", "plain".into())]);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{lines}printf '%s|%s' \"$A\" \"$B\""))
            .output()
            .expect("bash runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}|plain")
        );
    }
}
