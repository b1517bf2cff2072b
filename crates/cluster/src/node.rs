//! [`ClusterNode`]: one running Raft member and what upper layers do with it. Proposing
//! commands, passing the read barrier, reading the state; routing requests to the leader is
//! `node/routing.rs`'s.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, SnapshotPolicy};
use tokio::sync::oneshot;
use trent_state::{Command, Request, RequestId, Response, State};
use uuid::Uuid;

mod routing;

pub(crate) use routing::ForwardCounters;
pub use routing::{ForwardCounts, ForwardHandler};

use crate::barrier::ReadBarrier;
use crate::cluster_id::IdentityCell;
use crate::cluster_time::{ClusterTime, SAMPLE_INTERVAL};
use crate::incarnation::{VoteGate, CHECK_INTERVAL};
use crate::network::{Network, MAX_MESSAGE_BYTES};
use crate::peer_service::PeerService;
use crate::proposer::{Proposer, MAX_BATCH_BYTES};
use crate::proto::peer_server::PeerServer;
use crate::store::{self, SharedState};
use crate::{Clock, ClusterConfig, ClusterError, NodeId, Raft, StartError, SystemClock};

/// A reference to a node that does not keep it alive (background tasks hold one).
pub(crate) struct WeakNode(std::sync::Weak<Inner>);

impl WeakNode {
    pub fn upgrade(&self) -> Option<ClusterNode> {
        self.0.upgrade().map(|inner| ClusterNode { inner })
    }
}

/// A running cluster member. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClusterConfig,
    raft: Raft,
    state: SharedState,
    network: Network,
    barrier: Arc<ReadBarrier>,
    proposer: Proposer,
    /// Front-end handlers by channel (the first byte of a routed payload).
    handlers: RwLock<HashMap<u8, Arc<dyn ForwardHandler>>>,
    time: ClusterTime,
    /// A founding peer that greeted us with a different member list: (its id, its list).
    peer_mismatch: std::sync::Mutex<Option<(NodeId, String)>>,
    stop_peer_server: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    /// Last committed index + 1, 0 for none (kept by the log store).
    committed: Arc<AtomicU64>,
    forwards: ForwardCounters,
    /// Whether this data dir may vote (incarnation.rs).
    gate: Arc<VoteGate>,
    /// Which cluster this node belongs to, by id (cluster_id.rs).
    identity: Arc<IdentityCell>,
    /// This leader is handing over (handover.rs): it serves no request, so its log stops
    /// growing and its successor can catch up; the router waits for the new leader.
    handing_over: AtomicBool,
    /// Since when this node leads (handover.rs: it asks no successor before its vote is free).
    leadership: Arc<crate::handover::LeadershipClock>,
    /// Whether the store waits for disk space (store/disk.rs).
    disk: Arc<store::DiskHealth>,
    /// The stored audit trail (store/audit.rs).
    audit: store::AuditStore,
}

