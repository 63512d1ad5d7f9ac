//! Tracing set-up: logs go to stderr, results to stdout. `RUST_LOG` overrides `-v`/`-q`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Logging flags shared by every command.
#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// More logging (-v info, -vv debug, -vvv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Log format: text or json (json suits scheduled runs)
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// The long-running commands' own events (each run's start and end, stops) are shown at the
/// default level.
const SCHEDULER_DIRECTIVES: [&str; 2] = ["pslake::cmd::schedule=info", "pslake::cmd::listen=info"];

/// Sets up logging; `scheduler`: `pslake schedule` or `pslake listen`, whose own events show at the default
/// level (unless `-q` or `RUST_LOG` says otherwise).
pub(crate) fn init(args: &LogArgs, scheduler: bool) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let mut filter = EnvFilter::builder()
        .with_default_directive(level.parse().expect("static level directive"))
        .from_env_lossy();
    if scheduler && !args.quiet && args.verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        for d in SCHEDULER_DIRECTIVES {
            filter = filter.add_directive(d.parse().expect("static scheduler directive"));
        }
    }
    let registry = tracing_subscriber::registry().with(filter);
    if args.log_format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
    }
}
