//! Watches the HSM (issue 26): a PKCS#11 token that fails (the module erroring, the token
//! removed or logged out) turns the node unready with the token's reason, and a leader with
//! such a token hands leadership to a voter, since crypto runs only on the leader; when the
//! token answers again, the node is ready again.
//!
//! Guarantees: the check runs every `--hsm-check-interval-ms` (a second by default) off the
//! async runtime, one at a time; a check
//! that has not answered within [`CHECK_TIMEOUT`] (a hung token or network HSM) counts as a
//! failure until it answers; `/readyz` answers 503 with `"hsm": <reason>` from the first
//! failed check until a check passes; a leader whose token fails asks for a handover after every failed check,
//! so leadership leaves it within seconds when a voter with a working token is caught up.
//! The soft backend has nothing to fail and is always healthy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trent_cluster::ClusterNode;
use trent_hsm::Hsm;

/// How long a handover away from a failed token may take.
const HANDOVER_WITHIN: Duration = Duration::from_secs(5);
/// How long a check may take before the HSM counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

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

    /// Checks `hsm` every `interval` for as long as the process runs.
    pub fn watch(node: ClusterNode, hsm: Arc<dyn Hsm>, interval: Duration) -> HsmHealth {
        let health = HsmHealth::default();
        let watched = health.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let hsm = hsm.clone();
                let mut check = tokio::task::spawn_blocking(move || hsm.health());
                let started = tokio::time::Instant::now();
                let checked = loop {
                    match tokio::time::timeout(CHECK_TIMEOUT, &mut check).await {
                        Ok(checked) => break checked,
                        // Still running: a failure until it answers, never a second check.
                        Err(_) => watched.record(Some(format!(
                            "the HSM has not answered its check for {}s",
                            started.elapsed().as_secs()
                        ))),
                    }
                    if node.is_leader() {
                        node.hand_over(HANDOVER_WITHIN).await;
                    }
                };
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
