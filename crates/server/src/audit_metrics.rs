//! The audit trail's metrics (issue 25), read when scraped:
//! - `trent_audit_events_total` and `trent_audit_batches_total`: what the replicated trail
//!   holds, as this node applied it (the same on every node once caught up);
//! - `trent_audit_last_batch_age_seconds`: how long ago the newest batch applied, by the
//!   cluster's clock (a leader under load keeps it near zero; a stuck trail grows it);
//! - `trent_audit_pending_events`: events waiting in this node's buffer for the next batch
//!   (only a leader has any): the event lag;
//! - `trent_audit_committed_events_total`, `trent_audit_dropped_events_total` (a rolling
//!   upgrade not done) and `trent_audit_coalesced_refusals_total` (refusals folded into one
//!   event's count): what this node's buffer did as leader;
//! - `trent_audit_retention_blocked`: 1 while retention's limits ask to prune events no
//!   export holds yet (run `trent audit export`);
//! - `trent_audit_missing_batches`: batches the trail keeps that this node does not hold yet
//!   (restored from a snapshot, it fetches them from its peers: trent-cluster's
//!   audit_backfill.rs); 0 on a node that holds the whole trail.

use prometheus::{IntCounter, IntGauge, Registry};
use trent_cluster::ClusterNode;
use trent_service::Service;

pub struct AuditMetrics {
    events: IntCounter,
    batches: IntCounter,
    age: IntGauge,
    pending: IntGauge,
    committed: IntCounter,
    dropped: IntCounter,
    coalesced: IntCounter,
    blocked: IntGauge,
    missing: IntGauge,
}

impl AuditMetrics {
    pub fn register(r: &Registry) -> prometheus::Result<AuditMetrics> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            r.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            r.register(Box::new(g.clone()))?;
            Ok(g)
        };
        Ok(AuditMetrics {
            events: counter(
                "trent_audit_events_total",
                "Events in the replicated audit trail, as this node applied it.",
            )?,
            batches: counter(
                "trent_audit_batches_total",
                "Sealed batches in the replicated audit trail, as this node applied it.",
            )?,
            age: gauge(
                "trent_audit_last_batch_age_seconds",
                "Seconds since the newest audit batch applied, by the cluster's clock.",
            )?,
            pending: gauge(
                "trent_audit_pending_events",
                "Events waiting in this node's audit buffer for the next batch.",
            )?,
            committed: counter(
                "trent_audit_committed_events_total",
                "Events this node proposed as leader that were committed.",
            )?,
            dropped: counter(
                "trent_audit_dropped_events_total",
                "Events not recorded because a voter cannot apply the audit trail yet.",
            )?,
            coalesced: counter(
                "trent_audit_coalesced_refusals_total",
                "Refused or unauthenticated calls folded into another event's count.",
            )?,
            blocked: gauge(
                "trent_audit_retention_blocked",
                "1 while audit retention waits for an export before it can prune.",
            )?,
            missing: gauge(
                "trent_audit_missing_batches",
                "Audit batches this node lacks and fetches from its peers (after a snapshot).",
            )?,
        })
    }

    pub fn update(&self, node: &ClusterNode, service: &Service) {
        let tip = node.read_local(|s| s.audit_tip());
        catch_up(&self.events, tip.events);
        catch_up(&self.batches, tip.next_seq);
        let now = node.signing_time().unwrap_or(tip.time);
        let age = match tip.next_seq {
            0 => 0,
            _ => now.saturating_sub(tip.time) / 1000,
        };
        self.age.set(age as i64);
        let counts = service.audit_counts();
        self.pending.set(counts.pending as i64);
        catch_up(&self.committed, counts.committed);
        catch_up(&self.dropped, counts.dropped);
        catch_up(&self.coalesced, counts.coalesced);
        self.blocked.set(i64::from(counts.retention_blocked));
        let missing = node.audit_store().missing_below(&tip);
        self.missing
            .set(missing.map_or(0, |below| below.saturating_sub(tip.first_seq)) as i64);
    }
}

/// Brings a counter up to `value` (the source keeps plain counts that only grow).
fn catch_up(counter: &IntCounter, value: u64) {
    counter.inc_by(value.saturating_sub(counter.get()));
}
