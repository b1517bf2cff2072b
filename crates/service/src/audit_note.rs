//! What the service learns of a call for its audit event, and the event a write carries in
//! its own log entry.
//!
//! A write's event records its outcome, which only `apply` knows. Recorded after the answer
//! (`audit.rs`), it cost a second quorum round per write. Instead the API offers the event of
//! a write whose answer is its response alone ([`AuditNote::offer`]), and the write proposes
//! it with the command as `Command::Audited`: `apply` completes it from the response
//! (`trent_state`'s `audited.rs`), and the API records no other.
//!
//! Guarantees:
//! - The offered event is taken by the first proposal under the call's request id (a write's
//!   command, or the refusal `once.rs` records) and by no other.
//! - A call whose event rode its write says so ([`AuditNote::recorded`]) only once that write
//!   committed: then its event is on a quorum's disks with it.
//! - Until every voter applies command set 9 (a rolling upgrade), nothing is wrapped and the
//!   API records the event after the answer, as before.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use trent_audit::{Event, Resource, Unlinked};
use trent_cluster::ClusterError;
use trent_state::{Command, Response, AUDITED_WRITE_COMMANDS};

use crate::{Call, Service};

/// The keys a call acted on, as the service found them: its event's `resources`. Filled by
/// [`Service::authorize`], which every operation on a key passes but RetireGrant, which
/// notes its key itself. It also holds the event the API offers the call's write.
#[derive(Debug, Clone, Default)]
pub struct AuditNote(Arc<Mutex<Note>>);

#[derive(Debug, Default)]
struct Note {
    /// `(account, key ARN)` of each key, in the order first authorized.
    keys: Vec<(String, String)>,
    offered: Option<Event>,
    recorded: bool,
}

impl AuditNote {
    /// `(account, key ARN)` of each key, in the order first authorized.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.lock().keys.clone()
    }

    pub(crate) fn note_key(&self, key: &trent_model::KeyMetadata) {
        let entry = (key.account.to_string(), key.arn().to_string());
        let mut note = self.lock();
        if !note.keys.contains(&entry) {
            note.keys.push(entry);
        }
    }

    /// Offers the call's write its `event`, built as a success about no key: the write
    /// names the keys noted by then and `apply` sets the outcome. Only for a write whose
    /// answer is its response alone (`trent_service::answers_with_response`).
    pub fn offer(&self, event: Event) {
        self.lock().offered = Some(event);
    }

    /// Whether the call's event was committed with its write (nothing else may record it).
    pub fn recorded(&self) -> bool {
        self.lock().recorded
    }

    /// The offered event about the keys noted, taken: no later proposal carries it.
    fn take(&self) -> Option<Event> {
        let mut note = self.lock();
        let event = note.offered.take()?;
        let resources = (note.keys.iter())
            .map(|(account, arn)| Resource::key(account, arn))
            .collect();
        Some(event.on_resources(resources))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Note> {
        self.0.lock().expect("note lock")
    }
}

impl Service {
    /// Proposes `command` under the call's request id, carrying the event the call offered
    /// when the cluster can apply it so (module doc).
    pub(crate) async fn propose(
        &self,
        call: &Call,
        command: Command,
    ) -> Result<Response, ClusterError> {
        let Some(event) = self.offered_event(call).await else {
            return self.node().write(call.dedup_id(), command).await;
        };
        let command = Command::Audited {
            command: Box::new(command),
            event: Unlinked::new(event),
        };
        let response = self.node().write(call.dedup_id(), command).await?;
        call.audit.lock().recorded = true;
        let buffer = self.audit_buffer();
        buffer.committed.fetch_add(1, Ordering::Relaxed);
        Ok(response)
    }

    async fn offered_event(&self, call: &Call) -> Option<Event> {
        if !self.audit_trail_on() || call.audit.lock().offered.is_none() {
            return None;
        }
        let buffer = self.audit_buffer();
        if !self
            .voters_apply(&buffer.audited, AUDITED_WRITE_COMMANDS)
            .await
        {
            return None;
        }
        call.audit.take()
    }
}
