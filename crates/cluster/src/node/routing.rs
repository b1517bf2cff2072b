//! Routing a front-end request to the leader: served on this node when it leads, otherwise
//! forwarded (peer RPC `Forward`) to the leader it knows, and asked again, with the same
//! request id, across leader changes until the request timeout. The front ends (the KMS
//! service, the admin API) hand their requests in through [`ClusterNode::route`] and serve
//! them on the leader through their [`ForwardHandler`].
//!
//! Guarantees: a request is served by at most one node per attempt, the one that believes it
//! leads; `NotLeader` and `Unavailable` answers are retried until the deadline (on the first
//! hop only: a forwarded request is not forwarded again); every copy of a payload made here
//! is zeroized when dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::ClusterNode;
use crate::{ClusterError, NodeId};

/// Serves requests that reach the leader, either directly or forwarded by a follower. The
/// front end implements it; the payload is whatever the front end encoded.
#[async_trait::async_trait]
pub trait ForwardHandler: Send + Sync + 'static {
    /// Answers a request on this node, which believes it is the leader. `Err(NotLeader)`
    /// means nothing was done and the request may go to the new leader.
    async fn handle(&self, request_id: Uuid, payload: Vec<u8>) -> Result<Vec<u8>, ClusterError>;
}

/// Requests this node forwarded to the leader (and how many of those attempts failed at the
/// transport or the leader's routing), and requests peers forwarded to it.
#[derive(Default)]
pub(crate) struct ForwardCounters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub received: AtomicU64,
}

/// A snapshot of [`ForwardCounters`], for metrics. Counts only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardCounts {
    pub sent: u64,
    pub failed: u64,
    pub received: u64,
}

impl ClusterNode {
    /// Installs the front end's handler for requests this node serves as leader.
    /// Several front ends (the admin API, the KMS service) share one node, each on its own
    /// `channel`; [`ClusterNode::route`] takes the channel the payload is for.
    pub fn set_forward_handler(&self, channel: u8, handler: Arc<dyn ForwardHandler>) {
        self.inner
            .handlers
            .write()
            .expect("handlers lock")
            .insert(channel, handler);
    }

    /// How many requests went through forwarding, both ways, since start.
    pub fn forward_counts(&self) -> ForwardCounts {
        let f = &self.inner.forwards;
        ForwardCounts {
            sent: f.sent.load(Ordering::Relaxed),
            failed: f.failed.load(Ordering::Relaxed),
            received: f.received.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn forward_counters(&self) -> &ForwardCounters {
        &self.inner.forwards
    }

    /// Routes a front-end request received from a client: served here if this node leads,
    /// otherwise forwarded to the leader, retried with the same request id across leader
    /// changes until the request timeout.
    /// Payloads may carry plaintexts (an Encrypt request): every copy made here is zeroized
    /// when dropped. (What tonic copies into its own buffers, it frees unzeroized.)
    pub async fn route(
        &self,
        channel: u8,
        request_id: Uuid,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, ClusterError> {
        let payload = Zeroizing::new(payload);
        let mut framed = Vec::with_capacity(1 + payload.len());
        framed.push(channel);
        framed.extend_from_slice(&payload);
        self.route_hop(request_id, 0, framed).await
    }

    pub(crate) async fn route_hop(
        &self,
        request_id: Uuid,
        hops: u32,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, ClusterError> {
        let payload = Zeroizing::new(payload);
        if self.disk_full() {
            // Its state falls behind while it waits for space: a client is better served by
            // another node at once (503 is retried) than by a timeout here.
            return Err(ClusterError::Unavailable(
                "this node's disk is full: it serves nothing until space returns".into(),
            ));
        }
        let deadline = Instant::now() + self.inner.config.request_timeout;
        loop {
            let leader = self.leader();
            let outcome = match leader {
                // Bounded by the request's deadline: a leader without a quorum must not hold
                // a request past it (its read barrier and clock reads wait on their own).
                Some(id) if id == self.id() => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::timeout(left, self.handle_here(request_id, &payload))
                        .await
                        .unwrap_or_else(|_| {
                            Err(ClusterError::Unavailable(
                                "no quorum within the request timeout".into(),
                            ))
                        })
                }
                Some(id) => {
                    self.forward_to(id, request_id, hops, payload.to_vec(), deadline)
                        .await
                }
                None => Err(ClusterError::NotLeader { leader: None }),
            };
            match outcome {
                Err(ClusterError::NotLeader { .. } | ClusterError::Unavailable(_))
                    if hops == 0 && Instant::now() < deadline =>
                {
                    self.await_leader_change(leader, deadline).await;
                }
                other => return other,
            }
        }
    }

    async fn handle_here(&self, request_id: Uuid, framed: &[u8]) -> Result<Vec<u8>, ClusterError> {
        let Some((&channel, payload)) = framed.split_first() else {
            return Err(ClusterError::Invalid("empty forwarded request".into()));
        };
        let handler = self
            .inner
            .handlers
            .read()
            .expect("handlers lock")
            .get(&channel)
            .cloned();
        match handler {
            Some(handler) => handler.handle(request_id, payload.to_vec()).await,
            None => Err(ClusterError::Unavailable(format!(
                "no handler for channel {channel} yet (node starting?)"
            ))),
        }
    }

    async fn forward_to(
        &self,
        leader: NodeId,
        request_id: Uuid,
        hops: u32,
        payload: Vec<u8>,
        deadline: Instant,
    ) -> Result<Vec<u8>, ClusterError> {
        let Some(addr) = self.member_addr(leader) else {
            return Err(ClusterError::NotLeader { leader: None });
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let forwards = &self.inner.forwards;
        forwards.sent.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .inner
            .network
            .forward(leader, &addr, request_id, hops, payload, remaining)
            .await;
        if reply.is_err() {
            forwards.failed.fetch_add(1, Ordering::Relaxed);
        }
        reply.map_err(error_of_status)
    }

    /// Waits (at most a short while) for a leader other than `tried`.
    async fn await_leader_change(&self, tried: Option<NodeId>, deadline: Instant) {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        let _ = self
            .inner
            .raft
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some() && m.current_leader != tried,
                "leader change",
            )
            .await;
    }
}

fn error_of_status(status: tonic::Status) -> ClusterError {
    use tonic::Code;
    match status.code() {
        Code::FailedPrecondition => ClusterError::NotLeader { leader: None },
        Code::InvalidArgument => ClusterError::Invalid(status.message().into()),
        Code::PermissionDenied => ClusterError::Fatal(status.message().into()),
        // The leader failed (its storage, or it stopped): a new leader will serve the retry.
        _ => ClusterError::Unavailable(format!("leader unreachable: {}", status.message())),
    }
}
