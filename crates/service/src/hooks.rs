//! The state machine's hooks ([`trent_cluster::ApplyHooks`]) over the node's HSM: backup seals
//! verified under the domain key in `apply`, deleted keys dropped from the HSM's cache.
//!
//! The HSM may be set after the node starts (a development domain key is generated into the
//! data dir, which the node creates): until then a seal check waits for it, so a restore
//! commit replayed at start is judged by the domain key like every other, never refused for
//! want of an HSM (replicas must agree). A key removed before then was in no cache.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use trent_cluster::{ApplyHooks, Hooks};
use trent_hsm::Hsm;
use trent_model::KeyId;
use trent_state::SealCheck;

/// How long a seal check waits for the HSM before the node gives up (it exits then: a node
/// that cannot load its domain key does not run).
const HSM_WAIT: Duration = Duration::from_secs(60);

/// Hooks over an HSM that may arrive after the node starts.
#[derive(Default)]
pub struct HsmHooks {
    hsm: Mutex<Option<Arc<dyn Hsm>>>,
    set: Condvar,
    /// The key check value the state records, for an HSM that arrives after it was learned.
    recorded: Mutex<Option<Vec<u8>>>,
}

impl HsmHooks {
    /// Hooks over `hsm`, ready at once.
    pub fn new(hsm: Arc<dyn Hsm>) -> Arc<HsmHooks> {
        let hooks = Arc::new(HsmHooks::default());
        hooks.set(hsm);
        hooks
    }

    /// Hands the HSM over (once it is loaded).
    pub fn set(&self, hsm: Arc<dyn Hsm>) {
        // Under the recorded value's lock, as `follow_recorded_key` sets it: the HSM hears the
        // last value either way.
        let recorded = self.recorded.lock().expect("hooks lock");
        if let Some(recorded) = recorded.as_deref() {
            hsm.follow_recorded_key(recorded);
        }
        *self.hsm.lock().expect("hooks lock") = Some(hsm);
        drop(recorded);
        self.set.notify_all();
    }

    /// The hooks for a [`trent_cluster::ClusterConfig`].
    pub fn hooks(self: &Arc<Self>) -> Hooks {
        Hooks(self.clone())
    }

    fn hsm(&self) -> Option<Arc<dyn Hsm>> {
        self.hsm.lock().expect("hooks lock").clone()
    }
}

impl SealCheck for HsmHooks {
    fn verify_seal(&self, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool {
        let guard = self.hsm.lock().expect("hooks lock");
        let (guard, _) = self
            .set
            .wait_timeout_while(guard, HSM_WAIT, |hsm| hsm.is_none())
            .expect("hooks lock");
        let hsm = match guard.as_ref() {
            Some(hsm) => hsm.clone(),
            None => panic!("no HSM {HSM_WAIT:?} after start: cannot check a backup's seal"),
        };
        drop(guard);
        let verified = verify_while_the_hsm_fails(hsm.as_ref(), purpose, data, seal);
        if !verified {
            // Refused on every node that holds the cluster's domain key. A node holding
            // another key would refuse what the others apply: say so where it shows.
            tracing::warn!(
                "a restore commit's backup seal does not verify under this node's domain key; \
                 the restore is refused (every node of a cluster must hold the same domain key)"
            );
        }
        verified
    }
}

/// The seal's check, waiting while the HSM cannot tell (a failed PKCS#11 token, which the
/// node's health check reopens): a replica must judge a restore as its peers do, so it never
/// turns "cannot check" into "refused". After [`HSM_WAIT`] the node stops, as one that cannot
/// load its domain key does.
fn verify_while_the_hsm_fails(hsm: &dyn Hsm, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool {
    let deadline = std::time::Instant::now() + HSM_WAIT;
    loop {
        match hsm.verify_domain_mac(purpose, data, seal) {
            Ok(verified) => return verified,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "waiting for the HSM to check a backup's seal");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("the HSM could not check a backup's seal for {HSM_WAIT:?}: {e}"),
        }
    }
}

impl ApplyHooks for HsmHooks {
    fn key_removed(&self, key_id: KeyId) {
        if let Some(hsm) = self.hsm() {
            hsm.forget_key(key_id);
        }
    }

    fn key_check_value(&self) -> Option<Vec<u8>> {
        self.hsm().map(|hsm| hsm.key_check_value().to_vec())
    }

    fn holds_key_check(&self, key_check: &[u8]) -> Option<bool> {
        self.hsm().map(|hsm| hsm.holds_key_check(key_check))
    }

    fn follow_recorded_key(&self, recorded: &[u8]) {
        let mut remembered = self.recorded.lock().expect("hooks lock");
        if remembered.as_deref() != Some(recorded) {
            *remembered = Some(recorded.to_vec());
        }
        if let Some(hsm) = self.hsm() {
            hsm.follow_recorded_key(recorded);
        }
    }

    fn next_key_check_value(&self) -> Option<Vec<u8>> {
        self.hsm()?.next_key_check_value().map(|k| k.to_vec())
    }
}
