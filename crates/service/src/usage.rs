//! Last-usage tracking (GetKeyLastUsage).
//!
//! A replicated write per Encrypt would halve the throughput of the cheapest operation, so
//! the leader notes each successful cryptographic use in memory and proposes the newest
//! use per key as one `RecordKeyUsage` batch every second. GetKeyLastUsage answers the newer
//! of the replicated record and the leader's pending note, so a caller sees its own use at
//! once. The price: a leader that loses leadership drops at most one interval of notes
//! (the key's previous record stays), which AWS's "eventual consistency" wording allows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use trent_model::{KeyId, KeyLastUsage};
use trent_state::Command;
use uuid::Uuid;

use crate::resolve::Aliases;
use crate::types::{epoch_seconds, KeyIdRequest};
use crate::{Action, Call, OpError, Service};

/// How often the leader proposes the uses it has noted.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Uses noted on this node and not yet proposed, newest per key.
#[derive(Default)]
pub(crate) struct PendingUsage(Mutex<HashMap<KeyId, KeyLastUsage>>);

impl PendingUsage {
    fn note(&self, key_id: KeyId, usage: KeyLastUsage) {
        let mut pending = self.0.lock().expect("usage lock");
        let newer = pending
            .get(&key_id)
            .is_none_or(|last| last.timestamp <= usage.timestamp);
        if newer {
            pending.insert(key_id, usage);
        }
    }

    fn get(&self, key_id: &KeyId) -> Option<KeyLastUsage> {
        self.0.lock().expect("usage lock").get(key_id).cloned()
    }

    fn snapshot(&self) -> Vec<(KeyId, KeyLastUsage)> {
        let pending = self.0.lock().expect("usage lock");
        pending.iter().map(|(k, u)| (*k, u.clone())).collect()
    }

    /// Drops the notes that `recorded` now covers; newer notes made meanwhile stay.
    fn forget(&self, recorded: &[(KeyId, KeyLastUsage)]) {
        let mut pending = self.0.lock().expect("usage lock");
        for (key_id, usage) in recorded {
            if pending.get(key_id) == Some(usage) {
                pending.remove(key_id);
            }
        }
    }

    fn clear(&self) {
        self.0.lock().expect("usage lock").clear();
    }
}

impl Service {
    /// Notes a successful cryptographic `operation` with `key_id` by `call`.
    pub(crate) fn note_usage(&self, key_id: KeyId, operation: &str, call: &Call) {
        self.pending_usage().note(
            key_id,
            KeyLastUsage {
                operation: operation.into(),
                timestamp: (self.node().now_cached())
                    .unwrap_or_else(|| self.node().read_local(|s| s.clock())),
                request_id: call.attempt,
            },
        );
    }

    /// Proposes the noted uses; returns how many keys they covered. A node that is not the
    /// leader drops its notes: they describe operations the new leader did not serve.
    pub async fn flush_key_usage(&self) -> Result<usize, OpError> {
        if !self.node().is_leader() {
            self.pending_usage().clear();
            return Ok(0);
        }
        // The notes stay visible to GetKeyLastUsage until the record that replaces them is
        // applied: taking them first would leave a window where neither shows the use.
        let usages = self.pending_usage().snapshot();
        if usages.is_empty() {
            return Ok(0);
        }
        let count = usages.len();
        let id = Uuid::new_v4();
        let call = Call {
            caller: crate::deletion::system_principal(),
            request_id: id,
            attempt: id,
            barrier_passed: false,
            origin: Default::default(),
            audit: Default::default(),
        };
        self.write(
            &call,
            Command::RecordKeyUsage {
                usages: usages.clone(),
            },
        )
        .await?;
        self.pending_usage().forget(&usages);
        Ok(count)
    }

    /// Runs [`Service::flush_key_usage`] every second until the runtime stops.
    pub fn spawn_usage_task(&self) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = service.flush_key_usage().await {
                    tracing::debug!(error = %e, "key usage flush failed; the notes wait for the next one");
                }
            }
        })
    }

    pub async fn get_key_last_usage(
        &self,
        call: &Call,
        req: KeyIdRequest,
    ) -> Result<Value, OpError> {
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::GetKeyLastUsage)
            .await?;
        let key_id = key.metadata.key_id;
        let recorded = key.last_usage.clone();
        let pending = self.pending_usage().get(&key_id);
        let last = match (recorded, pending) {
            (Some(r), Some(p)) => Some(if p.timestamp >= r.timestamp { p } else { r }),
            (r, p) => r.or(p),
        };
        let created = key.metadata.creation_date;
        let usage = match last {
            None => json!({}),
            Some(u) => json!({
                "Operation": u.operation,
                "Timestamp": epoch_seconds(u.timestamp),
                "KmsRequestId": u.request_id.to_string(),
            }),
        };
        Ok(json!({
            "KeyId": key_id.to_string(),
            "KeyCreationDate": epoch_seconds(created),
            // Usage is tracked from creation on.
            "TrackingStartDate": epoch_seconds(created),
            "KeyLastUsage": usage,
        }))
    }
}
