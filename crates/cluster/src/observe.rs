//! What a node tells its operator about the cluster, and what it does once removed.
//!
//! A watcher task follows openraft's metrics and logs one INFO line per event: the leader
//! changed (with the term), a node joined as a learner, became a voter, or was removed, or
//! the membership changed otherwise. Joint configurations are not events of their own: the
//! voters are the union of the joint halves, so adding a voter is logged when the joint
//! configuration appears and removing one when the final configuration drops it.
//!
//! A removed node must stop campaigning: openraft only stops a node from calling elections
//! when the node *knows* its removal, and a voter removed in a joint change often never
//! receives the final configuration (the leader stops replicating to it). So members that
//! refuse a message from a non-member attach a *removal hint* to the refusal (the index of
//! their applied membership entry that leaves the sender out; peer_service.rs), and a node
//! that gets a hint newer than its own membership entry (or whose own membership leaves it
//! out) logs once that it was removed, turns off its elections and reports the state
//! `Removed`. A membership that names it again (it was added back) turns elections on.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use openraft::RaftMetrics;
use tonic::Status;

use crate::node::ClusterNode;
use crate::{NodeId, Raft};

/// The gRPC metadata key of a removal hint: the index of the responder's membership entry.
const REMOVED_AT: &str = "trent-removed-at";

/// The removal hint `status` carries, if any.
pub(crate) fn removal_hint_of(status: &Status) -> Option<u64> {
    status
        .metadata()
        .get(REMOVED_AT)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Adds a removal hint to `status` (a refusal of a message from `from`) when this node's
/// membership is applied (so committed) and leaves `from` out.
pub(crate) fn hint_removal(node: &ClusterNode, from: NodeId, status: &mut Status) {
    let metrics = node.raft().metrics();
    let m = metrics.borrow();
    let Some(log_id) = *m.membership_config.log_id() else {
        return;
    };
    let applied = m.last_applied.is_some_and(|a| a.index >= log_id.index);
    if applied && m.membership_config.membership().get_node(&from).is_none() {
        if let Ok(value) = log_id.index.to_string().parse() {
            status.metadata_mut().insert(REMOVED_AT, value);
        }
    }
}

/// The membership as the watcher compares it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Members {
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
}

impl Members {
    fn of(membership: &openraft::Membership<NodeId, openraft::BasicNode>) -> Members {
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| !voters.contains(id))
            .collect();
        Members { voters, learners }
    }

    fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }
}

/// Starts the watcher of `node`; it ends when Raft shuts down.
pub(crate) fn spawn(node: &ClusterNode) {
    let raft: Raft = node.raft().clone();
    let peers = node.network().peers().clone();
    let gate = node.gate().clone();
    let me = node.id();
    let leadership = node.leadership_clock().clone();
    tokio::spawn(async move {
        let mut metrics = raft.metrics();
        let mut leader: Option<NodeId> = None;
        // The membership entry last looked at, and what it said.
        let mut seen: Option<(Option<u64>, Members)> = None;
        let mut hinted = false;
        loop {
            // Metrics change with every append: only the cheap fields are read each time.
            let (now_leader, term, config, leading) = {
                let m = metrics.borrow_and_update();
                (
                    m.current_leader,
                    m.current_term,
                    m.membership_config.clone(),
                    m.state == openraft::ServerState::Leader,
                )
            };
            // When this node began to lead (handover.rs waits out its first lease).
            leadership.observe(leading.then_some(term), tokio::time::Instant::now());
            if now_leader.is_some() && now_leader != leader {
                tracing::info!(
                    leader = now_leader,
                    term,
                    previous = leader,
                    "leader changed"
                );
                leader = now_leader;
            }
            let index = config.log_id().map(|l| l.index);
            let changed = seen.as_ref().is_none_or(|(i, _)| *i != index);
            if changed || hinted {
                let now = Members::of(config.membership());
                match &seen {
                    None if !now.voters.is_empty() => tracing::info!(
                        voters = ?now.voters,
                        learners = ?now.learners,
                        "membership at start"
                    ),
                    Some((_, before)) if before.voters.is_empty() && !now.voters.is_empty() => {
                        tracing::info!(
                            voters = ?now.voters,
                            learners = ?now.learners,
                            "membership received (the cluster formed, or this node joined it)"
                        )
                    }
                    Some((_, before)) if *before != now => log_change(before, &now),
                    _ => {}
                }
                peers.retain(|id| now.contains(id));
                judge_removal(&raft, &peers, &gate, me, index, &now);
                seen = Some((index, now));
            }
            hinted = tokio::select! {
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    false
                }
                _ = peers.hinted.notified() => true,
            };
        }
    });
}

