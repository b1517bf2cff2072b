//! Watches the HSM (issue 26): a PKCS#11 token that fails (the module erroring, the token
//! removed or logged out) turns the node unready with the token's reason, and a leader with
//! such a token hands leadership to a voter, since crypto runs only on the leader; when the
//! token answers again, the node is ready again.
//!
//! Guarantees: the check runs once a second off the async runtime (a hung token stalls only
//! the check); `/readyz` answers 503 with `"hsm": <reason>` from the first failed check until
//! a check passes; a leader whose token fails asks for a handover after every failed check,
//! so leadership leaves it within seconds when a voter with a working token is caught up.
//! The soft backend has nothing to fail and is always healthy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trent_cluster::ClusterNode;
use trent_hsm::Hsm;

/// How often the token is asked.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long a handover away from a failed token may take.
const HANDOVER_WITHIN: Duration = Duration::from_secs(5);

/// Why the HSM cannot serve, while it cannot.
#[derive(Clone, Default)]
pub struct HsmHealth {
    failure: Arc<Mutex<Option<String>>>,
}

impl HsmHealth {
    /// The current failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("hsm health lock").clone()
    }

    /// Checks `hsm` every second for as long as the process runs.
    pub fn watch(node: ClusterNode, hsm: Arc<dyn Hsm>) -> HsmHealth {
        let health = HsmHealth::default();
        let watched = health.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(INTERVAL).await;
                let hsm = hsm.clone();
                let checked = tokio::task::spawn_blocking(move || hsm.health()).await;
                let failure = match checked {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(format!("the HSM check panicked: {e}")),
                };
                watched.record(failure.clone());
                if failure.is_some() && node.is_leader() {
                    if let Some(next) = node.hand_over(HANDOVER_WITHIN).await {
                        tracing::warn!(next, "handed leadership over: this node's HSM fails");
                    }
                }
            }
        });
        health
    }

    fn record(&self, failure: Option<String>) {
        let mut current = self.failure.lock().expect("hsm health lock");
        match (&*current, &failure) {
            (None, Some(reason)) => {
                tracing::error!(%reason, "the HSM fails: this node is unready until it answers")
            }
            (Some(_), None) => tracing::info!("the HSM answers again: this node may be ready"),
            _ => {}
        }
        *current = failure;
    }
}
