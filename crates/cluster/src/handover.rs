//! Leadership handover: a leader that is shutting down makes a caught-up voter leader before
//! it exits, so a rolling restart costs clients no election timeout and no error.
//!
//! openraft 0.9 has no transfer API (0.10 adds `trigger().transfer_leader`), so this is
//! Raft's own recipe (the Raft thesis, 3.10) built from what 0.9 offers:
//!
//! 1. The leader stops serving client requests (`ClusterNode::is_handing_over`, checked by
//!    the API's leader-side handler; the router waits for the successor and retries there)
//!    and stops passing readers on its lease, so its log stops growing and it answers
//!    nothing from state a successor may already have changed.
//! 2. It waits until a voter has acknowledged its whole log (openraft's replication
//!    metrics), then sends that voter `TimeoutNow` (peer RPC) with its term and last index.
//! 3. The voter checks that the sender is the leader it follows in that term and that it
//!    holds that log, and campaigns at once (`trigger().elect()`, which skips the election
//!    timer). The old leader grants the vote: a candidate with its whole log and a higher
//!    term; the other followers refuse while their leader lease holds, which is why the old
//!    leader's own vote is the one that counts. With it the candidate has a majority.
//!
//! So the candidate wins with two votes, its own and the old leader's, which is a majority
//! of at most three voters only: in a larger cluster the followers' leases withhold the rest
//! (openraft 0.9's vote request carries no "leadership transfer" mark that would let them
//! set the lease aside, as 0.10's `transfer_leader` does), the campaign fails, and its higher
//! term deposes the leader until an election timeout (seen in 5-node chaos runs,
//! 2026-12-05). With more than three voters a stopping leader therefore skips the handover
//! (its followers elect a leader once it is gone, as before handovers existed), and
//! `TransferLeadership` is refused, saying why ([`HANDOVER_MAX_VOTERS`]).
//!
//! Safety rests on Raft's vote rules alone: a candidate wins only with a majority that
//! holds no log newer than its own, exactly as in any election. Liveness: an old leader
//! refuses votes during its first `election_timeout_max` as leader (openraft's lease check
//! applies to its own vote too), so it asks no voter before that window has passed
//! ([`LeadershipClock`]). Asked inside it, the voter's campaign would fail and, worse, its
//! higher term would depose the leader, leaving no leader until an election timeout; a
//! leader re-elected that way would ask again at once and fail the same way (seen under CI
//! load, 2026-12-05). A handover that does not finish within its time (no voter
//! caught up, the target unreachable) is abandoned: the node serves again until it exits,
//! and its followers elect a leader after it is gone.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use openraft::ServerState;
use tokio::time::Instant;

use crate::{ClusterError, ClusterNode, NodeId};

/// How long the leader waits for `TimeoutNow` to be answered.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// How long an operator's `TransferLeadership` may take before it is answered as failed.
const TRANSFER_WITHIN: Duration = Duration::from_secs(5);

/// The most voters a handover can win with (module doc): the candidate's vote and the old
/// leader's must be a majority.
pub(crate) const HANDOVER_MAX_VOTERS: usize = 3;

