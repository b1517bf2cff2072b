//! The server side of the peer transport. Every message names its cluster (by name and id),
//! its sender and the node it is for; a message from another cluster (cluster_id.rs), for
//! another node than this one, from a sender its certificate does not name (identity.rs),
//! that claims to be from another node than its sender, from a non-member where membership
//! matters, or that does not decode, is refused before it reaches Raft or a handler.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::Vote;

use crate::identity;
use crate::node::ClusterNode;
use crate::proto::peer_server::Peer;
use crate::proto::{
    AuditBatch, AuditBatchesReply, AuditBatchesRequest, ForwardReply, ForwardRequest, HelloReply,
    HelloRequest, RaftReply, RaftRequest, TimeReply, TimeRequest, TimeoutNowReply,
    TimeoutNowRequest,
};
use crate::{ClusterError, NodeId, TypeConfig};

/// The node a vote is for: the candidate of a vote request, the leader of an append.
fn voter(vote: &Vote<NodeId>) -> Option<NodeId> {
    vote.leader_id().voted_for()
}

/// A request that has passed this many nodes is refused: leadership is changing too fast to
/// chase it, and the origin will retry.
const MAX_HOPS: u32 = 3;

pub(crate) struct PeerService {
    pub node: ClusterNode,
    /// Refused messages are logged at warn at most once a second, the rest at debug.
    pub refusals: crate::listener::WarnLimiter,
}

impl PeerService {
    /// Checks the message's cluster name and id (cluster_id.rs) and that it is for this node
    /// (`to`; 0 from a sender that names no addressee, an older trentd).
    fn check_cluster(&self, cluster: &str, cluster_id: &[u8], to: NodeId) -> Result<(), Status> {
        if cluster != self.node.cluster_name() {
            return Err(Status::permission_denied(format!(
                "this node belongs to cluster '{}', not '{cluster}'",
                self.node.cluster_name()
            )));
        }
        let me = self.node.id();
        let addressed = match to {
            0 => Ok(()),
            to if to == me => Ok(()),
            to => Err(format!(
                "this is node {me}, not node {to}: the message was addressed to node {to} at \
                this node's address (is node {me} running where node {to} should?)"
            )),
        };
        addressed
            .and_then(|()| self.node.identity().check_message(cluster_id))
            .map_err(|reason| {
                match self.refusals.allow() {
                    true => tracing::warn!(reason, "peer message refused"),
                    false => tracing::debug!(reason, "peer message refused"),
                }
                Status::permission_denied(reason)
            })
    }

    /// Checks that the connection's certificate names node `from` (with peer TLS).
    fn check_sender<T>(&self, request: &Request<T>, from: NodeId) -> Result<(), Status> {
        let certs = request.peer_certs();
        let tls = self.node.config().peer_tls.is_some();
        identity::check_sender(
            certs.as_deref().map(|c| c.as_slice()),
            tls,
            self.node.cluster_name(),
            from,
        )
        .map_err(|reason| {
            match self.refusals.allow() {
                true => tracing::warn!(from, reason, "peer message refused"),
                false => tracing::debug!(from, reason, "peer message refused"),
            }
            Status::permission_denied(reason)
        })
    }

    /// Checks that node `from` is a member (voter or learner) of this node's configuration;
    /// `open` lets a node that belongs to no cluster yet accept it.
    fn check_member(&self, from: NodeId, open: bool) -> Result<(), Status> {
        if self.node.member_addr(from).is_some() || (open && !self.node.has_members()) {
            return Ok(());
        }
        match self.refusals.allow() {
            true => tracing::warn!(from, "peer message from a non-member refused"),
            false => tracing::debug!(from, "peer message from a non-member refused"),
        }
        let mut refusal =
            Status::permission_denied(format!("node {from} is not a member of this cluster"));
        crate::observe::hint_removal(&self.node, from, &mut refusal);
        Err(refusal)
    }

