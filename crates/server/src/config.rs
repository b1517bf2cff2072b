//! trentd's configuration: a TOML file, `TRENT_*` environment variables and flags, in rising
//! precedence, over documented defaults. Every error names the setting at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use trent_cluster::{ClusterConfig, InitialCluster, PeerTls, RaftTuning};
use trent_hsm::DomainKeySource;

use crate::hsm_config::{HsmChoice, HsmFlags, Pkcs11File};
use trent_model::AccountId;
use trent_service::{Limits, RateQuotas};

use crate::limits::{FileLimits, FileQuotas, LimitFlags};

use crate::edge::{Edge, EdgeFile, EdgeFlags};
use crate::statefulset::{StatefulSet, StatefulSetFile, StatefulSetFlags};

/// The account of the root principal when none is configured (AWS's documentation example).
const DEV_ACCOUNT: &str = "111122223333";

/// A region name as AWS spells them: lowercase letters, digits and dashes.
fn validate_region(region: Option<String>) -> Result<String, String> {
    let region = region.unwrap_or_else(|| "us-east-1".into());
    let ok = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(region),
        false => Err(format!(
            "region: '{region}' is not a region name (lowercase letters, digits, dashes)"
        )),
    }
}

/// Settings given as flags or environment variables (flags win).
#[derive(Args, Debug, Default)]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, env = "TRENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Name of the cluster; every data dir and peer message is bound to it [default: trent].
    #[arg(long, env = "TRENT_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// This node's id, unique in the cluster, from 1.
    #[arg(long, env = "TRENT_NODE_ID")]
    pub node_id: Option<u64>,
    /// Where the node keeps its database and snapshots [default: /var/lib/trent].
    #[arg(long, env = "TRENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client API listen address [default: 127.0.0.1:7700].
    #[arg(long, env = "TRENT_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// Peer (Raft and forwarding) listen address [default: 127.0.0.1:7701].
    #[arg(long, env = "TRENT_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// Address peers reach this node at [default: the peer listen address].
    #[arg(long, env = "TRENT_PEER_ADVERTISE")]
    pub peer_advertise: Option<String>,
    /// Founding members, `1=host:port,2=host:port,...`; the same on every founding node.
    /// Leave empty on a node that will be added to a running cluster.
    #[arg(long, env = "TRENT_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// How long a request may wait for a leader or a quorum, in ms [default: 5000].
    #[arg(long, env = "TRENT_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "TRENT_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Snapshot after this many log entries [default: 100000].
    #[arg(long, env = "TRENT_SNAPSHOT_AFTER_LOGS")]
    pub snapshot_after_logs: Option<u64>,
    /// Log entries kept behind a snapshot [default: 1000].
    #[arg(long, env = "TRENT_LOGS_TO_KEEP")]
    pub logs_to_keep: Option<u64>,
    /// Also snapshot once the log since the last snapshot holds this many MiB; 0: by
    /// entries only [default: 256].
    #[arg(long, env = "TRENT_SNAPSHOT_AFTER_LOG_MB")]
    pub snapshot_after_log_mb: Option<u64>,
    /// Keep at most this many MiB of log behind a snapshot; 0: by entries only
    /// [default: 64].
    #[arg(long, env = "TRENT_LOGS_TO_KEEP_MB")]
    pub logs_to_keep_mb: Option<u64>,
    /// Serve reads under a leader lease instead of a quorum round per batch of readers
    /// (docs/ARCHITECTURE.md); `--lease-reads=false` turns it off [default: true].
    #[arg(long, env = "TRENT_LEASE_READS", num_args = 0..=1, default_missing_value = "true")]
    pub lease_reads: Option<bool>,
    /// Record every API call in the replicated audit trail before answering it
    /// (docs/ARCHITECTURE.md); `--audit-trail=false` turns it off, which trentd warns about
    /// at start: for measuring what the trail costs, not for serving [default: true].
    #[arg(long, env = "TRENT_AUDIT_TRAIL", num_args = 0..=1, default_missing_value = "true")]
    pub audit_trail: Option<bool>,
    /// Days the audit trail keeps events once they are exported (`trent audit export`);
    /// nothing is pruned before it is exported [default: 90].
    #[arg(long, env = "TRENT_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Most events the audit trail keeps once exported; the oldest exported go first
    /// [default: 1000000].
    #[arg(long, env = "TRENT_AUDIT_RETENTION_EVENTS")]
    pub audit_retention_events: Option<u64>,
    /// MB of WAL each start prepares for reuse, so log fsyncs overwrite blocks instead of
    /// growing a file (docs/ARCHITECTURE.md); 0 turns WAL recycling off [default: 64].
    #[arg(long, env = "TRENT_WAL_RECYCLE_MB")]
    pub wal_recycle_mb: Option<u64>,
    /// How far (ms) a node's wall clock may be from the time a majority of voters' clocks
    /// have reached before it is not trusted to stamp requests or decide timed actions such
    /// as scheduled deletion (docs/ARCHITECTURE.md) [default: 1000].
    #[arg(long, env = "TRENT_CLOCK_TOLERANCE_MS")]
    pub clock_tolerance_ms: Option<u64>,
    /// The AWS region in the ARNs this cluster issues and accepts [default: us-east-1].
    #[arg(long, env = "TRENT_REGION")]
    pub region: Option<String>,
    /// File holding the cluster's 256-bit domain key as 64 hex digits (a mounted Secret):
    /// mode 0600/0400 if owned by trentd's user, at most 0640 if owned by root; refused if
    /// others can read it. TRENT_DOMAIN_KEY may hold the hex digits themselves instead, but
    /// the environment leaks (/proc/<pid>/environ, `ps e`, crash dumps, child processes):
    /// prefer the file.
    #[arg(long, env = "TRENT_DOMAIN_KEY_FILE")]
    pub domain_key_file: Option<PathBuf>,
    /// Account of the root principal bootstrapped from TRENT_ROOT_ACCESS_KEY_ID and the
    /// secret in the file TRENT_ROOT_SECRET_ACCESS_KEY_FILE names (same rule as the domain
    /// key file; TRENT_ROOT_SECRET_ACCESS_KEY holds it in the leaky environment instead)
    /// [default: 111122223333].
    #[arg(long, env = "TRENT_ROOT_ACCOUNT")]
    pub root_account: Option<String>,
    /// Maximum keys per account [default: 100000].
    #[arg(long, env = "TRENT_MAX_KEYS_PER_ACCOUNT")]
    pub max_keys_per_account: Option<u32>,
    /// PEM certificate chain the client API serves over TLS.
    #[arg(long, env = "TRENT_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "TRENT_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Serve the client API over plain HTTP instead of TLS (only for a trusted network).
    #[arg(long, env = "TRENT_PLAIN_HTTP")]
    pub plain_http: bool,
    /// Maximum aliases per key [default: 50].
    #[arg(long, env = "TRENT_MAX_ALIASES_PER_KEY")]
    pub max_aliases_per_key: Option<u32>,
    #[command(flatten)]
    pub hsm: HsmFlags,
    #[command(flatten)]
    pub statefulset: StatefulSetFlags,
    #[command(flatten)]
    pub limits: LimitFlags,
    #[command(flatten)]
    pub edge: EdgeFlags,
    /// PEM certificate(s) of the cluster CA: peers must present a certificate it issued.
    #[arg(long, env = "TRENT_PEER_TLS_CA_FILE")]
    pub peer_tls_ca_file: Option<PathBuf>,
    /// PEM certificate chain this node presents to its peers (as server and as client).
    #[arg(long, env = "TRENT_PEER_TLS_CERT_FILE")]
    pub peer_tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "TRENT_PEER_TLS_KEY_FILE")]
    pub peer_tls_key_file: Option<PathBuf>,
    /// Run the peer transport (Raft, forwarding) without TLS: anyone who reaches the peer
    /// port can send Raft messages, so only on a loopback address unless overridden below.
    #[arg(long, env = "TRENT_PEER_PLAIN")]
    pub peer_plain: bool,
    /// INSECURE: allow --peer-plain on a non-loopback address, where every host that reaches
    /// the peer port can rewrite the cluster's state. Only for an isolated test network.
    #[arg(long, env = "TRENT_INSECURE_PEER_PLAIN_ON_NETWORK")]
    pub insecure_peer_plain_on_network: bool,
}