/// One line for one membership change.
fn log_change(before: &Members, now: &Members) {
    let joined: Vec<NodeId> = now
        .voters
        .union(&now.learners)
        .filter(|id| !before.contains(**id))
        .copied()
        .collect();
    let removed: Vec<NodeId> = before
        .voters
        .union(&before.learners)
        .filter(|id| !now.contains(**id))
        .copied()
        .collect();
    let promoted: Vec<NodeId> = now
        .voters
        .iter()
        .filter(|id| before.learners.contains(id))
        .copied()
        .collect();
    let (voters, learners) = (&now.voters, &now.learners);
    match (&joined[..], &removed[..], &promoted[..]) {
        ([node], [], []) if learners.contains(node) => {
            tracing::info!(
                node,
                ?voters,
                ?learners,
                "node joined the cluster as a learner"
            )
        }
        // The metrics watch keeps only the latest state: a learner may be seen first as a
        // voter already.
        ([node], [], []) => {
            tracing::info!(
                node,
                ?voters,
                ?learners,
                "node joined the cluster as a voter"
            )
        }
        ([], [node], []) => {
            tracing::info!(node, ?voters, ?learners, "node removed from the cluster")
        }
        ([], [], [node]) => tracing::info!(node, ?voters, ?learners, "node became a voter"),
        _ => tracing::info!(?voters, ?learners, ?joined, ?removed, "membership changed"),
    }
}

/// Decides whether this node was removed (its membership entry is at `own_index`), and
/// acts on a change of that verdict.
fn judge_removal(
    raft: &Raft,
    peers: &crate::peers::Peers,
    gate: &crate::incarnation::VoteGate,
    me: NodeId,
    own_index: Option<u64>,
    members: &Members,
) {
    let left_out = !members.voters.is_empty() && !members.contains(me);
    let hint = peers
        .removal_hint()
        .filter(|h| own_index.is_none_or(|own| h.index > own) && members.contains(me));
    let removed = left_out || hint.is_some();
    if peers.removed.swap(removed, Ordering::SeqCst) == removed {
        return;
    }
    // A wiped node (incarnation.rs) stays out of elections whatever its membership says.
    raft.runtime_config().elect(!removed && gate.votes());
    if removed {
        tracing::warn!(
            by = hint.map(|h| h.by),
            membership_index = hint.map(|h| h.index).or(own_index),
            "this node was removed from the cluster: it no longer campaigns for leadership \
             (stop it, or add it back with add-node)"
        );
    } else {
        tracing::info!("this node is a member of the cluster again: elections are on");
    }
}

impl ClusterNode {
    /// Whether this node knows it was removed from the cluster (it no longer campaigns).
    pub fn is_removed(&self) -> bool {
        self.network().peers().removed.load(Ordering::SeqCst)
    }
}

/// Fills in `member`'s liveness as this node sees it; the replication lag only on the
/// leader (the only node that knows what its followers hold).
pub(crate) fn liveness(
    node: &ClusterNode,
    m: &RaftMetrics<NodeId, openraft::BasicNode>,
    member: &mut trent_model::MemberStatus,
) {
    if m.replication.is_some() {
        let last = m.last_log_index.unwrap_or(0);
        member.lag = Some(last.saturating_sub(member.matched.unwrap_or(0)));
    }
    if member.id == node.id() {
        return;
    }
    let seen = node.network().peers().get(member.id);
    member.last_contact_ms = seen.last_contact.map(|t| t.elapsed().as_millis() as u64);
    let heard_of = seen.last_contact.is_some() || seen.error.is_some();
    member.reachable = heard_of.then_some(!seen.unreachable);
    member.error = seen.error.filter(|_| seen.unreachable);
}