    /// Decodes a Raft message from an authenticated sender whose claim (`claimed`: the vote's
    /// node) is its own id.
    fn decode<T: DeserializeOwned>(
        &self,
        request: Request<RaftRequest>,
        claimed: impl FnOnce(&T) -> Option<NodeId>,
    ) -> Result<T, Status> {
        let from = request.get_ref().from;
        self.check_sender(&request, from)?;
        let request = request.into_inner();
        self.check_cluster(&request.cluster, &request.cluster_id, request.to)?;
        let rpc: T = bincode::deserialize(&request.data)
            .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))?;
        match claimed(&rpc) {
            Some(id) if id == from => Ok(rpc),
            other => Err(Status::permission_denied(format!(
                "a message from node {from} speaks for node {other:?}"
            ))),
        }
    }
}

fn encode<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let data = bincode::serialize(result).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftReply { data }))
}

/// Maps a cluster error to the status the forwarding origin understands.
pub(crate) fn status_of(error: ClusterError) -> Status {
    match error {
        ClusterError::NotLeader { .. } => Status::failed_precondition(error.to_string()),
        ClusterError::Unavailable(_) => Status::unavailable(error.to_string()),
        ClusterError::Invalid(_) => Status::invalid_argument(error.to_string()),
        ClusterError::Fatal(_) => Status::internal(error.to_string()),
    }
}

impl PeerService {
    /// Campaigns now at the request of this node's leader, which is handing over.
    async fn take_over(
        &self,
        request: Request<TimeoutNowRequest>,
    ) -> Result<Response<TimeoutNowReply>, Status> {
        let from = request.get_ref().from;
        self.check_sender(&request, from)?;
        let request = request.into_inner();
        self.check_cluster(&request.cluster, &request.cluster_id, request.to)?;
        self.check_member(from, false)?;
        crate::handover::campaign(&self.node, from, request.term, request.last_log_index)
            .await
            .map_err(Status::failed_precondition)?;
        Ok(Response::new(TimeoutNowReply {}))
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    // A leader may be missing from a lagging follower's configuration (it was added in
    // entries the follower has not seen yet), so appends and snapshots need only a sender
    // whose certificate names it; a vote must come from a member.
    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = self
            .decode(request, |r: &AppendEntriesRequest<TypeConfig>| {
                voter(&r.vote)
            })?;
        encode(&self.node.raft().append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let rpc: VoteRequest<NodeId> =
            self.decode(request, |r: &VoteRequest<NodeId>| voter(&r.vote))?;
        self.check_member(voter(&rpc.vote).unwrap_or(0), true)?;
        if let Some(reason) = self.node.vote_refusal() {
            return Err(Status::failed_precondition(reason));
        }
        encode(&self.node.raft().vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = self
            .decode(request, |r: &InstallSnapshotRequest<TypeConfig>| {
                voter(&r.vote)
            })?;
        encode(&self.node.raft().install_snapshot(rpc).await)
    }

    async fn forward(
        &self,
        request: Request<ForwardRequest>,
    ) -> Result<Response<ForwardReply>, Status> {
        let from = request.get_ref().from;
        self.check_sender(&request, from)?;
        let request = request.into_inner();
        // Another cluster, or another node at this address, is the reason to give first.
        self.check_cluster(&request.cluster, &request.cluster_id, request.to)?;
        self.check_member(from, false)?;
        self.node
            .forward_counters()
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request_id = uuid::Uuid::from_slice(&request.request_id)
            .map_err(|_| Status::invalid_argument("request_id must be 16 bytes"))?;
        if request.hops >= MAX_HOPS {
            return Err(Status::unavailable(
                "forwarded too many times; leadership is changing",
            ));
        }
        if let Some(delay) = late_duplicate() {
            let (node, hops, payload) =
                (self.node.clone(), request.hops + 1, request.payload.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = node.route_hop(request_id, hops, payload).await;
            });
        }
        let payload = self
            .node
            .route_hop(request_id, request.hops + 1, request.payload)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ForwardReply { payload }))
    }

    // Only members read this node's clock: a stranger's reading is harmless, but every
    // peer RPC answers only whom its certificate names.
    async fn time(&self, request: Request<TimeRequest>) -> Result<Response<TimeReply>, Status> {
        let from = request.get_ref().from;
        self.check_sender(&request, from)?;
        let request = request.into_inner();
        self.check_cluster(&request.cluster, &request.cluster_id, request.to)?;
        self.check_member(from, false)?;
        Ok(Response::new(TimeReply {
            unix_millis: self.node.wall_clock(),
            incarnation: self.node.incarnation().as_bytes().to_vec(),
            audit_missing_below: self.node.audit_missing_below().unwrap_or(0),
        }))
    }

    async fn audit_batches(
        &self,
        request: Request<AuditBatchesRequest>,
    ) -> Result<Response<AuditBatchesReply>, Status> {
        let from = request.get_ref().from;
        self.check_sender(&request, from)?;
        let request = request.into_inner();
        self.check_cluster(&request.cluster, &request.cluster_id, request.to)?;
        self.check_member(from, false)?;
        let max_bytes = usize::try_from(request.max_bytes)
            .unwrap_or(usize::MAX)
            .min(crate::audit_backfill::MAX_REPLY_BYTES);
        let store = self.node.audit_store().clone();
        let below = request.below;
        let batches = tokio::task::spawn_blocking(move || store.stored_below(below, max_bytes))
            .await
            .map_err(|e| Status::internal(format!("reading the audit trail: {e}")))?
            .map_err(Status::internal)?;
        let batches = match forging() {
            true => batches.into_iter().map(forged).collect(),
            false => batches,
        };
        Ok(Response::new(AuditBatchesReply {
            batches: batches
                .into_iter()
                .map(|(seq, data)| AuditBatch { seq, data })
                .collect(),
        }))
    }

    async fn timeout_now(
        &self,
        request: Request<TimeoutNowRequest>,
    ) -> Result<Response<TimeoutNowReply>, Status> {
        self.take_over(request).await
    }

    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let (from, probe) = (request.get_ref().node_id, request.get_ref().probe);
        self.check_sender(&request, from)?;
        let founding = self.node.config().initial_cluster.0.contains_key(&from);
        if !founding {
            // A leader probing a node it is about to add: the node belongs to no cluster yet.
            self.check_member(from, probe)?;
        }
        let request = request.into_inner();
        self.check_cluster(&request.cluster, &request.cluster_id, 0)?;
        let ours = self.node.config().initial_cluster.to_string();
        if request.initial_cluster != ours && !ours.is_empty() && !probe {
            self.node
                .note_peer_mismatch(request.node_id, request.initial_cluster)
                .await;
        }
        let identity = self.node.identity();
        Ok(Response::new(HelloReply {
            node_id: self.node.id(),
            initial_cluster: ours,
            cluster: self.node.cluster_name().to_owned(),
            cluster_id: identity.wire_id(),
            key_check: identity.key_check().unwrap_or_default(),
            member: self.node.has_members(),
            formed: self.node.has_formed(),
            command_set: command_set(),
            next_key_check: self
                .node
                .config()
                .hooks
                .0
                .next_key_check_value()
                .unwrap_or_default(),
        }))
    }
}