/// The file form; every key is optional and unknown keys are errors.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    cluster_name: Option<String>,
    node_id: Option<u64>,
    data_dir: Option<PathBuf>,
    api_listen: Option<SocketAddr>,
    peer_listen: Option<SocketAddr>,
    peer_advertise: Option<String>,
    initial_cluster: Option<String>,
    request_timeout_ms: Option<u64>,
    log_format: Option<String>,
    raft: Option<RaftTuning>,
    region: Option<String>,
    domain_key_file: Option<PathBuf>,
    /// `soft` or `pkcs11` (hsm_config.rs).
    hsm: Option<String>,
    pkcs11: Option<Pkcs11File>,
    root_account: Option<String>,
    limits: Option<FileLimits>,
    quotas: Option<FileQuotas>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    plain_http: Option<bool>,
    statefulset: Option<StatefulSetFile>,
    http: Option<EdgeFile>,
    peer_tls_ca_file: Option<PathBuf>,
    peer_tls_cert_file: Option<PathBuf>,
    peer_tls_key_file: Option<PathBuf>,
    peer_plain: Option<bool>,
    insecure_peer_plain_on_network: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration of a node.
#[derive(Debug)]
pub struct ServerConfig {
    pub cluster: ClusterConfig,
    pub api_listen: SocketAddr,
    pub log_format: LogFormat,
    pub kms: KmsConfig,
    /// `None`: plain HTTP (explicitly configured, or dev mode).
    pub tls: Option<TlsFiles>,
    /// StatefulSet mode: identity from the pod name, joining and leaving automatically.
    pub statefulset: Option<StatefulSet>,
    /// The client listener's limits.
    pub edge: Edge,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the key service needs: region, limits, the domain key's source, the root principal.
#[derive(Debug)]
pub struct KmsConfig {
    pub region: String,
    pub limits: Limits,
    pub quotas: RateQuotas,
    /// The HSM backend and where its domain key is.
    pub hsm: HsmChoice,
    pub root_account: AccountId,
    /// Root credentials: from TRENT_ROOT_* in `run`, generated into the data dir in `dev`.
    pub root_credentials: RootCredentials,
    /// Whether calls are recorded in the audit trail.
    pub audit_trail: bool,
    pub audit_retention: trent_service::AuditRetention,
    /// How often the HSM is checked (hsm_health.rs).
    pub hsm_check_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RootCredentials {
    /// Read from `TRENT_ROOT_ACCESS_KEY_ID` / `TRENT_ROOT_SECRET_ACCESS_KEY` if set.
    FromEnv,
    /// Development: generated once into this file and printed.
    Dev(PathBuf),
}

/// The environment variable that may hold the domain key itself.
pub const DOMAIN_KEY_ENV: &str = "TRENT_DOMAIN_KEY";

impl ServerConfig {
    pub fn resolve(flags: Flags) -> Result<ServerConfig, String> {
        let file = match &flags.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?
            }
        };
        let peer_listen = flags
            .peer_listen
            .or(file.peer_listen)
            .unwrap_or_else(|| "127.0.0.1:7701".parse().unwrap());
        let statefulset = StatefulSet::resolve(
            flags.statefulset,
            file.statefulset,
            std::env::var("HOSTNAME").ok(),
        )?;
        let identity = (
            flags.node_id.or(file.node_id),
            flags.initial_cluster.or(file.initial_cluster),
            flags.peer_advertise.or(file.peer_advertise),
        );
        let (node_id, initial, peer_advertise) = match &statefulset {
            Some(s) => s.identity(peer_listen.port(), identity)?,
            None => identity,
        };
        let node_id = node_id
            .ok_or("node_id: required (--node-id, TRENT_NODE_ID or node_id in the config file)")?;
        let initial = initial.unwrap_or_default();
        let initial_cluster: InitialCluster = initial
            .parse()
            .map_err(|e| format!("initial_cluster: {e}"))?;
        let mut raft = file.raft.unwrap_or_default();
        raft.snapshot_after_logs = flags
            .snapshot_after_logs
            .unwrap_or(raft.snapshot_after_logs);
        raft.logs_to_keep = flags.logs_to_keep.unwrap_or(raft.logs_to_keep);
        raft.snapshot_after_log_mb = flags
            .snapshot_after_log_mb
            .unwrap_or(raft.snapshot_after_log_mb);
        raft.logs_to_keep_mb = flags.logs_to_keep_mb.unwrap_or(raft.logs_to_keep_mb);
        raft.wal_recycle_mb = flags.wal_recycle_mb.unwrap_or(raft.wal_recycle_mb);
        raft.lease_reads = flags.lease_reads.unwrap_or(raft.lease_reads);
        raft.clock_tolerance_ms = flags.clock_tolerance_ms.unwrap_or(raft.clock_tolerance_ms);
        let api_listen = flags
            .api_listen
            .or(file.api_listen)
            .unwrap_or_else(|| "127.0.0.1:7700".parse().unwrap());
        let log_format = match flags.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(format!("log_format: '{other}' is neither text nor json")),
        };
        let mut cluster = ClusterConfig {
            cluster_name: flags
                .cluster_name
                .or(file.cluster_name)
                .unwrap_or_else(|| "trent".into()),
            node_id,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| "/var/lib/trent".into()),
            peer_listen,
            peer_advertise: peer_advertise.unwrap_or_else(|| peer_listen.to_string()),
            initial_cluster,
            raft,
            request_timeout: Duration::from_millis(
                flags
                    .request_timeout_ms
                    .or(file.request_timeout_ms)
                    .unwrap_or(5_000),
            ),
            peer_tls: None,
            serve_peers: true,
            hooks: Default::default(),
        };
        cluster.validate()?;
        let domain_key = match flags.domain_key_file.or(file.domain_key_file) {
            Some(path) => Some(DomainKeySource::File(path)),
            None if std::env::var_os(DOMAIN_KEY_ENV).is_some() => {
                Some(DomainKeySource::Env(DOMAIN_KEY_ENV.into()))
            }
            None => None,
        };
        let hsm_check_interval =
            Duration::from_millis(flags.hsm.hsm_check_interval_ms.unwrap_or(1000).max(1));
        let hsm = HsmChoice::resolve(flags.hsm, file.hsm, file.pkcs11, domain_key)?;
        let (limits, quotas) = crate::limits::resolve(
            flags.max_keys_per_account,
            flags.max_aliases_per_key,
            flags.limits,
            file.limits.unwrap_or_default(),
            file.quotas.unwrap_or_default(),
        );
        let kms = KmsConfig {
            region: validate_region(flags.region.or(file.region))?,
            limits,
            quotas,
            hsm,
            hsm_check_interval,
            root_account: flags
                .root_account
                .or(file.root_account)
                .unwrap_or_else(|| DEV_ACCOUNT.into())
                .parse()
                .map_err(|e| format!("root_account: {e}"))?,
            root_credentials: RootCredentials::FromEnv,
            audit_trail: flags.audit_trail.unwrap_or(true),
            audit_retention: {
                let default = trent_service::AuditRetention::default();
                trent_service::AuditRetention {
                    max_age_days: flags.audit_retention_days.unwrap_or(default.max_age_days),
                    max_events: flags.audit_retention_events.unwrap_or(default.max_events),
                }
            },
        };
        let plain_http = flags.plain_http || file.plain_http.unwrap_or(false);
        let tls = match (
            flags.tls_cert_file.or(file.tls_cert_file),
            flags.tls_key_file.or(file.tls_key_file),
        ) {
            (Some(cert), Some(key)) if !plain_http => Some(TlsFiles { cert, key }),
            (Some(_), Some(_)) => return Err("plain_http: set together with TLS files; choose one".into()),
            (Some(_), None) => return Err("tls_key_file: required with tls_cert_file".into()),
            (None, Some(_)) => return Err("tls_cert_file: required with tls_key_file".into()),
            (None, None) if plain_http => None,
            (None, None) => return Err(
                "tls_cert_file: required (with tls_key_file), or --plain-http to serve the API without TLS".into(),
            ),
        };
        cluster.peer_tls = resolve_peer_tls(
            flags.peer_tls_ca_file.or(file.peer_tls_ca_file),
            flags.peer_tls_cert_file.or(file.peer_tls_cert_file),
            flags.peer_tls_key_file.or(file.peer_tls_key_file),
            flags.peer_plain || file.peer_plain.unwrap_or(false),
        )?;
        let on_network = flags.insecure_peer_plain_on_network
            || file.insecure_peer_plain_on_network.unwrap_or(false);
        check_plain_peers_stay_local(&cluster, on_network)?;
        if let Some(s) = &statefulset {
            s.check_tls(tls.is_some())?;
        }
        Ok(ServerConfig {
            cluster,
            api_listen,
            log_format,
            kms,
            tls,
            statefulset,
            edge: Edge::resolve(flags.edge, file.http)?,
        })
    }

    /// The single-node development cluster of `trentd dev`, its API on the given address or
    /// 127.0.0.1:7700. It serves no peer port: the one node never talks to another, and no
    /// local process can send it Raft messages. Its peer address is only its name in the
    /// membership.
    pub fn dev(data_dir: PathBuf, api_listen: Option<SocketAddr>) -> Result<ServerConfig, String> {
        let peer_listen: SocketAddr = "127.0.0.1:7701".parse().unwrap();
        let api_listen = api_listen.unwrap_or_else(|| "127.0.0.1:7700".parse().unwrap());
        if !api_listen.ip().is_loopback() {
            return Err(format!(
                "api_listen: {api_listen} is not a loopback address; dev mode serves loopback only"
            ));
        }
        let kms = KmsConfig {
            region: "us-east-1".into(),
            limits: Limits::default(),
            quotas: RateQuotas::default(),
            hsm: HsmChoice::Soft(DomainKeySource::Dev(data_dir.join("dev-domain-key"))),
            root_account: DEV_ACCOUNT.parse().unwrap(),
            root_credentials: RootCredentials::Dev(data_dir.join("dev-credentials")),
            audit_trail: true,
            audit_retention: Default::default(),
            hsm_check_interval: Duration::from_secs(1),
        };
        Ok(ServerConfig {
            kms,
            tls: None,
            statefulset: None,
            // One node, no load balancer to wait for: Ctrl-C stops at once.
            edge: Edge {
                shutdown_delay: Duration::ZERO,
                ..Edge::default()
            },
            cluster: ClusterConfig {
                cluster_name: "trent-dev".into(),
                node_id: 1,
                data_dir,
                peer_listen,
                peer_advertise: peer_listen.to_string(),
                initial_cluster: format!("1={peer_listen}").parse()?,
                raft: RaftTuning::default(),
                request_timeout: Duration::from_secs(5),
                peer_tls: None,
                serve_peers: false,
                hooks: Default::default(),
            },
            api_listen,
            log_format: LogFormat::Text,
        })
    }
}

