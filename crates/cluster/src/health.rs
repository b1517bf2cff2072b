//! Whether a leader can still serve: the truth behind `/readyz` and the leadership metrics.
//!
//! An openraft 0.9 leader cut off from its quorum keeps believing it leads (no CheckQuorum),
//! so "I am the leader" alone made an isolated or stranded leader report itself ready while
//! every request waited for a quorum round that could not finish. openraft does track when a
//! quorum last acknowledged the leader (`millis_since_quorum_ack`, refreshed every tick,
//! 1.5 heartbeats); a leader whose last acknowledgement is older than `election_timeout_max`
//! has lost its quorum as far as anyone can tell: by then its followers' leader leases have
//! run out and, if they are alive, they are electing someone else. Guarantee: a leader
//! without a quorum reports itself unable to serve within `election_timeout_max` plus one
//! tick of its last acknowledgement.

use std::time::Duration;

use openraft::ServerState;

use crate::ClusterNode;

impl ClusterNode {
    /// Whether this node leads and a quorum acknowledged it within the election timeout.
    pub fn leads_with_quorum(&self) -> bool {
        let bound = self.config().raft.election_timeout_max_ms;
        let metrics = self.raft().metrics().borrow().clone();
        metrics.state == ServerState::Leader
            && metrics.current_leader == Some(self.id())
            && quorum_fresh(metrics.millis_since_quorum_ack, bound)
    }

    /// How long ago a quorum last acknowledged this leader; `None` on a follower or a leader
    /// no quorum has acknowledged yet.
    pub fn quorum_ack_age(&self) -> Option<Duration> {
        let metrics = self.raft().metrics().borrow().clone();
        (metrics.state == ServerState::Leader)
            .then_some(metrics.millis_since_quorum_ack)
            .flatten()
            .map(Duration::from_millis)
    }
}

/// A quorum acknowledgement `age_ms` ago (none: never) is fresh within `bound_ms`.
fn quorum_fresh(age_ms: Option<u64>, bound_ms: u64) -> bool {
    age_ms.is_some_and(|age| age <= bound_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_acknowledgement_is_fresh_only_within_the_bound() {
        assert!(quorum_fresh(Some(0), 400));
        assert!(quorum_fresh(Some(400), 400));
        assert!(!quorum_fresh(Some(401), 400));
        assert!(!quorum_fresh(None, 400), "never acknowledged: not serving");
    }
}
