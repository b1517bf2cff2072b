//! The client side of the peer transport: Raft RPCs for openraft and request forwarding,
//! over one lazily connected tonic channel per peer address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

use crate::cluster_id::IdentityCell;
use crate::listener::WarnLimiter;
use crate::peers::{Peers, RemovalHint};
use crate::proto::peer_client::PeerClient;
use crate::proto::{
    AuditBatchesRequest, ForwardRequest, HelloReply, HelloRequest, RaftRequest, TimeReply,
    TimeRequest, TimeoutNowRequest,
};
use crate::{NodeId, PeerTls, TypeConfig};

/// Above the snapshot chunk size and any append batch.
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// HTTP/2 pings on every peer connection, both ways, and how long an unanswered one may
/// take before the connection is dropped. A connection cut off by a partition would
/// otherwise live on (TCP retransmits for minutes) with every RPC queued on it timing out,
/// and deliver that backlog, requests long given up on, when the partition heals
/// (jepsen/RESULTS.md). Dropped, the next RPC connects afresh and fails fast while the
/// peer is unreachable. Pings are answered by the peer's HTTP/2 layer, not by Raft, so a
/// busy peer still answers them well within the timeout.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every connection this node opens; clones share the channel cache.
#[derive(Clone)]
pub struct Network {
    cluster: String,
    /// This node: every message names its sender.
    from: NodeId,
    /// Every message carries this node's cluster id (cluster_id.rs).
    identity: Arc<IdentityCell>,
    /// Refusals by peers are logged at warn at most once a second.
    refusals: Arc<WarnLimiter>,
    local_ip: Option<IpAddr>,
    /// Mutual TLS for every peer connection; `None` only when plain gRPC is configured.
    tls: Option<PeerTls>,
    /// By the node meant and its address: with TLS the channel verifies that node's name.
    channels: Arc<Mutex<HashMap<(NodeId, String), Channel>>>,
    /// Who answered when (peers.rs).
    peers: Arc<Peers>,
}

impl Network {
    /// `local_ip`, when set, is the source address of every outgoing connection, so that peer
    /// traffic can be told apart (and filtered) by address.
    pub fn new(
        cluster: String,
        from: NodeId,
        identity: Arc<IdentityCell>,
        local_ip: Option<IpAddr>,
        tls: Option<PeerTls>,
    ) -> Self {
        Network {
            cluster,
            from,
            identity,
            refusals: Arc::default(),
            local_ip,
            tls,
            channels: Arc::default(),
            peers: Arc::default(),
        }
    }

