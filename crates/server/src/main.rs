//! `trentd`, the trent daemon: one cluster member serving the client API.
//!
//! `trentd run` takes its configuration from a TOML file, `TRENT_*` variables and flags;
//! `trentd dev` starts a single-node development cluster with built-in defaults.

mod admin;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config::{Flags, LogFormat, ServerConfig};
use trent_cluster::ClusterNode;

#[derive(Parser)]
#[command(
    name = "trentd",
    version,
    about = "The trent key management service daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a cluster member.
    Run(Box<Flags>),
    /// Runs a single-node development cluster on 127.0.0.1:7700 (API) and :7701 (peer).
    Dev {
        /// Data dir [default: $HOME/.local/share/trent/dev].
        #[arg(long, env = "TRENT_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, dev) = match cli.command {
        Cmd::Run(flags) => match ServerConfig::resolve(*flags) {
            Ok(config) => (config, false),
            Err(e) => return fail(&format!("invalid configuration: {e}")),
        },
        Cmd::Dev { data_dir } => (
            ServerConfig::dev(data_dir.unwrap_or_else(dev_data_dir)),
            true,
        ),
    };
    init_logging(config.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(serve(config, dev)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("trentd: {message}");
    ExitCode::from(2)
}

fn dev_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/trent/dev"),
        None => PathBuf::from("trent-dev-data"),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config: ServerConfig, dev: bool) -> anyhow::Result<()> {
    let api = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (api_listen): {e}", config.api_listen))?;
    let node = ClusterNode::start(config.cluster.clone()).await?;
    if dev {
        print_dev_banner(&config);
    }
    tracing::info!(
        node = config.cluster.node_id,
        cluster = %config.cluster.cluster_name,
        api = %config.api_listen,
        peer = %config.cluster.peer_listen,
        data_dir = %config.cluster.data_dir.display(),
        "trentd started"
    );
    let app = admin::router(node.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(async move {
        let mut stop = stop_rx;
        // Small request/response exchanges: no Nagle delay on replies.
        let api = axum::serve::ListenerExt::tap_io(api, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(api, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    });
    let outcome = tokio::select! {
        result = node.bootstrap() => match result {
            Ok(()) => shutdown_signal().await,
            Err(e) => Err(anyhow::Error::from(e)),
        },
        signal = shutdown_signal() => signal,
    };
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = http.await;
    node.shutdown().await;
    outcome
}

/// Waits for SIGTERM or SIGINT.
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

fn print_dev_banner(config: &ServerConfig) {
    eprintln!(
        "\n  trentd dev: single-node DEVELOPMENT cluster; not for production\n  api:      http://{}\n  data dir: {}\n  status:   trent admin cluster status\n",
        config.api_listen,
        config.cluster.data_dir.display()
    );
}