impl ClusterNode {
    /// Makes voter `target` the leader, by the same steps as a stopping leader's handover:
    /// what an operator asks before maintenance of the leader's machine (etcd's
    /// `move-leader`). Leader only; `Ok` at once when `target` is this node. Fails, and this
    /// node goes on leading, when `target` is not a voter or does not take over within
    /// [`TRANSFER_WITHIN`] (it lags, it is down, it may not vote).
    pub async fn transfer_leadership(&self, target: NodeId) -> Result<(), ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NotLeader {
                leader: self.leader(),
            });
        }
        if target == self.id() {
            return Ok(());
        }
        let (voters, _) = self.membership();
        if !voters.contains(&target) {
            return Err(ClusterError::Invalid(format!(
                "node {target} is not a voter of this cluster"
            )));
        }
        if voters.len() > HANDOVER_MAX_VOTERS {
            return Err(ClusterError::Invalid(format!(
                "moving the leader works in clusters of at most {HANDOVER_MAX_VOTERS} voters \
                 (this one has {}): the other followers' leader leases would refuse the \
                 target's votes; stop the leader instead (its followers elect a new one)",
                voters.len()
            )));
        }
        match self.handing_over_to(&[target], TRANSFER_WITHIN).await {
            Some(leader) if leader == target => Ok(()),
            Some(leader) => Err(ClusterError::Unavailable(format!(
                "node {leader} was elected instead of node {target}"
            ))),
            None => Err(ClusterError::Unavailable(format!(
                "node {target} did not take over within {} s (lagging, unreachable or not \
                 allowed to vote); node {} still leads",
                TRANSFER_WITHIN.as_secs(),
                self.id()
            ))),
        }
    }

    /// Hands leadership to a caught-up voter, taking at most `within`. Answers the new leader,
    /// or `None` when this node does not lead, is the only voter, or the handover did not
    /// finish in time (then this node goes on serving as leader while it still is one).
    pub async fn hand_over(&self, within: Duration) -> Option<NodeId> {
        if !self.is_leader() {
            return None;
        }
        let me = self.id();
        let voters: Vec<NodeId> = {
            let metrics = self.raft().metrics().borrow().clone();
            let membership = metrics.membership_config.membership();
            membership.voter_ids().filter(|&id| id != me).collect()
        };
        if voters.is_empty() {
            tracing::info!("leadership handover: no other voter, this node leads until it exits");
            return None;
        }
        if voters.len() + 1 > HANDOVER_MAX_VOTERS {
            tracing::info!(
                voters = voters.len() + 1,
                "leadership handover skipped: with more than {HANDOVER_MAX_VOTERS} voters the \
                 followers' leader leases refuse the successor's votes; they elect a leader \
                 once this node is gone"
            );
            return None;
        }
        self.handing_over_to(&voters, within).await
    }

    /// [`ClusterNode::hand_over_to`] with this node serving no request and passing no reader
    /// on its lease meanwhile (step 1 of the module doc), serving again afterwards.
    async fn handing_over_to(&self, voters: &[NodeId], within: Duration) -> Option<NodeId> {
        self.handing_over().store(true, Ordering::SeqCst);
        self.barrier().suspend_lease(true);
        let outcome = self.hand_over_to(voters, within).await;
        self.barrier().suspend_lease(false);
        self.handing_over().store(false, Ordering::SeqCst);
        outcome
    }

    async fn hand_over_to(&self, voters: &[NodeId], within: Duration) -> Option<NodeId> {
        let me = self.id();
        let started = Instant::now();
        let deadline = started + within;
        // A voter that campaigned but did not win is asked again (or another one) after an
        // election timeout.
        let ask_again = Duration::from_millis(self.config().raft.election_timeout_max_ms);
        let mut asked: Option<Instant> = None;
        // Voters are asked in turn: one that refuses (it just restarted, it lags) or that
        // campaigned without winning does not stop the next one from being asked.
        let mut next = 0;
        loop {
            let metrics = self.raft().metrics().borrow().clone();
            if let Some(leader) = metrics.current_leader.filter(|&l| l != me) {
                tracing::info!(
                    to = leader,
                    term = metrics.current_term,
                    took_ms = started.elapsed().as_millis() as u64,
                    "leadership handed over"
                );
                return Some(leader);
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    within_ms = within.as_millis() as u64,
                    "leadership handover did not finish in time; the followers will elect a leader after this node stops"
                );
                return None;
            }
            let due = asked.is_none_or(|at| at.elapsed() >= ask_again);
            let votes =
                self.leadership_clock()
                    .would_vote(metrics.current_term, ask_again, Instant::now());
            if metrics.state == ServerState::Leader && due && votes {
                let caught_up = |id: &NodeId| {
                    metrics.replication.as_ref().is_some_and(|progress| {
                        progress.get(id).is_some_and(|matched| {
                            matched.as_ref().map(|l| l.index) == metrics.last_log_index
                        })
                    })
                };
                let turn = (0..voters.len())
                    .map(|i| (next + i) % voters.len())
                    .find(|&i| caught_up(&voters[i]));
                if let Some(i) = turn {
                    next = i + 1;
                    let target = voters[i];
                    if let Some(addr) = self.member_addr(target) {
                        let (term, last) =
                            (metrics.current_term, metrics.last_log_index.unwrap_or(0));
                        let asking =
                            self.network()
                                .timeout_now(target, &addr, term, last, ASK_TIMEOUT);
                        match asking.await {
                            Ok(()) => asked = Some(Instant::now()),
                            Err(status) => tracing::info!(
                                to = target,
                                error = %status.message(),
                                "TimeoutNow refused; asking the next voter"
                            ),
                        }
                    }
                }
            }
            // Wake at a leader change, or soon to look at the followers' progress again.
            let _ = self
                .raft()
                .wait(Some(Duration::from_millis(20)))
                .metrics(
                    |m| m.current_leader.is_some_and(|l| l != me),
                    "a new leader",
                )
                .await;
        }
    }
}

