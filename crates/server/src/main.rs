//! `trentd`, the trent daemon: one cluster member serving the client API.
//!
//! `trentd run` takes its configuration from a TOML file, `TRENT_*` variables and flags;
//! `trentd dev` starts a single-node development cluster with built-in defaults.

mod access_log;
mod audit_metrics;
mod certs;
mod config;
mod conn;
mod cpu;
mod edge;
mod hsm;
mod hsm_config;
mod hsm_health;
mod http;
mod join;
mod kms;
mod limits;
mod logging;
mod metrics;
mod peer_metrics;
mod probe;
mod remote;
mod shutdown;
mod statefulset;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use config::{Flags, ServerConfig};

// Every request allocates (headers, bodies, answers) on the two or more threads serving it;
// mimalloc's thread-local free lists cost a fraction of glibc malloc's locking there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    /// Runs a single-node development cluster with its API on 127.0.0.1:7700. It has no
    /// peer port: no other process can reach its Raft state machine.
    Dev {
        /// Data dir [default: $HOME/.local/share/trent/dev].
        #[arg(long, env = "TRENT_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Client API listen address (loopback only) [default: 127.0.0.1:7700].
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
    },
    /// Exits 0 when a node's probe answers 200: the health check of a container image
    /// that has no curl.
    Healthcheck(probe::HealthFlags),
    /// Removes this StatefulSet pod's node from the cluster (the pod's preStop hook); takes
    /// the same settings as `run`. Founding members never leave.
    Leave(Box<join::LeaveFlags>),
    /// Writes a development CA and per-node certificates and keys (PEM) for peer mutual TLS
    /// and the client API's TLS.
    Certs(certs::CertsArgs),
    /// The PKCS#11 token's key ceremony (`trentd hsm init`).
    #[command(subcommand)]
    Hsm(hsm::HsmCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, dev) = match cli.command {
        Cmd::Healthcheck(flags) => return probe::healthcheck(flags),
        Cmd::Leave(flags) => return join::leave(*flags),
        Cmd::Run(flags) => match ServerConfig::resolve(*flags) {
            Ok(config) => (config, false),
            Err(e) => return fail(&format!("invalid configuration: {e}")),
        },
        Cmd::Dev {
            data_dir,
            api_listen,
        } => match ServerConfig::dev(data_dir.unwrap_or_else(dev_data_dir), api_listen) {
            Ok(config) => (config, true),
            Err(e) => return fail(&format!("invalid configuration: {e}")),
        },
        Cmd::Hsm(command) => return hsm::run(command),
        Cmd::Certs(args) => {
            return match certs::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("certs: {e}")),
            }
        }
    };
    if let Err(e) = cpu::check() {
        return fail(&e);
    }
    logging::init(config.log_format);
    edge::raise_fd_limit(config.edge.max_connections);
    trent_cluster::setup_failpoints();
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

