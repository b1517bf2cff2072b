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

impl From<ClusterError> for trent_model::Error {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Invalid(msg) => {
                trent_model::Error::new(trent_model::ErrorKind::Validation, msg)
            }
            ClusterError::Fatal(msg) => trent_model::Error::internal(msg),
            other => trent_model::Error::unavailable(other.to_string()),
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