impl ClusterNode {
    /// Opens the data dir, starts Raft and the peer listener. A new cluster forms in
    /// [`ClusterNode::bootstrap`].
    pub async fn start(config: ClusterConfig) -> Result<ClusterNode, StartError> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`ClusterNode::start`] with the clock that stamps proposed requests.
    pub async fn start_with_clock(
        config: ClusterConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<ClusterNode, StartError> {
        config.validate().map_err(StartError::Config)?;
        let identity = IdentityCell::new(config.hooks.clone());
        let storage = store::open(
            &config.data_dir,
            &config.cluster_name,
            config.node_id,
            config.raft.wal_recycle_mb,
            config.hooks.clone(),
            identity.clone(),
        )?;
        let state = storage.state_machine.state();
        // What the data dir recorded, checked before Raft can vote (cluster_id.rs).
        identity
            .learn(state.read().expect("state lock").cluster_identity())
            .map_err(StartError::Identity)?;
        let committed = storage.log.committed_gauge();
        let disk = storage.disk.clone();
        let audit = storage.audit.clone();
        let sizes = storage.log.sizes();
        let gate = Arc::new(VoteGate::load(storage.log.db())?);
        let network = Network::new(
            config.cluster_name.clone(),
            config.node_id,
            identity.clone(),
            source_ip(&config),
            config.peer_tls.clone(),
        );
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config(&config)?),
            network.clone(),
            storage.log,
            storage.state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let listener = match config.serve_peers {
            false => None,
            true => Some(
                tokio::net::TcpListener::bind(config.peer_listen)
                    .await
                    .map_err(|source| StartError::Listen {
                        addr: config.peer_listen.to_string(),
                        source,
                    })?,
            ),
        };
        let tuning = &config.raft;
        let tolerance = Duration::from_millis(tuning.clock_tolerance_ms);
        let (lease, vote_quarantine) = if tuning.lease_reads {
            (
                Duration::from_millis(tuning.election_timeout_min_ms / 2),
                Duration::from_millis(tuning.election_timeout_max_ms),
            )
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        let barrier = ReadBarrier::spawn(raft.clone(), config.request_timeout, lease);
        let proposer = Proposer::spawn(raft.clone());
        crate::retention::spawn(
            raft.clone(),
            sizes,
            tuning.snapshot_after_log_mb << 20,
            tuning.logs_to_keep_mb << 20,
        );
        let (stop, stopped) = oneshot::channel();
        let node = ClusterNode {
            inner: Arc::new(Inner {
                config,
                raft,
                state,
                network,
                barrier,
                proposer,
                handlers: RwLock::default(),
                time: ClusterTime::new(clock, tolerance),
                peer_mismatch: std::sync::Mutex::new(None),
                stop_peer_server: std::sync::Mutex::new(Some(stop)),
                committed,
                forwards: ForwardCounters::default(),
                gate,
                identity,
                handing_over: AtomicBool::new(false),
                leadership: Arc::default(),
                disk,
                audit,
            }),
        };
        node.apply_gate();
        node.spawn_clock_sampler();
        crate::observe::spawn(&node);
        node.spawn_fatal_watch();
        node.spawn_periodic(CHECK_INTERVAL, |node| async move {
            node.check_incarnations().await
        });
        node.spawn_periodic(crate::audit_backfill::INTERVAL, |node| async move {
            node.backfill_audit().await
        });
        crate::cluster_id::spawn_recorder(&node);
        let service = PeerServer::new(PeerService {
            node: node.clone(),
            refusals: Default::default(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
        // openraft lets a node that just started grant votes at once, which could depose a
        // leader whose read lease counted on this node's promise not to (barrier.rs): serve
        // peers only once any such promise has run out.
        if let Some(listener) = listener {
            crate::listener::spawn(
                listener,
                service,
                node.inner.config.peer_tls.as_ref(),
                vote_quarantine,
                stopped,
            )
            .map_err(|e| StartError::Config(format!("peer TLS: {e}")))?;
        }
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.inner.config.node_id
    }
    pub fn cluster_name(&self) -> &str {
        &self.inner.config.cluster_name
    }
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }
    pub(crate) fn network(&self) -> &Network {
        &self.inner.network
    }
    pub(crate) fn identity(&self) -> &IdentityCell {
        &self.inner.identity
    }

    /// The cluster's id, once recorded (cluster_id.rs).
    pub fn cluster_id(&self) -> Option<Uuid> {
        self.inner.identity.id()
    }

    /// Checks this node's domain key against the one its data dir recorded, once the HSM is
    /// loaded (a development key arrives after start). `bootstrap` calls it.
    pub fn check_domain_key(&self) -> Result<(), StartError> {
        self.inner
            .identity
            .learn(self.read_local(|s| s.cluster_identity().cloned()).as_ref())
            .map_err(StartError::Identity)
    }

    /// Resolves with the reason once this node must stop: it found that it holds another
    /// domain key than its cluster, or that its state belongs to another cluster.
    pub async fn stopped(&self) -> String {
        self.inner.identity.stopped().await
    }

    pub(crate) fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    /// Whether [`ClusterNode::shutdown`] was called.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.inner
            .stop_peer_server
            .lock()
            .expect("stop lock")
            .is_none()
    }

    /// The last log index this node knows to be committed (saved by Raft), if any.
    pub fn committed_index(&self) -> Option<u64> {
        self.inner.committed.load(Ordering::Relaxed).checked_sub(1)
    }

    pub(crate) fn barrier(&self) -> &ReadBarrier {
        &self.inner.barrier
    }

    pub(crate) fn handing_over(&self) -> &AtomicBool {
        &self.inner.handing_over
    }

    pub(crate) fn leadership_clock(&self) -> &Arc<crate::handover::LeadershipClock> {
        &self.inner.leadership
    }

    /// Whether this node's store waits for disk space: it serves no client request meanwhile.
    /// The audit trail as this node stored it (its applied batches).
    pub fn audit_store(&self) -> &crate::store::AuditStore {
        &self.inner.audit
    }

    pub fn disk_full(&self) -> bool {
        self.inner.disk.full()
    }

    /// A Raft that stopped by itself (its storage failed, or it panicked) stops the node: a
    /// process that stays up without Raft would only answer errors (store/disk.rs).
    fn spawn_fatal_watch(&self) {
        let mut metrics = self.inner.raft.metrics();
        let identity = self.inner.identity.clone();
        tokio::spawn(async move {
            loop {
                let fatal = match &metrics.borrow_and_update().running_state {
                    Ok(()) => None,
                    Err(openraft::error::Fatal::Stopped) => return,
                    Err(fatal) => Some(fatal.to_string()),
                };
                if let Some(fatal) = fatal {
                    identity.fail(format!("raft stopped: {fatal}"));
                    return;
                }
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// How many times this node found its disk full since it started.
    pub fn disk_full_events(&self) -> u64 {
        self.inner.disk.full_events()
    }

    /// Whether this leader is handing over: client requests must wait for its successor.
    pub fn is_handing_over(&self) -> bool {
        self.inner.handing_over.load(Ordering::SeqCst)
    }

    /// The leader as this node last heard; may be stale.
    pub fn leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    pub(crate) fn cluster_time(&self) -> &ClusterTime {
        &self.inner.time
    }

    /// Reads the voters' clocks every [`SAMPLE_INTERVAL`] until the node shuts down, so that
    /// a node that becomes leader already knows majority time (cluster_time.rs).
    fn spawn_clock_sampler(&self) {
        self.spawn_periodic(
            SAMPLE_INTERVAL,
            |node| async move { node.sample_clocks().await },
        );
    }

    pub(crate) fn gate(&self) -> &Arc<VoteGate> {
        &self.inner.gate
    }

    /// Runs `tick` every `interval` until the node shuts down, without keeping it alive.
    fn spawn_periodic<F, Fut>(&self, interval: Duration, tick: F)
    where
        F: Fn(ClusterNode) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.stop_peer_server.lock().expect("stop lock").is_none() {
                    return;
                }
                tick(ClusterNode { inner }).await;
            }
        });
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.id())
    }

    /// Reads this node's state as it is, without a barrier: fast, possibly stale.
    pub fn read_local<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.read().expect("state lock"))
    }

    /// Reads the state after a linearizable read barrier: on the leader only, and reflecting
    /// every write acknowledged before this call.
    pub async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ClusterError> {
        if !barrier_skipped() {
            self.inner.barrier.wait().await?;
        }
        Ok(self.read_local(f))
    }

    /// Proposes `command` under the client request id `request_id` and waits until it is
    /// committed and applied. A request id applied before answers its first response again.
    /// Concurrent writes share log entries (`proposer.rs`).
    pub async fn write(
        &self,
        request_id: Uuid,
        command: Command,
    ) -> Result<Response, ClusterError> {
        let request = Request {
            id: RequestId(request_id),
            time: self.now().await?,
            command,
        };
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, self.inner.proposer.propose(request)).await {
            Err(_) => Err(ClusterError::Unavailable(
                "timed out waiting for a quorum to commit the write".into(),
            )),
            Ok(outcome) => outcome,
        }
    }

    pub(crate) fn member_addr(&self, id: NodeId) -> Option<String> {
        // Borrowed, not cloned: every forwarded request asks (peer_service.rs).
        let metrics = self.inner.raft.metrics();
        let addr = (metrics.borrow().membership_config.membership())
            .get_node(&id)
            .map(|n: &BasicNode| n.addr.clone());
        addr
    }

    /// Whether this node knows a membership at all (it belongs to a cluster, or is being
    /// added to one).
    pub(crate) fn has_members(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let has = (metrics.borrow().membership_config.membership())
            .nodes()
            .next()
            .is_some();
        has
    }

    /// Records that founding peer `peer` was started with `theirs` as its member list, unless
    /// this node already belongs to a formed cluster (then the newcomer alone is at fault).
    pub(crate) async fn note_peer_mismatch(&self, peer: NodeId, theirs: String) {
        if !self.inner.raft.is_initialized().await.unwrap_or(true) {
            *self.inner.peer_mismatch.lock().expect("mismatch lock") = Some((peer, theirs));
        }
    }

    pub(crate) fn take_peer_mismatch(&self) -> Option<(NodeId, String)> {
        self.inner
            .peer_mismatch
            .lock()
            .expect("mismatch lock")
            .take()
    }

    /// Stops Raft and the peer listener.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
        if let Some(stop) = self
            .inner
            .stop_peer_server
            .lock()
            .expect("stop lock")
            .take()
        {
            let _ = stop.send(());
        }
    }
}