/// The `[pkcs11]` table of a configuration file, for `trentd hsm init` (which reads nothing
/// else of it).
pub fn pkcs11_table(path: &std::path::Path) -> Result<Option<Pkcs11File>, String> {
    #[derive(Deserialize)]
    struct OnlyPkcs11 {
        pkcs11: Option<Pkcs11File>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    let file: OnlyPkcs11 =
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
    Ok(file.pkcs11)
}

/// Plain peers on a non-loopback address let every host that reaches the port send Raft
/// messages (rewrite the log, elect itself): refused unless the operator names the risk.
fn check_plain_peers_stay_local(cluster: &ClusterConfig, on_network: bool) -> Result<(), String> {
    let addr = cluster.peer_listen;
    if cluster.peer_tls.is_some() || addr.ip().is_loopback() {
        return Ok(());
    }
    if on_network {
        return Ok(()); // serve() warns loudly once logging is up
    }
    Err(format!(
        "peer_plain: {addr} is not a loopback address, and without TLS anyone who reaches it can send Raft messages; give peer TLS files (peer_tls_ca_file, ...), or insecure_peer_plain_on_network for an isolated test network"
    ))
}

/// Mutual TLS on the peer transport needs all three files; without them the operator must
/// say `peer_plain` explicitly, so a production node is never left open by omission.
fn resolve_peer_tls(
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    plain: bool,
) -> Result<Option<PeerTls>, String> {
    match (ca, cert, key) {
        (None, None, None) if plain => Ok(None),
        (None, None, None) => Err("peer_tls_ca_file: required (with peer_tls_cert_file and peer_tls_key_file), or --peer-plain to run the peer transport without TLS".into()),
        _ if plain => Err("peer_plain: set together with peer TLS files; choose one".into()),
        (Some(ca), Some(cert), Some(key)) => PeerTls::load(&ca, &cert, &key).map(Some),
        (None, _, _) => Err("peer_tls_ca_file: required with the other peer TLS files".into()),
        (_, None, _) => Err("peer_tls_cert_file: required with the other peer TLS files".into()),
        (_, _, None) => Err("peer_tls_key_file: required with the other peer TLS files".into()),
    }
}

#[cfg(test)]
mod tests;
