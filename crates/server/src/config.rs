//! trentd's configuration: a TOML file, `TRENT_*` environment variables and flags, in rising
//! precedence, over documented defaults. Every error names the setting at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use trent_cluster::{ClusterConfig, InitialCluster, RaftTuning};

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
    /// Client API listen address; loopback only until SigV4 authentication lands
    /// [default: 127.0.0.1:7700].
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
    /// Snapshot after this many log entries [default: 10000].
    #[arg(long, env = "TRENT_SNAPSHOT_AFTER_LOGS")]
    pub snapshot_after_logs: Option<u64>,
    /// Log entries kept behind a snapshot [default: 1000].
    #[arg(long, env = "TRENT_LOGS_TO_KEEP")]
    pub logs_to_keep: Option<u64>,
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
}

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
        let node_id = flags
            .node_id
            .or(file.node_id)
            .ok_or("node_id: required (--node-id, TRENT_NODE_ID or node_id in the config file)")?;
        let peer_listen = flags
            .peer_listen
            .or(file.peer_listen)
            .unwrap_or_else(|| "127.0.0.1:7701".parse().unwrap());
        let initial = flags
            .initial_cluster
            .or(file.initial_cluster)
            .unwrap_or_default();
        let initial_cluster: InitialCluster = initial
            .parse()
            .map_err(|e| format!("initial_cluster: {e}"))?;
        let mut raft = file.raft.unwrap_or_default();
        raft.snapshot_after_logs = flags
            .snapshot_after_logs
            .unwrap_or(raft.snapshot_after_logs);
        raft.logs_to_keep = flags.logs_to_keep.unwrap_or(raft.logs_to_keep);
        let api_listen = flags
            .api_listen
            .or(file.api_listen)
            .unwrap_or_else(|| "127.0.0.1:7700".parse().unwrap());
        if !api_listen.ip().is_loopback() {
            return Err(format!(
                "api_listen: {api_listen} is not a loopback address; the API has no authentication yet, so it may only listen on loopback"
            ));
        }
        let log_format = match flags.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(format!("log_format: '{other}' is neither text nor json")),
        };
        let cluster = ClusterConfig {
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
            peer_advertise: flags
                .peer_advertise
                .or(file.peer_advertise)
                .unwrap_or_else(|| peer_listen.to_string()),
            initial_cluster,
            raft,
            request_timeout: Duration::from_millis(
                flags
                    .request_timeout_ms
                    .or(file.request_timeout_ms)
                    .unwrap_or(5_000),
            ),
        };
        cluster.validate()?;
        Ok(ServerConfig {
            cluster,
            api_listen,
            log_format,
        })
    }

    /// The single-node development cluster of `trentd dev`.
    pub fn dev(data_dir: PathBuf) -> ServerConfig {
        let peer_listen: SocketAddr = "127.0.0.1:7701".parse().unwrap();
        ServerConfig {
            cluster: ClusterConfig {
                cluster_name: "trent-dev".into(),
                node_id: 1,
                data_dir,
                peer_listen,
                peer_advertise: peer_listen.to_string(),
                initial_cluster: "1=127.0.0.1:7701".parse().unwrap(),
                raft: RaftTuning::default(),
                request_timeout: Duration::from_secs(5),
            },
            api_listen: "127.0.0.1:7700".parse().unwrap(),
            log_format: LogFormat::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags {
            node_id: Some(1),
            data_dir: Some("/tmp/x".into()),
            ..Flags::default()
        }
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let c = ServerConfig::resolve(flags()).unwrap();
        assert_eq!(c.cluster.cluster_name, "trent");
        assert_eq!(c.cluster.peer_advertise, "127.0.0.1:7701");
        assert_eq!(c.api_listen.to_string(), "127.0.0.1:7700");
    }

    #[test]
    fn errors_name_the_setting() {
        for (f, says) in [
            (
                Flags {
                    node_id: None,
                    ..flags()
                },
                "node_id",
            ),
            (
                Flags {
                    initial_cluster: Some("1=a".into()),
                    ..flags()
                },
                "initial_cluster",
            ),
            (
                Flags {
                    initial_cluster: Some("2=127.0.0.1:7701".into()),
                    ..flags()
                },
                "not in the member set",
            ),
            (
                Flags {
                    initial_cluster: Some("1=127.0.0.9:7701".into()),
                    ..flags()
                },
                "advertises",
            ),
            (
                Flags {
                    api_listen: Some("0.0.0.0:7700".parse().unwrap()),
                    ..flags()
                },
                "api_listen",
            ),
            (
                Flags {
                    log_format: Some("xml".into()),
                    ..flags()
                },
                "log_format",
            ),
        ] {
            let err = ServerConfig::resolve(f).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    #[test]
    fn file_settings_apply_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trent.toml");
        std::fs::write(
            &path,
            "node_id = 3\ncluster_name = \"c\"\n[raft]\nlogs_to_keep = 7\n",
        )
        .unwrap();
        let c = ServerConfig::resolve(Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(
            (
                c.cluster.node_id,
                c.cluster.cluster_name.as_str(),
                c.cluster.raft.logs_to_keep
            ),
            (3, "c", 7)
        );
        std::fs::write(&path, "node_id = 3\nnode_idd = 4\n").unwrap();
        let err = ServerConfig::resolve(Flags {
            config: Some(path),
            ..Flags::default()
        })
        .unwrap_err();
        assert!(err.contains("node_idd"), "{err}");
    }
}
