//! The cluster's identity at run time: which cluster this node belongs to, by id rather than
//! by name, and whether it holds that cluster's domain key.
//!
//! The identity ([`trent_state::ClusterIdentity`]: a random id and the domain key's check
//! value) is recorded once in the replicated state by a leader ([`spawn_recorder`]): right
//! after a new cluster forms, or at the first start of a cluster formed before ids existed.
//! So every member's data dir and every snapshot holds it, and a node being added learns it
//! from the leader that adds it, by replication, like any record.
//!
//! What holds, once a node knows its cluster's id:
//! - every peer message carries the sender's cluster id; a message with another id is
//!   refused ("cluster id mismatch"), both ways, so a node restarted with another cluster's
//!   data dir (same name, same node id) never merges with this one. A message with none is
//!   let through: its sender has not applied the record yet (a follower forwarding a
//!   request, or a leader elected before it applied the record: refusing its appends would
//!   keep it from ever committing, and so from ever applying it);
//! - a snapshot of another cluster is refused;
//! - a node whose domain key's check value is not the recorded one stops ("domain key
//!   mismatch"): at start, before Raft runs, when the data dir recorded it; otherwise when it
//!   applies the record, before it can serve. A leader records its value only if a majority
//!   of voters report the same, so one node with a wrong key cannot impose it.
//!
//! A node that knows no id yet (new, or not caught up) accepts messages without checking
//! ids: it takes the id of the cluster that replicates to it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use trent_state::{ClusterIdentity, Command};
use uuid::Uuid;

use crate::node::ClusterNode;
use crate::Hooks;

/// This node's knowledge of its cluster's identity, shared by the state machine (which
/// learns it), the transport (which sends it) and the peer service (which checks it).
pub(crate) struct IdentityCell {
    id: OnceLock<Uuid>,
    /// The recorded key-check value this node found it holds (a migration changes it).
    key_checked: Mutex<Option<Vec<u8>>>,
    hooks: Hooks,
    /// Why this node must stop, once it knows (a mismatch found while applying).
    fatal: watch::Sender<Option<String>>,
}

impl IdentityCell {
    pub fn new(hooks: Hooks) -> Arc<IdentityCell> {
        Arc::new(IdentityCell {
            id: OnceLock::new(),
            key_checked: Mutex::new(None),
            hooks,
            fatal: watch::channel(None).0,
        })
    }

    pub fn id(&self) -> Option<Uuid> {
        self.id.get().copied()
    }

