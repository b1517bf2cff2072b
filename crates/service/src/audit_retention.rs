//! Retention of the audit trail (issue 25): the leader prunes batches older than the age
//! limit, or the oldest ones while more events than the size limit are kept, but never a
//! batch no export holds.
//!
//! Guarantees: pruning goes through the log (`PruneAudit`), so every node drops the same
//! batches, and `apply` refuses to pass `exported_before`: an event leaves the cluster only
//! once an exporter proved it holds it (its next export named the batch's hash, or it
//! confirmed the digest it received, `ExportAuditTrail` with `MaxBatches` 0). Time is the
//! cluster's trusted time, never the leader's clock alone. A scan reads at most
//! [`PRUNE_STEP`] batches, and only their headers (time and event count), so a large backlog
//! is pruned over several seconds, not in one long read; when the oldest kept batch is young
//! enough and the events kept are within the limit, it reads none (the scan runs every
//! second on a leader serving the trail's whole load). When the limits ask for more than the exports allow, the node says so
//! (`AuditCounts::retention_blocked`, a metric) instead of dropping unexported events.

use std::sync::atomic::Ordering;

use trent_state::Command;
use uuid::Uuid;

use crate::{OpError, Service};

/// Batches one retention scan looks at, at most.
pub const PRUNE_STEP: usize = 10_000;

/// How long and how much of the trail the cluster keeps (what was exported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    /// Batches older than this are pruned once exported (CloudTrail's event history: 90).
    pub max_age_days: u32,
    /// While more events than this are kept, the oldest exported batches are pruned.
    pub max_events: u64,
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention {
            max_age_days: 90,
            max_events: 1_000_000,
        }
    }
}

impl Service {
    /// Starts the leader's retention scan (every second; only the leader acts).
    pub fn spawn_audit_retention_task(&self) -> tokio::task::JoinHandle<()> {
        crate::deletion::every_second(self, "audit retention", |s| async move {
            s.prune_audit_trail().await
        })
    }

    /// Proposes one `PruneAudit` if the limits ask for one; answers how many batches it took.
    pub async fn prune_audit_trail(&self) -> Result<usize, OpError> {
        if !self.node().is_leader() || !self.audit_trail_on() {
            return Ok(0);
        }
        let Some(now) = self.node().signing_time() else {
            return Ok(0);
        };
        let limits = self.audit_retention();
        let tip = self.node().read_local(|s| s.audit_tip());
        let store = self.node().audit_store();
        if store.missing_below(&tip).is_some() {
            // Retention counts and reads the batches it prunes: not before they are all here.
            return Ok(0);
        }
        let max_age = u64::from(limits.max_age_days) * 24 * 3600 * 1000;
        let young = store
            .first_at_or_after(now.saturating_sub(max_age), tip.next_seq)
            .map_err(trent_model::Error::internal)?;
        let mut kept = tip.events.saturating_sub(tip.pruned_events);
        let buffer = self.audit_buffer();
        if young <= tip.first_seq && kept <= limits.max_events {
            buffer.retention_blocked.store(false, Ordering::Relaxed);
            return Ok(0);
        }
        let (mut before, mut dropped, mut blocked) = (tip.first_seq, 0u64, false);
        store
            .visit_headers(tip.first_seq, PRUNE_STEP, |seq, batch| {
                let due = seq < young || kept > limits.max_events;
                if !due || seq >= tip.next_seq {
                    return false;
                }
                if seq >= tip.exported_before {
                    blocked = true;
                    return false;
                }
                before = seq + 1;
                dropped += batch.events;
                kept = kept.saturating_sub(batch.events);
                true
            })
            .map_err(trent_model::Error::internal)?;
        if blocked && !buffer.retention_blocked.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                exported_before = tip.exported_before,
                "audit retention wants to prune events no export holds yet: run `trent audit \
                 export` (nothing is pruned before it is exported)"
            );
        }
        buffer.retention_blocked.store(blocked, Ordering::Relaxed);
        if before == tip.first_seq {
            return Ok(0);
        }
        let command = Command::PruneAudit {
            before,
            events: dropped,
        };
        self.node().write(Uuid::new_v4(), command).await??;
        Ok((before - tip.first_seq) as usize)
    }
}
