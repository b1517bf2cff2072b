//! What a node reports about its cluster: plain data shared by the server and its clients.

use serde::{Deserialize, Serialize};

/// A node's view of the cluster. The admin API's GetClusterStatus is served by the leader
/// (every API request is routed there), so what clients see is the leader's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
    /// The cluster's id, once recorded: chosen at random when the cluster formed.
    #[serde(default)]
    pub cluster_id: Option<String>,
    pub node_id: u64,
    /// Leader, Follower, Candidate, Learner, Shutdown, or Removed (this node was removed
    /// from the cluster and no longer campaigns).
    pub state: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub members: Vec<MemberStatus>,
    /// Why this node does not vote or stand for election (its data dir was wiped, or is new
    /// and not recorded yet), if it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<String>,
    /// Why this node cannot write to its disk now ("full": it waits for space), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    /// The last log index known replicated to this member (only the leader knows).
    pub matched: Option<u64>,
    /// The leader's last log index minus `matched` (only the leader knows).
    #[serde(default)]
    pub lag: Option<u64>,
    /// Milliseconds since this node last heard an answer from the member (any peer RPC:
    /// heartbeats, clock readings, forwarding); `None` for this node itself or a member
    /// never heard from.
    #[serde(default)]
    pub last_contact_ms: Option<u64>,
    /// Whether this node reaches the member: false once every call to it has failed for
    /// [`UNREACHABLE_AFTER_MS`]; `None` for this node itself.
    #[serde(default)]
    pub reachable: Option<bool>,
    /// The last transport error calling the member, while it is unreachable.
    #[serde(default)]
    pub error: Option<String>,
}

/// How long every call to a peer must have failed before the peer is reported unreachable:
/// long enough that one slow disk sync (an AppendEntries past its deadline) is no outage.
pub const UNREACHABLE_AFTER_MS: u64 = 2_000;
