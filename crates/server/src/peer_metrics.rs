//! Per-peer metrics and the build-info metric, from this node's cluster status when scraped.
//!
//! - `trent_peer_reachable{peer}`: 1 while this node reaches the member, 0 once every call
//!   to it failed for 2 s (trent_model::UNREACHABLE_AFTER_MS); absent until first heard of.
//! - `trent_peer_last_contact_seconds{peer}`: since the member last answered this node.
//! - `trent_peer_replication_lag{peer}` and `trent_peer_matched_index{peer}`: on the leader
//!   only, the entries a member is behind and the last one it holds.
//! - `trent_node_removed`: 1 once this node learned that it was removed from the cluster.
//! - `trent_build_info{version,profile}`: always 1.
//!
//! The `peer` label is a node id (never an address), bounded by the membership: series of
//! members that left vanish at the next scrape.

use prometheus::{GaugeVec, IntGauge, IntGaugeVec, Opts, Registry};
use trent_model::ClusterStatus;

pub struct PeerMetrics {
    reachable: IntGaugeVec,
    last_contact: GaugeVec,
    lag: IntGaugeVec,
    matched: IntGaugeVec,
    removed: IntGauge,
}

impl PeerMetrics {
    pub fn register(r: &Registry) -> prometheus::Result<PeerMetrics> {
        let peer = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["peer"]);
        let metrics = PeerMetrics {
            reachable: peer(
                "trent_peer_reachable",
                "1 while this node reaches the member; 0 once every call failed for 2 s.",
            )?,
            last_contact: GaugeVec::new(
                Opts::new(
                    "trent_peer_last_contact_seconds",
                    "Seconds since the member last answered this node.",
                ),
                &["peer"],
            )?,
            lag: peer(
                "trent_peer_replication_lag",
                "Leader only: log entries the member is behind the leader's last log index.",
            )?,
            matched: peer(
                "trent_peer_matched_index",
                "Leader only: the last log index known replicated to the member.",
            )?,
            removed: IntGauge::new(
                "trent_node_removed",
                "1 once this node learned it was removed from the cluster (it no longer campaigns).",
            )?,
        };
        r.register(Box::new(metrics.reachable.clone()))?;
        r.register(Box::new(metrics.last_contact.clone()))?;
        r.register(Box::new(metrics.lag.clone()))?;
        r.register(Box::new(metrics.matched.clone()))?;
        r.register(Box::new(metrics.removed.clone()))?;
        let build = IntGaugeVec::new(
            Opts::new(
                "trent_build_info",
                "Always 1; the labels say which build runs.",
            ),
            &["version", "profile"],
        )?;
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), profile])
            .set(1);
        r.register(Box::new(build))?;
        Ok(metrics)
    }

    pub fn update(&self, s: &ClusterStatus) {
        for vec in [&self.reachable, &self.lag, &self.matched] {
            vec.reset();
        }
        self.last_contact.reset();
        self.removed.set(i64::from(s.state == "Removed"));
        for m in s.members.iter().filter(|m| m.id != s.node_id) {
            let peer = m.id.to_string();
            let label = [peer.as_str()];
            if let Some(reachable) = m.reachable {
                self.reachable
                    .with_label_values(&label)
                    .set(i64::from(reachable));
            }
            if let Some(ms) = m.last_contact_ms {
                self.last_contact
                    .with_label_values(&label)
                    .set(ms as f64 / 1000.0);
            }
            if let Some(lag) = m.lag {
                self.lag.with_label_values(&label).set(lag as i64);
            }
            if let Some(matched) = m.matched {
                self.matched.with_label_values(&label).set(matched as i64);
            }
        }
    }
}
