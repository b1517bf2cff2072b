//! Scheduled key deletion: when a key's waiting period has passed, the leader proposes its
//! deletion. A key is due only by the cluster's trusted time (the time a majority of voters'
//! clocks have reached, trent_cluster's cluster_time.rs), never by the leader's clock alone,
//! so one node whose clock jumps ahead cannot delete keys early. `apply()` also refuses a
//! `DeleteKey` that is not due by the request's stamp (itself bounded by that trusted time),
//! so a follower's clock never decides, and a stale proposal is harmless.
//!
//! The other timed actions (rotation.rs, import.rs) follow the same pattern, with the two
//! helpers here: [`system_call`] and [`every_second`].

use std::future::Future;
use std::time::Duration;

use trent_state::Command;
use uuid::Uuid;

use crate::{Call, OpError, Service};

/// How often the leader looks for what a timed action has due.
const SCAN_INTERVAL: Duration = Duration::from_secs(1);

impl Service {
    /// Proposes the deletion of every key due by the cluster's trusted time; returns how many
    /// were deleted. Only the leader does anything.
    pub async fn delete_due_keys(&self) -> Result<usize, OpError> {
        if !self.node().is_leader() {
            return Ok(0);
        }
        let now = self.node().timed_action_time().await?;
        let due = self.read(|s| s.keys_due_for_deletion(now)).await?;
        let mut deleted = 0;
        for key_id in due {
            match self
                .write(&system_call(), Command::DeleteKey { key_id })
                .await
            {
                Ok(_) => {
                    tracing::info!(%key_id, "deleted key after its waiting period");
                    deleted += 1;
                }
                Err(OpError::Api(e)) => tracing::warn!(%key_id, error = %e, "key deletion refused"),
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// Runs [`Service::delete_due_keys`] every second until the node shuts down.
    pub fn spawn_deletion_task(&self) -> tokio::task::JoinHandle<()> {
        every_second(
            self,
            "deletion",
            |s| async move { s.delete_due_keys().await },
        )
    }
}

/// The service itself, as the author of the commands it proposes on its own.
pub(crate) fn system_principal() -> trent_model::Principal {
    trent_model::Principal::root("000000000000".parse().expect("valid account"))
}

/// A call of the service's own (a timed action, a migration), under a fresh request id: a
/// refusal (not due yet by the stamped time) must not be replayed to the next attempt.
pub(crate) fn system_call() -> Call {
    let id = Uuid::new_v4();
    Call {
        caller: system_principal(),
        request_id: id,
        attempt: id,
        barrier_passed: false,
        origin: Default::default(),
        audit: Default::default(),
    }
}

/// Runs the `what` scan every second until the node shuts down; a failed scan (no quorum,
/// not the leader any more) is retried at the next tick.
pub(crate) fn every_second<F, Fut>(
    service: &Service,
    what: &'static str,
    scan: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Service) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, OpError>> + Send,
{
    let service = service.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SCAN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = scan(service.clone()).await {
                tracing::debug!(error = %e, scan = what, "timed action scan will retry");
            }
        }
    })
}