/// When this node began to lead in its current term, as seen from Raft's metrics: the
/// handover may ask a voter to campaign only once this node's own vote is free again.
/// Fed by the metrics watcher (observe.rs), which already wakes at every change of Raft's
/// metrics.
#[derive(Default)]
pub(crate) struct LeadershipClock {
    since: Mutex<Option<(u64, Instant)>>,
}

impl LeadershipClock {
    /// Records the term this node leads in (`None`: it does not lead). The moment is the
    /// first time the term is seen, which is after openraft stamped the vote, so a window
    /// measured from it ends no earlier than openraft's.
    pub(crate) fn observe(&self, leading: Option<u64>, now: Instant) {
        let mut since = self.since.lock().expect("leadership clock");
        match (leading, *since) {
            (Some(term), Some((seen, _))) if term == seen => {}
            (Some(term), _) => *since = Some((term, now)),
            (None, _) => *since = None,
        }
    }

    /// Whether this node, leading in `term`, has at `now` led it for longer than `lease`
    /// (openraft's leader lease, `election_timeout_max`), so that it would grant a successor
    /// its vote (openraft refuses while `now <= voted + lease`).
    pub(crate) fn would_vote(&self, term: u64, lease: Duration, now: Instant) -> bool {
        let since = *self.since.lock().expect("leadership clock");
        since.is_some_and(|(seen, at)| seen == term && now > at + lease)
    }
}

/// Campaigns now because `from`, the leader this node follows in `term`, is handing over and
/// this node holds its log up to `last_log_index`. Anything else is refused: a stale or
/// foreign request must not start an election.
pub(crate) async fn campaign(
    node: &ClusterNode,
    from: NodeId,
    term: u64,
    last_log_index: u64,
) -> Result<(), String> {
    let metrics = node.raft().metrics().borrow().clone();
    if metrics.current_leader != Some(from) || metrics.current_term != term {
        return Err(format!(
            "node {from} is not this node's leader in term {term} (leader {:?}, term {})",
            metrics.current_leader, metrics.current_term
        ));
    }
    if metrics.last_log_index.unwrap_or(0) < last_log_index {
        return Err(format!(
            "this node's log ends at {:?}, before the leader's {last_log_index}",
            metrics.last_log_index
        ));
    }
    let membership = metrics.membership_config.membership();
    if !membership.voter_ids().any(|id| id == node.id()) {
        return Err("this node is not a voter".into());
    }
    // `trigger().elect()` ignores the runtime elections switch: a node that may not vote
    // (wiped data dir, incarnation.rs) or knows it was removed (observe.rs) says no here.
    if let Some(reason) = node.vote_refusal() {
        return Err(reason);
    }
    if node.is_removed() {
        return Err("this node was removed from the cluster".into());
    }
    node.raft()
        .trigger()
        .elect()
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(from, term, "the leader is handing over: campaigning now");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_millis(400);

    #[test]
    fn a_leader_would_vote_only_after_its_first_lease_in_the_term() {
        let clock = LeadershipClock::default();
        let t0 = Instant::now();
        assert!(!clock.would_vote(3, LEASE, t0 + LEASE * 10), "never led");
        clock.observe(Some(3), t0);
        assert!(!clock.would_vote(3, LEASE, t0));
        assert!(
            !clock.would_vote(3, LEASE, t0 + LEASE),
            "openraft refuses at the edge"
        );
        assert!(clock.would_vote(3, LEASE, t0 + LEASE * 2));
        // Seeing the same term again does not restart the window.
        clock.observe(Some(3), t0 + LEASE * 2);
        assert!(clock.would_vote(3, LEASE, t0 + LEASE + Duration::from_millis(1)));
        // Another term is another election: its window starts when it is seen.
        assert!(
            !clock.would_vote(4, LEASE, t0 + LEASE * 10),
            "not leading term 4"
        );
        clock.observe(Some(4), t0 + LEASE * 3);
        assert!(!clock.would_vote(4, LEASE, t0 + LEASE * 4));
        assert!(clock.would_vote(4, LEASE, t0 + LEASE * 5));
        // A node that stopped leading forgets when it led.
        clock.observe(None, t0 + LEASE * 6);
        assert!(!clock.would_vote(4, LEASE, t0 + LEASE * 10));
    }
}
