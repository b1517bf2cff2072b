//! What a cluster node needs to know to start: its identity, its peers and Raft tuning.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{NodeId, PeerTls};

/// The static member set a new cluster starts with, like etcd's `--initial-cluster`:
/// `1=10.0.0.1:7701,2=10.0.0.2:7701,3=10.0.0.3:7701`. Every founding node must be given the
/// same set; nodes compare it before forming the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitialCluster(pub BTreeMap<NodeId, String>);

impl FromStr for InitialCluster {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut members = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, addr) = part
                .split_once('=')
                .ok_or_else(|| format!("member '{part}' is not of the form <id>=<host:port>"))?;
            let id: NodeId = id
                .trim()
                .parse()
                .map_err(|_| format!("member '{part}': node id '{id}' is not a number"))?;
            if id == 0 {
                return Err(format!("member '{part}': node ids start at 1"));
            }
            let addr = addr.trim();
            check_peer_addr(addr).map_err(|e| format!("member '{part}': {e}"))?;
            if members.values().any(|a| a == addr) {
                return Err(format!("address {addr} is listed for two members"));
            }
            if members.insert(id, addr.to_owned()).is_some() {
                return Err(format!("node id {id} is listed twice"));
            }
        }
        Ok(InitialCluster(members))
    }
}

impl fmt::Display for InitialCluster {
    /// The canonical form, sorted by node id, that peers compare.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Checks that `addr` is `host:port`.
pub(crate) fn check_peer_addr(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address '{addr}' has no port"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("address '{addr}' is not host:port"));
    }
    Ok(())
}

/// Raft timing, log-compaction and log-storage settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTuning {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_after_logs: u64,
    /// Entries kept in the log behind the latest snapshot, for slow followers.
    pub logs_to_keep: u64,
    /// Also build a snapshot once the log entries since the last one hold this many MiB
    /// (retention.rs); 0: by entries only.
    pub snapshot_after_log_mb: u64,
    /// Keep at most this many MiB of entries behind the latest snapshot; 0: by entries only.
    pub logs_to_keep_mb: u64,
    pub snapshot_chunk_bytes: u64,
    /// Serve reads under a leader lease (half of `election_timeout_min_ms`) instead of one
    /// quorum round per batch of readers; see barrier.rs for why it is safe.
    pub lease_reads: bool,
    /// Size of the WAL file each start prepares for reuse, so log fsyncs overwrite blocks
    /// instead of growing the file (store/wal.rs); 0 turns recycling off.
    pub wal_recycle_mb: u64,
    /// How far a node's wall clock may be from the majority of voters' clocks before it is
    /// not trusted to stamp requests or decide timed actions (cluster_time.rs).
    pub clock_tolerance_ms: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            // A follower calls an election `election_timeout_max` (openraft's leader lease)
            // plus its own timeout after the last heartbeat: 600-800 ms with these.
            heartbeat_ms: 50,
            election_timeout_min_ms: 200,
            election_timeout_max_ms: 400,
            // A snapshot copies the whole state, request-id table included (one record per
            // write of the last DEDUP_WINDOW_MS), so its cost per second grows with the
            // square of the write rate; the state is durable in RocksDB without it, so it is
            // only for compaction and lagging followers. etcd 3.4's snapshot-count default.
            snapshot_after_logs: 100_000,
            logs_to_keep: 1_000,
            // A batch entry holds up to 1 MiB, so 100,000 entries could be 100 GB: bound the
            // log in bytes too. A snapshot of a large state costs more than 256 MiB of log
            // only when the state is far larger than the log it replaces.
            snapshot_after_log_mb: 256,
            logs_to_keep_mb: 64,
            snapshot_chunk_bytes: 1 << 20,
            lease_reads: true,
            // Memtables are half of it (store/wal.rs), so a WAL file switches every few tens
            // of thousands of writes: flushes stay rare, the disk cost small.
            wal_recycle_mb: 64,
            // NTP keeps healthy clocks within milliseconds; a second leaves room for a slow
            // peer's answer while bounding what a wrong clock can move.
            clock_tolerance_ms: 1_000,
        }
    }
}

/// Everything the cluster layer of one node needs.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// A data dir and every peer message is bound to this name.
    pub cluster_name: String,
    pub node_id: NodeId,
    pub data_dir: PathBuf,
    pub peer_listen: SocketAddr,
    /// The address peers reach this node at (host:port).
    pub peer_advertise: String,
    /// Empty for a node that will be added to an existing cluster.
    pub initial_cluster: InitialCluster,
    pub raft: RaftTuning,
    /// How long a request may wait for a leader, a quorum or a barrier.
    pub request_timeout: Duration,
    /// Mutual TLS on the peer transport; `None` is plain gRPC (explicitly configured).
    pub peer_tls: Option<PeerTls>,
    /// Whether to listen on `peer_listen` at all: `false` for a one-node cluster that will
    /// never have peers (`trentd dev`), so no process can reach its Raft state machine.
    pub serve_peers: bool,
    /// What applying entries asks of the node's HSM (backup seals, forgetting deleted keys).
    pub hooks: crate::Hooks,
}

impl ClusterConfig {
    /// Checks what can be checked without the network; each error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node_id: node ids start at 1".into());
        }
        if !crate::identity::valid_cluster_name(&self.cluster_name) {
            return Err(format!(
                "cluster_name: '{}' is not one DNS label (1-63 letters, digits and '-', not at either end): peer certificates name it",
                self.cluster_name
            ));
        }
        let members = &self.initial_cluster.0;
        if !members.is_empty() {
            match members.get(&self.node_id) {
                None => {
                    return Err(format!(
                        "initial_cluster: this node ({}) is not in the member set '{}'",
                        self.node_id, self.initial_cluster
                    ))
                }
                Some(addr) if addr != &self.peer_advertise => {
                    return Err(format!(
                        "initial_cluster: lists node {} at {addr}, but this node advertises {}",
                        self.node_id, self.peer_advertise
                    ))
                }
                Some(_) => {}
            }
        }
        let r = &self.raft;
        if r.heartbeat_ms == 0
            || r.election_timeout_min_ms <= r.heartbeat_ms
            || r.election_timeout_max_ms <= r.election_timeout_min_ms
        {
            return Err(
                "raft: need 0 < heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms"
                    .into(),
            );
        }
        if r.wal_recycle_mb > MAX_WAL_RECYCLE_MB {
            return Err(format!(
                "wal_recycle_mb: {} is more than {MAX_WAL_RECYCLE_MB} (each start writes it twice)",
                r.wal_recycle_mb
            ));
        }
        Ok(())
    }
}

/// Largest `wal_recycle_mb`: a typo must not fill the disk at start.
const MAX_WAL_RECYCLE_MB: u64 = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let c: InitialCluster = " 2=b:2, 1=a:1 ".parse().unwrap();
        assert_eq!(c.to_string(), "1=a:1,2=b:2");
    }

    #[test]
    fn bad_peer_lists_name_the_problem() {
        for (bad, says) in [
            ("1", "form"),
            ("x=a:1", "not a number"),
            ("0=a:1", "start at 1"),
            ("1=a", "no port"),
            ("1=a:port", "host:port"),
            ("1=a:1,1=b:2", "twice"),
            ("1=a:1,2=a:1", "two members"),
        ] {
            let err = bad.parse::<InitialCluster>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