    /// The id as peer messages carry it: 16 bytes, or none.
    pub fn wire_id(&self) -> Vec<u8> {
        self.id()
            .map(|id| id.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// This node's domain key check value, once its HSM is loaded.
    pub fn key_check(&self) -> Option<Vec<u8>> {
        self.hooks.0.key_check_value()
    }

    /// Checks a peer message's cluster id against ours (see the module doc).
    pub fn check_message(&self, theirs: &[u8]) -> Result<(), String> {
        let Some(ours) = self.id() else {
            return Ok(());
        };
        match Uuid::from_slice(theirs) {
            _ if theirs.is_empty() => Ok(()),
            Ok(id) if id == ours => Ok(()),
            Ok(id) => Err(format!(
                "cluster id mismatch: this node belongs to cluster {ours}, the message comes \
                 from cluster {id} (a node started with another cluster's data dir?)"
            )),
            Err(_) => Err(format!(
                "cluster id mismatch: this node belongs to cluster {ours}, the message carries \
                 a malformed cluster id"
            )),
        }
    }

    /// Takes note of the identity the state holds (after an apply, an installed snapshot or
    /// at start): adopts its id if this node has none, and checks it against the id known
    /// and this node's domain key.
    pub fn learn(&self, recorded: Option<&ClusterIdentity>) -> Result<(), String> {
        let Some(recorded) = recorded else {
            return Ok(());
        };
        match self.id() {
            Some(ours) if ours != recorded.id => {
                return Err(format!(
                    "cluster id mismatch: this node belongs to cluster {ours}, but its state \
                     now names cluster {}",
                    recorded.id
                ))
            }
            Some(_) => {}
            None => {
                let _ = self.id.set(recorded.id);
                tracing::info!(cluster_id = %recorded.id, "this node belongs to cluster id");
            }
        }
        self.hooks.0.follow_recorded_key(&recorded.key_check);
        let mut checked = self.key_checked.lock().expect("key check lock");
        if checked.as_deref() == Some(recorded.key_check.as_slice()) {
            return Ok(());
        }
        match self.hooks.0.holds_key_check(&recorded.key_check) {
            None => Ok(()),
            Some(true) => {
                *checked = Some(recorded.key_check.clone());
                Ok(())
            }
            Some(false) => Err(format!(
                "domain key mismatch: this node's domain key is not the one cluster {} runs \
                 under (their key check values differ); start it with the cluster's domain key",
                recorded.id
            )),
        }
    }

    /// Stops the node for `reason`: [`ClusterNode::stopped`] answers it.
    pub fn fail(&self, reason: String) {
        tracing::error!(%reason, "this node stops");
        self.fatal.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(reason);
            }
            first
        });
    }

    /// Resolves with the reason once the node must stop.
    pub async fn stopped(&self) -> String {
        let mut rx = self.fatal.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How often a leader looks whether the cluster's identity still needs recording.
const RECORD_INTERVAL: Duration = Duration::from_millis(500);

/// On the leader, records the cluster's identity once the state holds none: a fresh random
/// id and this node's key check value, if a majority of voters report the same value. Ends
/// once an identity is recorded (or the node stops).
pub(crate) fn spawn_recorder(node: &ClusterNode) {
    let weak = node.downgrade();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RECORD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Said once, not every tick, while it stays the same.
        let mut waiting_for = String::new();
        loop {
            tick.tick().await;
            let Some(node) = weak.upgrade() else {
                return;
            };
            if node.read_local(|s| s.cluster_identity().is_some()) {
                return;
            }
            if !node.is_leader() || node.is_shut_down() {
                continue;
            }
            let Some(key_check) = node.identity().key_check() else {
                continue;
            };
            if let Err(reason) = node.voters_share_key_check(&key_check).await {
                if reason != waiting_for {
                    tracing::warn!(%reason, "not recording the cluster's identity yet");
                    waiting_for = reason;
                }
                continue;
            }
            let id = Uuid::new_v4();
            let identity = ClusterIdentity { id, key_check };
            let command = Command::SetClusterIdentity { identity };
            match node.write(Uuid::new_v4(), command).await {
                // A concurrent earlier record may have won: the state says which id holds.
                Ok(_) => tracing::info!(proposed = %id, "recorded the cluster's identity"),
                Err(e) => tracing::debug!(error = %e, "recording the cluster's identity"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Key(u8);
    impl trent_state::SealCheck for Key {
        fn verify_seal(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
            false
        }
    }
    impl crate::ApplyHooks for Key {
        fn key_removed(&self, _: trent_model::KeyId) {}
        fn key_check_value(&self) -> Option<Vec<u8>> {
            Some(vec![self.0; 32])
        }
    }

    fn cell(key: u8) -> Arc<IdentityCell> {
        IdentityCell::new(Hooks(Arc::new(Key(key))))
    }

    fn identity(id: u128, key: u8) -> ClusterIdentity {
        ClusterIdentity {
            id: Uuid::from_u128(id),
            key_check: vec![key; 32],
        }
    }

    #[test]
    fn a_node_without_an_id_accepts_any_then_only_its_own() {
        let cell = cell(1);
        cell.check_message(&[]).unwrap();
        cell.check_message(Uuid::from_u128(9).as_bytes()).unwrap();
        cell.learn(None).unwrap();
        cell.learn(Some(&identity(7, 1))).unwrap();
        assert_eq!(cell.wire_id(), Uuid::from_u128(7).as_bytes().to_vec());
        cell.check_message(Uuid::from_u128(7).as_bytes()).unwrap();
        // A sender that has not learned the id yet is let through (see the module doc).
        cell.check_message(&[]).unwrap();
        for theirs in [Uuid::from_u128(9).as_bytes().to_vec(), vec![1, 2]] {
            let err = cell.check_message(&theirs).unwrap_err();
            assert!(err.starts_with("cluster id mismatch"), "{err}");
        }
    }

    #[test]
    fn another_clusters_state_or_domain_key_is_refused() {
        let cell = cell(1);
        cell.learn(Some(&identity(7, 1))).unwrap();
        let err = cell.learn(Some(&identity(8, 1))).unwrap_err();
        assert!(err.starts_with("cluster id mismatch"), "{err}");
        let err = self::cell(2).learn(Some(&identity(7, 1))).unwrap_err();
        assert!(err.starts_with("domain key mismatch"), "{err}");
        assert!(!err.contains(&format!("{:?}", [1u8; 32])), "{err}");
    }

    /// A migrating node's hooks: it holds keys 1 and 2 and notes which one is recorded.
    struct Migrating(std::sync::Mutex<Vec<u8>>);
    impl trent_state::SealCheck for Migrating {
        fn verify_seal(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
            false
        }
    }
    impl crate::ApplyHooks for Migrating {
        fn key_removed(&self, _: trent_model::KeyId) {}
        fn holds_key_check(&self, key_check: &[u8]) -> Option<bool> {
            Some(key_check == [1; 32] || key_check == [2; 32])
        }
        fn follow_recorded_key(&self, recorded: &[u8]) {
            *self.0.lock().unwrap() = recorded.to_vec();
        }
    }

    #[test]
    fn a_switched_domain_key_is_checked_again() {
        // A node holding only the old key stops when the cluster switches.
        let old = cell(1);
        old.learn(Some(&identity(7, 1))).unwrap();
        let err = old.learn(Some(&identity(7, 2))).unwrap_err();
        assert!(err.starts_with("domain key mismatch"), "{err}");
        // A migrating node holds both, and follows the recorded one.
        let hooks = Arc::new(Migrating(Default::default()));
        let migrating = IdentityCell::new(Hooks(hooks.clone()));
        migrating.learn(Some(&identity(7, 1))).unwrap();
        assert_eq!(*hooks.0.lock().unwrap(), vec![1; 32]);
        migrating.learn(Some(&identity(7, 2))).unwrap();
        assert_eq!(*hooks.0.lock().unwrap(), vec![2; 32]);
        let err = migrating.learn(Some(&identity(7, 3))).unwrap_err();
        assert!(err.starts_with("domain key mismatch"), "{err}");
    }

    #[tokio::test]
    async fn the_first_failure_is_the_one_reported() {
        let cell = cell(1);
        cell.fail("first".into());
        cell.fail("second".into());
        assert_eq!(cell.stopped().await, "first");
    }
}