    pub(crate) fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    /// The cached channel to node `target` at `addr` (host:port), created on first use. An
    /// address that is no URI is an error, never a panic: peer addresses come from operators
    /// (`AddNode`).
    fn client(&self, target: NodeId, addr: &str) -> Result<PeerClient<Channel>, String> {
        let mut channels = self.channels.lock().expect("channel cache");
        let key = (target, addr.to_owned());
        let channel = match channels.get(&key) {
            Some(channel) => channel.clone(),
            None => {
                let channel = self.endpoint(target, addr)?.connect_lazy();
                channels.insert(key, channel.clone());
                channel
            }
        };
        Ok(PeerClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    fn endpoint(&self, target: NodeId, addr: &str) -> Result<Endpoint, String> {
        let scheme = match self.tls {
            Some(_) => "https",
            None => "http",
        };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("peer address {addr}: {e}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .local_address(self.local_ip);
        match &self.tls {
            // The peer's certificate must name `target` (identity.rs), whatever host answers.
            Some(tls) => endpoint
                .tls_config(tls.client(&self.cluster, target))
                .map_err(|e| format!("peer address {addr}: {e}")),
            None => Ok(endpoint),
        }
    }

    /// Sends a client request to node `target` at `addr` (the leader, as far as we know).
    pub async fn forward(
        &self,
        target: NodeId,
        addr: &str,
        request_id: uuid::Uuid,
        hops: u32,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Status> {
        let mut request = tonic::Request::new(ForwardRequest {
            cluster: self.cluster.clone(),
            request_id: request_id.as_bytes().to_vec(),
            hops,
            payload,
            from: self.from,
            to: target,
            cluster_id: self.identity.wire_id(),
        });
        request.set_timeout(timeout);
        let reply = self
            .client(target, addr)
            .map_err(Status::invalid_argument)?
            .forward(request)
            .await;
        Ok(note(&self.peers, target, reply)?.into_inner().payload)
    }

    /// Reads the wall clock of node `target` at `addr`.
    pub async fn time(&self, target: NodeId, addr: &str, timeout: Duration) -> Result<u64, Status> {
        Ok(self.time_reply(target, addr, timeout).await?.unix_millis)
    }

    /// Asks node `target` at `addr` which data-dir incarnation it runs on (`None`: too old
    /// to say).
    pub async fn incarnation(
        &self,
        target: NodeId,
        addr: &str,
        timeout: Duration,
    ) -> Result<Option<uuid::Uuid>, Status> {
        let reply = self.time_reply(target, addr, timeout).await?;
        Ok(uuid::Uuid::from_slice(&reply.incarnation).ok())
    }

    /// The seq below which node `target` at `addr` still lacks audit batches the trail keeps
    /// (`None`: it holds them all, or is too old to say).
    pub async fn audit_missing_below(
        &self,
        target: NodeId,
        addr: &str,
        timeout: Duration,
    ) -> Result<Option<u64>, Status> {
        let reply = self.time_reply(target, addr, timeout).await?;
        Ok(Some(reply.audit_missing_below).filter(|&below| below > 0))
    }

    /// Asks node `target` at `addr` for its stored audit batches below seq `below`, newest
    /// first, about `max_bytes` of them (audit_backfill.rs).
    pub async fn audit_batches(
        &self,
        target: NodeId,
        addr: &str,
        below: u64,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Vec<(u64, Vec<u8>)>, Status> {
        let mut request = tonic::Request::new(AuditBatchesRequest {
            cluster: self.cluster.clone(),
            from: self.from,
            to: target,
            cluster_id: self.identity.wire_id(),
            below,
            max_bytes: max_bytes as u64,
        });
        request.set_timeout(timeout);
        let reply = self
            .client(target, addr)
            .map_err(Status::invalid_argument)?
            .audit_batches(request)
            .await?;
        let batches = reply.into_inner().batches;
        Ok(batches.into_iter().map(|b| (b.seq, b.data)).collect())
    }

    /// The `Time` RPC: node `target`'s wall clock and data-dir incarnation.
    async fn time_reply(
        &self,
        target: NodeId,
        addr: &str,
        timeout: Duration,
    ) -> Result<TimeReply, Status> {
        let mut request = tonic::Request::new(TimeRequest {
            cluster: self.cluster.clone(),
            from: self.from,
            to: target,
            cluster_id: self.identity.wire_id(),
        });
        request.set_timeout(timeout);
        let reply = self
            .client(target, addr)
            .map_err(Status::invalid_argument)?
            .time(request)
            .await;
        Ok(note(&self.peers, target, reply)?.into_inner())
    }

    /// Asks voter `target` at `addr` to campaign now: this leader (of `term`, whose log ends
    /// at `last_log_index`) is handing over (handover.rs).
    pub async fn timeout_now(
        &self,
        target: NodeId,
        addr: &str,
        term: u64,
        last_log_index: u64,
        timeout: Duration,
    ) -> Result<(), Status> {
        let mut request = tonic::Request::new(TimeoutNowRequest {
            cluster: self.cluster.clone(),
            from: self.from,
            term,
            last_log_index,
            to: target,
            cluster_id: self.identity.wire_id(),
        });
        request.set_timeout(timeout);
        self.client(target, addr)
            .map_err(Status::invalid_argument)?
            .timeout_now(request)
            .await?;
        Ok(())
    }

    /// Greets founding member `target` at `addr` before bootstrap, or (`probe`) asks the
    /// node at `addr` who it is (admission.rs).
    pub async fn hello(
        &self,
        target: NodeId,
        addr: &str,
        initial_cluster: String,
        probe: bool,
    ) -> Result<HelloReply, Status> {
        let mut request = tonic::Request::new(HelloRequest {
            cluster: self.cluster.clone(),
            node_id: self.from,
            initial_cluster,
            cluster_id: self.identity.wire_id(),
            key_check: self.identity.key_check().unwrap_or_default(),
            probe,
        });
        request.set_timeout(Duration::from_secs(2));
        let reply = self
            .client(target, addr)
            .map_err(Status::invalid_argument)?
            .hello(request)
            .await;
        Ok(note(&self.peers, target, reply)?.into_inner())
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerConnection {
        PeerConnection {
            target,
            client: self.client(target, &node.addr),
            cluster: self.cluster.clone(),
            from: self.from,
            peers: self.peers.clone(),
            identity: self.identity.clone(),
            refusals: self.refusals.clone(),
        }
    }
}

/// Records in `peers` whether `target` answered, and a removal hint if its answer carries
/// one; passes the reply on.
fn note<T>(
    peers: &Peers,
    target: NodeId,
    reply: Result<tonic::Response<T>, Status>,
) -> Result<tonic::Response<T>, Status> {
    match &reply {
        Ok(_) => peers.contact(target),
        Err(status) if unanswered(status) => peers.failure(target, &transport_error(status)),
        Err(status) => {
            peers.contact(target);
            if let Some(index) = crate::observe::removal_hint_of(status) {
                peers.hint_removed(RemovalHint { index, by: target });
            }
        }
    }
    reply
}

/// Whether a call failed without the peer answering it (transport failure or deadline).
fn unanswered(status: &Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled
    )
}

/// A transport failure with its causes (tonic's message alone is often just "transport
/// error"; the cause says "connection refused" or names a TLS problem).
fn transport_error(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// openraft's view of one peer.
pub struct PeerConnection {
    target: NodeId,
    /// `Err`: the peer's address cannot be connected to; every RPC reports it unreachable.
    client: Result<PeerClient<Channel>, String>,
    cluster: String,
    from: NodeId,
    peers: Arc<Peers>,
    identity: Arc<IdentityCell>,
    refusals: Arc<WarnLimiter>,
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl PeerConnection {
    /// Sends one Raft message and decodes the peer's `Result`. Transport failures make the
    /// peer `Unreachable` (openraft backs off); a peer's own error comes back as `RemoteError`.
    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        message: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned + std::error::Error,
    {
        let data =
            bincode::serialize(message).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(RaftRequest {
            cluster: self.cluster.clone(),
            data,
            from: self.from,
            to: self.target,
            cluster_id: self.identity.wire_id(),
        });
        request.set_timeout(option.hard_ttl());
        let client = self.client.as_mut().map_err(|e| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e.clone())))
        })?;
        let reply = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let reply = note(&self.peers, self.target, reply).map_err(|status| {
            // A peer that refuses this node (another cluster, another node at its address)
            // is said so here too, not only in the peer's log.
            if status.code() == tonic::Code::PermissionDenied {
                let (peer, reason) = (self.target, status.message());
                match self.refusals.allow() {
                    true => tracing::warn!(peer, reason, "a peer refused this node's message"),
                    false => tracing::debug!(peer, reason, "a peer refused this node's message"),
                }
            }
            rpc_error(status)
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            bincode::deserialize(&reply.into_inner().data)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// A failed call as openraft should see it. Only a peer that cannot be reached is
/// `Unreachable` (openraft then backs off for 500 ms); a call that ran out of time (an
/// AppendEntries may take longer than its heartbeat-sized deadline while the peer's disk
/// syncs) is an ordinary network error, retried with the next heartbeat. Backing off on
/// every slow sync stalled all writes for half a second whenever both followers' disks
/// hiccuped at once.
fn rpc_error<E: std::error::Error>(
    status: Status,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}
