//! What the state machine asks of this node's HSM while it applies entries: whether a
//! backup's seal verifies (the restore commit) and, after a key record left the state (a
//! deletion, a restore, an installed snapshot), dropping the key from the HSM's cache of
//! unwrapped keys at once rather than whenever the LRU gets to it.

use std::fmt;
use std::sync::Arc;

use trent_model::KeyId;
use trent_state::{NoSealCheck, SealCheck};

/// Implemented over the node's HSM by the layer that owns it.
pub trait ApplyHooks: SealCheck {
    /// `key_id` is no longer in the state.
    fn key_removed(&self, key_id: KeyId);

    /// The key-check value of this node's domain key (`trent_hsm::Hsm::key_check_value`),
    /// opaque bytes; `None` while the HSM is not loaded yet. The cluster layer compares it
    /// with the one its cluster recorded (cluster_id.rs).
    fn key_check_value(&self) -> Option<Vec<u8>> {
        None
    }

    /// Whether this node's HSM holds the domain key whose check value is `key_check` (a
    /// migrating HSM holds two); `None` while the HSM is not loaded yet.
    fn holds_key_check(&self, key_check: &[u8]) -> Option<bool> {
        self.key_check_value().map(|ours| ours == key_check)
    }

    /// The key check value the state records now (at start, after an apply or a snapshot
    /// that may change it): a migrating HSM writes under the key it names.
    fn follow_recorded_key(&self, _recorded: &[u8]) {}

    /// The key check value this node's HSM would switch the cluster to (a migrating HSM's
    /// token), reported to a leader that asks before it switches.
    fn next_key_check_value(&self) -> Option<Vec<u8>> {
        None
    }
}

/// The hooks a node's state machine calls; by default none (no seal verifies).
#[derive(Clone)]
pub struct Hooks(pub Arc<dyn ApplyHooks>);

impl Default for Hooks {
    fn default() -> Hooks {
        Hooks(Arc::new(NoHooks))
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hooks")
    }
}

struct NoHooks;

impl SealCheck for NoHooks {
    fn verify_seal(&self, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool {
        NoSealCheck.verify_seal(purpose, data, seal)
    }
}

impl ApplyHooks for NoHooks {
    fn key_removed(&self, _: KeyId) {}
}