/// The command set this node reports: its build's, or with the `command-set` fail point
/// (`return(N)`) set N, as an older build would (a test plays a rolling upgrade with it).
fn command_set() -> u32 {
    fail::fail_point!("command-set", |n| n
        .and_then(|n| n.parse().ok())
        .unwrap_or(trent_state::COMMAND_SET));
    trent_state::COMMAND_SET
}

/// The `forward-late-duplicate` fail point (`return(MS)`, usually with a probability such as
/// `20%return(1500)`): the network delivers this forwarded request a second time, `MS`
/// milliseconds later, and nobody waits for that copy's answer. What a connection that
/// lived through a partition does with its backlog (jepsen/RESULTS.md). `None` unless armed
/// in a `failpoints` build.
fn late_duplicate() -> Option<std::time::Duration> {
    fail::fail_point!("forward-late-duplicate", |ms| ms
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis));
    None
}

/// The `audit-batches-forge` fail point: this node answers backfills with edited batches, as
/// a compromised or faulty peer would (the restored node must refuse them, audit_backfill.rs).
fn forging() -> bool {
    fail::fail_point!("audit-batches-forge", |_| true);
    false
}

/// Batch `seq` with its first event renamed, re-encoded as a peer that rewrote it would.
fn forged((seq, bytes): (u64, Vec<u8>)) -> (u64, Vec<u8>) {
    let Ok(mut batch) = trent_state::StoredBatch::decode(&bytes) else {
        return (seq, bytes);
    };
    if let Some(event) = batch.events.first_mut() {
        *event = event.replacen("\"eventName\":\"", "\"eventName\":\"Forged", 1);
    }
    (seq, batch.encode())
}
