//! Peer liveness as this node sees it: when each peer last answered a call of ours (Raft
//! RPCs, clock readings, forwarding, greetings), and whether it is reachable.
//!
//! Every node reads its voters' clocks once a second (cluster_time.rs) and the leader sends
//! heartbeats to every member, so each node knows its voters' liveness and the leader knows
//! everyone's. A peer turns *unreachable* once every call to it has failed for
//! [`UNREACHABLE_AFTER`]; the change is logged once each way (warn, then info when it
//! answers again), which replaces openraft's line per failed heartbeat as the operator's
//! signal (those are rate-limited by trentd's log filter).
//!
//! A peer's answer may also say that this node was removed from the cluster (a removal
//! hint, observe.rs); it is kept here for the node's watcher to judge.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::NodeId;

/// See [`trent_model::UNREACHABLE_AFTER_MS`].
pub(crate) const UNREACHABLE_AFTER: Duration =
    Duration::from_millis(trent_model::UNREACHABLE_AFTER_MS);

/// One peer, as this node last heard from it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSeen {
    pub last_contact: Option<Instant>,
    /// The first failed call since the last answer.
    failing_since: Option<Instant>,
    pub unreachable: bool,
    pub error: Option<String>,
}

/// A peer's report that this node is no longer a member: the index of the (applied)
/// membership entry that left it out, and who said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RemovalHint {
    pub index: u64,
    pub by: NodeId,
}

/// Shared by the network (which records) and the node (which reports).
#[derive(Default)]
pub(crate) struct Peers {
    seen: Mutex<HashMap<NodeId, PeerSeen>>,
    removal: Mutex<Option<RemovalHint>>,
    /// Wakes the node's watcher when a removal hint arrives.
    pub(crate) hinted: tokio::sync::Notify,
    /// The watcher's verdict: this node was removed from the cluster (observe.rs).
    pub(crate) removed: std::sync::atomic::AtomicBool,
}

impl Peers {
    /// `peer` answered a call.
    pub(crate) fn contact(&self, peer: NodeId) {
        let now = Instant::now();
        let mut seen = self.seen.lock().expect("peers lock");
        let p = seen.entry(peer).or_default();
        if p.unreachable {
            let down = p.failing_since.map(|t| now - t).unwrap_or_default();
            tracing::info!(
                peer,
                down_ms = down.as_millis() as u64,
                "peer reachable again"
            );
        }
        p.last_contact = Some(now);
        p.failing_since = None;
        p.unreachable = false;
        p.error = None;
    }

    /// A call to `peer` failed at the transport (no answer).
    pub(crate) fn failure(&self, peer: NodeId, error: &str) {
        self.failure_at(peer, error, Instant::now());
    }

    fn failure_at(&self, peer: NodeId, error: &str, now: Instant) {
        let mut seen = self.seen.lock().expect("peers lock");
        let p = seen.entry(peer).or_default();
        let since = *p.failing_since.get_or_insert(now);
        p.error = Some(error.to_owned());
        if !p.unreachable && now - since >= UNREACHABLE_AFTER {
            p.unreachable = true;
            let last_contact_ms = p.last_contact.map(|t| (now - t).as_millis() as u64);
            tracing::warn!(
                peer,
                last_contact_ms,
                error,
                hint = crate::mismatch::client_hint(error),
                "peer unreachable"
            );
        }
    }

    /// What this node knows of `peer`.
    pub(crate) fn get(&self, peer: NodeId) -> PeerSeen {
        let seen = self.seen.lock().expect("peers lock");
        seen.get(&peer).cloned().unwrap_or_default()
    }

    /// Forgets peers that are no longer members.
    pub(crate) fn retain(&self, keep: impl Fn(NodeId) -> bool) {
        self.seen
            .lock()
            .expect("peers lock")
            .retain(|id, _| keep(*id));
    }

    pub(crate) fn hint_removed(&self, hint: RemovalHint) {
        let mut removal = self.removal.lock().expect("removal lock");
        if removal.is_none_or(|h| h.index < hint.index) {
            *removal = Some(hint);
            self.hinted.notify_one();
        }
    }

    pub(crate) fn removal_hint(&self) -> Option<RemovalHint> {
        *self.removal.lock().expect("removal lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_turns_unreachable_only_after_failing_for_a_while() {
        let peers = Peers::default();
        peers.contact(2);
        let now = Instant::now();
        peers.failure_at(2, "connection refused", now);
        assert!(!peers.get(2).unreachable, "one failure is no outage");
        peers.failure_at(2, "connection refused", now + UNREACHABLE_AFTER / 2);
        assert!(!peers.get(2).unreachable);
        peers.failure_at(2, "connection refused", now + UNREACHABLE_AFTER);
        let p = peers.get(2);
        assert!(p.unreachable);
        assert_eq!(p.error.as_deref(), Some("connection refused"));
        peers.contact(2);
        let p = peers.get(2);
        assert!(!p.unreachable && p.error.is_none());
    }

    #[test]
    fn only_a_newer_removal_hint_replaces_one() {
        let peers = Peers::default();
        peers.hint_removed(RemovalHint { index: 9, by: 1 });
        peers.hint_removed(RemovalHint { index: 7, by: 3 });
        assert_eq!(peers.removal_hint(), Some(RemovalHint { index: 9, by: 1 }));
    }
}
