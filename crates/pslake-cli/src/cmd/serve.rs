//! `pslake serve`: the PostgreSQL wire protocol over the lake, for BI tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pslake_serve::{Overrides, ServeConfig, Server, TlsPaths};
use tokio_util::sync::CancellationToken;

use super::UsageError;

/// Arguments of `pslake serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The lake: a folder or an object-store URL
    #[arg(long, default_value = "./lake")]
    lake: String,
    /// The address to listen on (port 0 picks a free one, printed on stdout)
    #[arg(long)]
    listen: Option<String>,
    /// The project directory whose pslake.yml holds the `serve:` section
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Connections served at once (default 64)
    #[arg(long)]
    max_connections: Option<usize>,
    /// The memory pool of each query (1GiB, 512MiB, 10%); default 1GiB
    #[arg(long)]
    memory_limit_per_query: Option<String>,
    /// The longest a statement may run (300s, 5min, 0 for none); default 300s
    #[arg(long)]
    statement_timeout: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); with --tls-cert
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let lake = super::build::open_existing_lake(&args.lake)?;
    let overrides = Overrides {
        listen: args.listen,
        max_connections: args.max_connections,
        memory_limit_per_query: args.memory_limit_per_query,
        statement_timeout: args.statement_timeout,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsPaths { cert, key }),
            _ => None,
        },
    };
    let settings = args.project.join(pslake_transform::SETTINGS_FILE);
    let config = ServeConfig::load(&settings, &overrides).map_err(|e| UsageError(e.to_string()))?;
    let users: Vec<&str> = config.users.iter().map(|u| u.name.as_str()).collect();
    let tls = config.tls.is_some();
    let server = Server::bind(lake, config.clone())
        .await
        .context("pslake serve could not start")?;
    let addr = server
        .local_addr()
        .context("pslake serve could not start")?;
    // The one line on stdout: where to connect (tests and scripts read it).
    #[expect(clippy::print_stdout, reason = "the address is the command's output")]
    {
        println!("listening on {addr}");
    }
    tracing::info!(
        %addr,
        database = pslake_serve::DATABASE,
        users = users.join(","),
        tls,
        max_connections = config.max_connections,
        "pslake serve ready"
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let signal = async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    };
    tokio::select! {
        result = server.run(shutdown.clone()) => result.context("pslake serve stopped")?,
        () = signal => {}
    }
    Ok(ExitCode::SUCCESS)
}
