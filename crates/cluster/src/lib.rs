//! openraft glue for trent: the type configuration, RocksDB storage, the tonic peer transport,
//! forwarding of client requests to the leader, the linearizable read barrier and membership.
//!
//! This is the only crate that knows gRPC. Upper layers see [`ClusterNode`]: propose a
//! [`trent_state::Command`], pass a read barrier, read the [`trent_state::State`], or forward an
//! opaque request to the leader.

mod admission;
mod audit_backfill;
mod barrier;
mod clock;
mod cluster_id;
mod cluster_time;
mod config;
mod error;
mod handover;
mod health;
mod hooks;
mod identity;
mod incarnation;
mod listener;
mod membership;
mod mismatch;
mod network;
mod node;
mod observe;
mod peer_service;
mod peers;
mod proposer;
mod retention;
pub mod store;
mod tls;

pub mod proto {
    tonic::include_proto!("trent.peer.v1");
}

pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster_time::{is_skewed, majority_time, stamp, ClockStatus};
pub use config::{ClusterConfig, InitialCluster, RaftTuning};
pub use error::{ClusterError, StartError};
pub use hooks::{ApplyHooks, Hooks};
pub use identity::{peer_name, valid_cluster_name};
pub use node::{ClusterNode, ForwardCounts, ForwardHandler};
pub use tls::PeerTls;

use std::io::Cursor;

openraft::declare_raft_types!(
    /// trent's openraft types: log entries carry [`trent_state::Batch`]es of requests, node
    /// ids are `u64` and a node's address is its peer (gRPC) address.
    pub TypeConfig:
        D = trent_state::Batch,
        R = trent_state::Responses,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// Arms the fault-injection points named in `FAILPOINTS` when this crate is built with the
/// `failpoints` feature (tests only); otherwise does nothing. Call once at start-up.
pub fn setup_failpoints() {
    #[cfg(feature = "failpoints")]
    if let Ok(points) = std::env::var("FAILPOINTS") {
        tracing::warn!(%points, "FAILPOINTS armed: this node deliberately misbehaves (tests only)");
        std::mem::forget(fail::FailScenario::setup());
    }
}

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
