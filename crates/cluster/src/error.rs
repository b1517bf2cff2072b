//! Errors of the cluster layer. "Go to the leader" and "cannot serve now" are kept apart from
//! business outcomes, which travel inside [`trent_state::Response`].

use crate::NodeId;

/// Why the cluster could not carry out a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// This node is not the leader; the request may be retried on `leader` (if known). Nothing
    /// was proposed.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// No quorum, no leader or a timeout: the outcome of a write is unknown.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Bad input to a cluster operation (membership changes).
    #[error("{0}")]
    Invalid(String),
    /// The node is shutting down or its storage failed.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// What a caller is told when the cluster cannot serve: AWS's own words for its
/// `ServiceUnavailable` (HTTP 503), which every AWS SDK retries. Nothing about members,
/// addresses or Raft reaches an (unauthenticated) caller; the detail goes to this node's log.
pub const UNAVAILABLE_MESSAGE: &str =
    "The request has failed due to a temporary failure of the server.";
/// What a caller is told about a fatal failure of this node (storage, a panic).
pub const INTERNAL_MESSAGE: &str =
    "The request was rejected because an internal exception occurred. The request can be retried.";

impl ClusterError {
    /// openraft's fatal error as the cluster layer sees it: a Raft that stopped (this node is
    /// shutting down) is a condition to retry elsewhere, not a failure of the request;
    /// storage failures and panics are this node's fatal fault.
    pub(crate) fn of_fatal(f: &openraft::error::Fatal<NodeId>) -> ClusterError {
        match f {
            openraft::error::Fatal::Stopped => {
                ClusterError::Unavailable("this node is shutting down (raft stopped)".into())
            }
            other => ClusterError::Fatal(other.to_string()),
        }
    }
}

impl From<ClusterError> for trent_model::Error {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Invalid(msg) => trent_model::Error::admin_invalid(msg),
            ClusterError::Fatal(detail) => {
                tracing::error!(%detail, "request failed: this node's cluster layer failed");
                trent_model::Error::internal(INTERNAL_MESSAGE)
            }
            other => {
                tracing::debug!(detail = %other, "request answered 503: the cluster cannot serve it now");
                trent_model::Error::unavailable(UNAVAILABLE_MESSAGE)
            }
        }
    }
}

/// Why a node could not start. Each names the problem for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] crate::store::OpenError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("raft: {0}")]
    Raft(String),
    /// "cluster id mismatch: ..." or "domain key mismatch: ..." (cluster_id.rs).
    #[error("{0}")]
    Identity(String),
    #[error("peer {peer} was started with a different initial cluster: theirs is '{theirs}', ours is '{ours}'")]
    PeerMismatch {
        peer: String,
        theirs: String,
        ours: String,
    },
}
