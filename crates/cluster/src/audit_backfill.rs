//! Audit backfill: a node restored from a snapshot fetches the audit batches before its tip
//! from its peers. Snapshots carry the state alone (store/audit.rs says why), so such a node
//! holds the chain's tip, and appends after it, but not the trail before it.
//!
//! Guarantees:
//! - Nothing a peer sends is stored unverified. The node walks down from what it holds: the
//!   batch just below its stored run must hash to the `prev` its lowest stored batch names
//!   (or, with none stored, to the tip's hash, which it applied through Raft); each batch
//!   fetched then names the hash the next one down must have. A batch that does not match is
//!   dropped with the rest of that answer, and the next peer is asked.
//! - The stored run never gets a hole (`AuditStore::fill`), and a batch retention pruned
//!   meanwhile is not brought back.
//! - Until the run reaches the trail's front, this node says so: `missing_below` is `Some`,
//!   the trail's readers answer 503 from it rather than a partial trail, and a membership
//!   change that would leave it as a holder waits (membership.rs). A backfill that cannot
//!   reach a peer tries again every [`INTERVAL`].

use std::time::Duration;

use trent_state::StoredBatch;

use crate::{ClusterNode, NodeId};

/// How often a node checks whether it lacks batches (and retries when no peer had them).
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);
/// About how many bytes of batches one answer carries.
pub(crate) const MAX_REPLY_BYTES: usize = 4 << 20;
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

impl ClusterNode {
    /// The seq below which this node lacks batches the trail keeps, if it lacks any.
    pub fn audit_missing_below(&self) -> Option<u64> {
        let tip = self.read_local(|s| s.audit_tip());
        self.audit_store().missing_below(&tip)
    }

    /// Fetches missing batches from the peers until none is missing or no peer has more.
    pub(crate) async fn backfill_audit(&self) {
        let Some(mut below) = self.audit_missing_below() else {
            return;
        };
        // Tests hold a node in the state between the install and the backfill.
        fail::fail_point!("audit-backfill-hold", |_| ());
        let start = below;
        tracing::info!(
            below,
            "fetching the audit batches this node lacks from its peers (restored from a snapshot)"
        );
        let fetched = || start.saturating_sub(self.audit_store().held_from());
        while let Some(now) = self.audit_missing_below() {
            below = now;
            if !self.backfill_step(below).await {
                tracing::info!(
                    below,
                    fetched = fetched(),
                    "audit backfill paused: no peer answered the next batches; trying again"
                );
                return;
            }
        }
        tracing::info!(fetched = fetched(), "audit trail complete");
    }

    /// Stores one verified answer of batches below `below` from the first peer that has
    /// them; answers whether anything was stored.
    async fn backfill_step(&self, below: u64) -> bool {
        let Some(mut expected) = self.hash_below(below) else {
            return false;
        };
        for (peer, addr) in self.peers_to_ask() {
            let asking =
                self.network()
                    .audit_batches(peer, &addr, below, MAX_REPLY_BYTES, ASK_TIMEOUT);
            let batches = match asking.await {
                Ok(batches) => batches,
                Err(status) => {
                    tracing::debug!(peer, error = %status.message(), "audit backfill: ask failed");
                    continue;
                }
            };
            let verified = verified_prefix(&batches, below, &mut expected, peer);
            if verified == 0 {
                continue;
            }
            let front = || self.read_local(|s| s.audit_tip().first_seq);
            match self.audit_store().fill(&batches[..verified], front).await {
                Ok(stored) if stored > 0 => return true,
                Ok(_) => return self.audit_missing_below() != Some(below),
                Err(e) => {
                    tracing::warn!(error = %e, "audit backfill: storing failed");
                    return false;
                }
            }
        }
        false
    }

    /// The hash batch `below - 1` must have: the `prev` of stored batch `below`, or the tip's
    /// hash when nothing from `below` on is stored yet.
    fn hash_below(&self, below: u64) -> Option<[u8; 32]> {
        let tip = self.read_local(|s| s.audit_tip());
        if below >= tip.next_seq {
            return Some(tip.hash);
        }
        match self.audit_store().batch(below) {
            Ok(Some(batch)) => Some(batch.prev),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "audit backfill: reading the stored trail failed");
                None
            }
        }
    }

    /// The other members with their addresses, voters first (they hold the whole log).
    fn peers_to_ask(&self) -> Vec<(NodeId, String)> {
        let me = self.id();
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let mut peers: Vec<(NodeId, String)> = membership
            .nodes()
            .filter(|(id, _)| **id != me)
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect();
        peers.sort_by_key(|(id, _)| !voters.contains(id));
        peers
    }
}

/// How many of `batches` (an answer for `below`) follow one another down from `below - 1`,
/// each hashing to what its successor names; `expected` moves past them.
fn verified_prefix(
    batches: &[(u64, Vec<u8>)],
    below: u64,
    expected: &mut [u8; 32],
    peer: NodeId,
) -> usize {
    let mut want = below;
    for (i, (seq, bytes)) in batches.iter().enumerate() {
        let ok = want
            .checked_sub(1)
            .filter(|w| w == seq)
            .and_then(|_| StoredBatch::decode(bytes).ok())
            .filter(|batch| batch.hash(*seq) == *expected);
        let Some(batch) = ok else {
            tracing::warn!(
                peer,
                seq,
                "audit backfill: a peer's batch does not hash to what its successor names; \
                 dropped, asking another peer"
            );
            return i;
        };
        *expected = batch.prev;
        want = *seq;
    }
    batches.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> (Vec<(u64, Vec<u8>)>, [u8; 32]) {
        let mut prev = [0u8; 32];
        let mut out = Vec::new();
        for seq in 0..n {
            let batch = StoredBatch {
                prev,
                time: seq,
                events: vec![format!("{{\"n\":{seq}}}")],
            };
            prev = batch.hash(seq);
            out.push((seq, batch.encode()));
        }
        (out, prev)
    }

    #[test]
    fn only_batches_that_hash_to_their_successors_link_pass() {
        let (batches, tip) = chain(5);
        let newest_first: Vec<_> = batches.iter().rev().cloned().collect();
        let mut expected = tip;
        assert_eq!(verified_prefix(&newest_first, 5, &mut expected, 9), 5);
        assert_eq!(expected, [0u8; 32]);

        // An edited event, a skipped seq, a batch for another place: the answer is cut there.
        let mut edited = newest_first.clone();
        let mut batch = StoredBatch::decode(&edited[2].1).unwrap();
        batch.events[0] = "{\"n\":99}".into();
        edited[2].1 = batch.encode();
        let mut expected = tip;
        assert_eq!(verified_prefix(&edited, 5, &mut expected, 9), 2);
        let mut skipped = newest_first.clone();
        skipped.remove(1);
        let mut expected = tip;
        assert_eq!(verified_prefix(&skipped, 5, &mut expected, 9), 1);
        let mut expected = tip;
        assert_eq!(verified_prefix(&newest_first, 6, &mut expected, 9), 0);
        let mut expected = [7; 32];
        assert_eq!(verified_prefix(&newest_first, 5, &mut expected, 9), 0);
        // Undecodable bytes.
        let mut garbage = newest_first;
        garbage[0].1 = vec![1, 2, 3];
        let mut expected = tip;
        assert_eq!(verified_prefix(&garbage, 5, &mut expected, 9), 0);
    }
}