pub(crate) fn write_error(
    e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
) -> ClusterError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ClusterError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ClusterError::Invalid(c.to_string())
        }
        RaftError::Fatal(f) => ClusterError::of_fatal(&f),
    }
}

/// Outgoing peer connections leave from the advertised address when this node listens on
/// that very IP, so peers (and firewalls) see one address per node.
fn source_ip(config: &ClusterConfig) -> Option<IpAddr> {
    let listen: SocketAddr = config.peer_listen;
    let advertised: SocketAddr = config.peer_advertise.parse().ok()?;
    (!listen.ip().is_unspecified() && listen.ip() == advertised.ip()).then_some(listen.ip())
}

fn raft_config(config: &ClusterConfig) -> Result<openraft::Config, StartError> {
    let t = &config.raft;
    openraft::Config {
        cluster_name: config.cluster_name.clone(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_timeout_min_ms,
        election_timeout_max: t.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_after_logs),
        max_in_snapshot_log_to_keep: t.logs_to_keep,
        snapshot_max_chunk_size: t.snapshot_chunk_bytes,
        install_snapshot_timeout: 10_000,
        // Each entry is a batch of up to MAX_BATCH_BYTES: bound one AppendEntries message
        // well below the transport's limit.
        max_payload_entries: (MAX_MESSAGE_BYTES as u64 / MAX_BATCH_BYTES / 2).max(1),
        ..Default::default()
    }
    .validate()
    .map_err(|e| StartError::Config(format!("raft: {e}")))
}

/// The `read-barrier-skip` fail point: true only in a `failpoints` build with it armed.
fn barrier_skipped() -> bool {
    fail::fail_point!("read-barrier-skip", |_| true);
    false
}