async fn serve(config: ServerConfig, dev: bool) -> anyhow::Result<()> {
    let tls = match &config.tls {
        Some(files) => Some(http::load_tls(files).await?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(config.api_listen)
        .and_then(edge::deepen_backlog)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (api_listen): {e}", config.api_listen))?;
    // A configured domain key and root secret are checked before the data dir is touched; a
    // development key is generated into the data dir, which must hold the database first.
    let configured = match config.kms.hsm {
        hsm_config::HsmChoice::Soft(trent_hsm::DomainKeySource::Dev(_)) => None,
        _ => Some(kms::load_hsm(&config.kms)?),
    };
    let root = kms::load_root(&config.kms.root_credentials)?;
    // Applying entries checks backup seals and forgets deleted keys through the HSM, which a
    // development key delivers only after the node has created its data dir.
    let hooks = Arc::new(trent_service::HsmHooks::default());
    if let Some(hsm) = &configured {
        hooks.set(hsm.clone());
    }
    let mut cluster = config.cluster.clone();
    cluster.hooks = hooks.hooks();
    let node = ClusterNode::start(cluster).await?;
    let hsm = match configured {
        Some(hsm) => hsm,
        None => {
            let hsm = kms::load_hsm(&config.kms)?;
            hooks.set(hsm.clone());
            hsm
        }
    };
    let service = kms::start(&node, hsm.clone(), &config.kms);
    let hsm_health =
        hsm_health::HsmHealth::watch(node.clone(), hsm.clone(), config.kms.hsm_check_interval);
    probe::install(&node);
    if let Some(sts) = config.statefulset.as_ref().filter(|s| !s.is_founding()) {
        let admin = join::Admin::new(&config, sts).map_err(|e| anyhow::anyhow!("{e}"))?;
        join::spawn_join(admin, sts.node_id(), config.cluster.peer_advertise.clone());
    }
    let root = kms::root_credentials(&service, root)?;
    tracing::info!(
        node = config.cluster.node_id,
        cluster = %config.cluster.cluster_name,
        api = %config.api_listen,
        peer = %config.cluster.peer_listen,
        serves_peers = config.cluster.serve_peers,
        data_dir = %config.cluster.data_dir.display(),
        "trentd started"
    );
    let peer_ip = config.cluster.peer_listen.ip();
    if config.cluster.serve_peers && config.cluster.peer_tls.is_none() && !peer_ip.is_loopback() {
        tracing::warn!(
            peer = %config.cluster.peer_listen,
            "INSECURE: plain peer transport on a network address (insecure_peer_plain_on_network): every host that reaches it can rewrite this cluster"
        );
    }
    let bootstrapped = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(metrics::Metrics::new(
        node.clone(),
        hsm,
        config.cluster.data_dir.clone(),
        service.clone(),
    )?);
    let api = trent_api::Api::install(service.clone(), config.kms.root_account.clone())
        .with_observer(metrics.clone())
        .with_body_timeout(config.edge.body_timeout)
        .with_secure_transport(config.tls.is_some());
    let api = access_log::install(api, &config.edge)?;
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(Probe {
            node: node.clone(),
            bootstrapped: bootstrapped.clone(),
            stopping: stopping.clone(),
            hsm: hsm_health,
        })
        .merge(metrics::router(metrics))
        .merge(api.router());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(http::serve(
        listener,
        tls,
        app,
        config.edge.clone(),
        stop_rx,
    ));
    let ready = async {
        node.bootstrap().await?;
        if let Some(root) = &root {
            service
                .ensure_root_access_key(
                    config.kms.root_account.clone(),
                    root.access_key_id.clone(),
                    root.secret_access_key.clone(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("root access key: {e}"))?;
        }
        bootstrapped.store(true, Ordering::SeqCst);
        if dev {
            print_dev_banner(&config, root.as_ref());
        }
        anyhow::Ok(())
    };
    // A domain key or cluster id mismatch found while running (trent_cluster::cluster_id),
    // or a storage failure (store/disk.rs): watched before and after the node is ready.
    let stopped = node.stopped();
    tokio::pin!(stopped);
    let outcome = tokio::select! {
        result = ready => match result {
            Ok(()) => tokio::select! {
                signal = shutdown_signal() => signal,
                reason = &mut stopped => Err(anyhow::anyhow!(reason)),
            },
            Err(e) => Err(e),
        },
        signal = shutdown_signal() => signal,
        reason = &mut stopped => Err(anyhow::anyhow!(reason)),
    };
    // A node that failed to start has nothing to drain.
    let delay = match outcome {
        Ok(()) => config.edge.shutdown_delay,
        Err(_) => std::time::Duration::ZERO,
    };
    shutdown::run(&node, &stopping, delay, stop_tx, http).await;
    outcome
}

#[derive(Clone)]
struct Probe {
    node: ClusterNode,
    /// The cluster is formed and the configured root access key is in place.
    bootstrapped: Arc<AtomicBool>,
    /// SIGTERM arrived: unready from then on, whatever else holds (shutdown.rs).
    stopping: Arc<AtomicBool>,
    /// Why the HSM cannot serve (a failed PKCS#11 token), while it cannot.
    hsm: hsm_health::HsmHealth,
}

/// Ready when this node has bootstrapped, is not stopping, knows a leader that a quorum
/// acknowledged within the election timeout (probe.rs), has applied the log to within
/// `probe::MAX_LAG` entries of it, and may vote (`quarantine` says why not: a wiped or not
/// yet recorded data dir), its disk has space (`disk`), and its HSM answers (`hsm`: why a
/// PKCS#11 token does not). Anonymous, like every probe, so
/// it shows only this node's Raft positions (what `/metrics` will show too), never keys or
/// members.
async fn readyz(
    axum::extract::State(probe): axum::extract::State<Probe>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    let s = probe.node.status();
    let bootstrapped = probe.bootstrapped.load(Ordering::SeqCst);
    let leader_applied = match s.leader {
        Some(_) if bootstrapped => probe::leader_applied(&probe.node).await,
        _ => None,
    };
    // A node that does not vote (wiped data dir, incarnation.rs) needs its operator.
    let stopping = probe.stopping.load(Ordering::SeqCst);
    let hsm = probe.hsm.failure();
    let code = match !stopping
        && hsm.is_none()
        && probe::caught_up(s.last_applied, leader_applied)
        && s.quarantine.is_none()
        && s.disk.is_none()
    {
        true => axum::http::StatusCode::OK,
        false => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::json!({
        "ready": code == axum::http::StatusCode::OK,
        "stopping": stopping,
        "node_id": s.node_id,
        "state": s.state,
        "leader": s.leader,
        "term": s.term,
        "last_log_index": s.last_log_index,
        "last_applied": s.last_applied,
        "leader_applied": leader_applied,
        "snapshot_index": s.snapshot_index,
        "purged_index": s.purged_index,
        "quarantine": s.quarantine,
        "disk": s.disk,
        "hsm": hsm,
    });
    (code, axum::Json(body))
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

fn print_dev_banner(config: &ServerConfig, root: Option<&kms::Credentials>) {
    eprintln!(
        "\n  trentd dev: single-node DEVELOPMENT cluster; not for production\n  api:      http://{}\n  data dir: {}\n  status:   trent admin cluster status",
        config.api_listen,
        config.cluster.data_dir.display()
    );
    if let Some(root) = root {
        // Dev mode only: these credentials exist to be copied into a client's environment.
        eprintln!(
            "  root of account {}:\n    export AWS_ACCESS_KEY_ID={}\n    export AWS_SECRET_ACCESS_KEY={}\n    export AWS_DEFAULT_REGION={}\n",
            config.kms.root_account,
            root.access_key_id,
            root.secret_access_key.as_str(),
            config.kms.region
        );
    }
}
