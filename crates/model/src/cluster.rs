//! What a node reports about its cluster: plain data shared by the server and its clients.

use serde::{Deserialize, Serialize};

/// A node's view of the cluster, served by any node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
    /// The cluster's id, once recorded: chosen at random when the cluster formed.
    #[serde(default)]
    pub cluster_id: Option<String>,
    pub node_id: u64,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub state: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub members: Vec<MemberStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    /// The last log index known replicated to this member (only the leader knows).
    pub matched: Option<u64>,
}
