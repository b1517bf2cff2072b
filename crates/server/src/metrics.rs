//! Prometheus metrics, served anonymously at `GET /metrics` on the client API listener in the
//! text exposition format.
//!
//! - API requests, counted by the node that received them (forwarding included in the
//!   latency): `trent_api_requests_total{operation,outcome}` and
//!   `trent_api_request_duration_seconds{operation}`. Labels come from static sets (see
//!   [`trent_api::RequestObserver`]), so the number of series is bounded.
//! - This node's Raft positions, read when scraped: term, leadership, log, commit, apply and
//!   snapshot indexes, and the storage size on disk.
//! - Forwarding: requests this node sent to the leader, failed attempts, requests received.
//! - Requests this node throttled (as leader) for being over a request-rate quota:
//!   `trent_throttled_requests_total{account,operation}`. The account label is bounded by the
//!   accounts the operator opened.
//! - The HSM: unwrapped key versions in its cache (`trent_hsm_cached_keys`), read when scraped;
//!   a deleted key leaves it at once.
//! - Time (trent_cluster's cluster_time.rs): this node's clock against the majority of the
//!   voters' clocks, the replicated clock, and the timed-action scans this node ran as leader
//!   (and how many found its own clock untrusted).
//!
//! - Peers (peer_metrics.rs): each member's liveness as this node sees it, replication lag
//!   on the leader, whether this node was removed, and the build.
//!
//! - The audit trail (audit_metrics.rs): events and batches recorded, the newest batch's
//!   age, events waiting for a batch, and what this node's audit buffer did.
//!
//! Like `/readyz`, nothing here names a key, a user or a member address; the throttling
//! counter names accounts, which an operator needs to tell which tenant is over its quota.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use trent_cluster::{ClusterNode, ForwardCounts};
use trent_hsm::Hsm;
use trent_service::Service;

/// Latency buckets in seconds: sub-millisecond local answers to multi-second waits for a
/// leader (the request timeout is 5 s by default).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of one node, in its own registry.
pub struct Metrics {
    registry: Registry,
    node: ClusterNode,
    data_dir: PathBuf,
    requests: IntCounterVec,
    latency: HistogramVec,
    raft: RaftGauges,
    forwards: ForwardMetrics,
    service: Service,
    throttled: IntCounterVec,
    hsm: Arc<dyn Hsm>,
    cached_keys: IntGauge,
    clock: ClockMetrics,
    peers: crate::peer_metrics::PeerMetrics,
    audit: crate::audit_metrics::AuditMetrics,
}

struct ClockMetrics {
    offset: IntGauge,
    majority_known: IntGauge,
    majority: IntGauge,
    replicated: IntGauge,
    timed_scans: IntCounter,
    timed_scans_skewed: IntCounter,
}

struct RaftGauges {
    term: IntGauge,
    is_leader: IntGauge,
    leader_id: IntGauge,
    last_log_index: IntGauge,
    commit_index: IntGauge,
    last_applied_index: IntGauge,
    apply_lag: IntGauge,
    snapshot_index: IntGauge,
    snapshot_size: IntGauge,
    purged_index: IntGauge,
    storage_size: IntGauge,
    disk_full: IntGauge,
    disk_full_events: IntGauge,
}

struct ForwardMetrics {
    sent: IntCounter,
    received: IntCounter,
    failed: IntCounter,
    /// What the counters above already hold; the cluster layer keeps plain atomics.
    seen: Mutex<ForwardCounts>,
}

impl Metrics {
    pub fn new(
        node: ClusterNode,
        hsm: Arc<dyn Hsm>,
        data_dir: PathBuf,
        service: Service,
    ) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "trent_api_requests_total",
                "API requests received by this node, by operation and outcome (ok or the AWS error code).",
            ),
            &["operation", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "trent_api_request_duration_seconds",
                "Time from receiving an API request to answering it, forwarding included.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let raft = RaftGauges::register(&registry)?;
        let forwards = ForwardMetrics::register(&registry)?;
        let throttled = IntCounterVec::new(
            Opts::new(
                "trent_throttled_requests_total",
                "Requests this node refused with ThrottlingException, by account and operation.",
            ),
            &["account", "operation"],
        )?;
        registry.register(Box::new(throttled.clone()))?;
        let cached_keys = gauge(
            &registry,
            "trent_hsm_cached_keys",
            "Unwrapped key versions in the HSM's cache.",
        )?;
        let clock = ClockMetrics::register(&registry)?;
        let peers = crate::peer_metrics::PeerMetrics::register(&registry)?;
        let audit = crate::audit_metrics::AuditMetrics::register(&registry)?;
        Ok(Metrics {
            audit,
            peers,
            service,
            throttled,
            registry,
            node,
            data_dir,
            requests,
            latency,
            raft,
            forwards,
            hsm,
            cached_keys,
            clock,
        })
    }

    /// The metrics in the Prometheus text format, read from the node now.
    pub fn render(&self) -> String {
        let status = self.node.status();
        self.raft.update(&self.node, &status, &self.data_dir);
        self.peers.update(&status);
        self.forwards.update(self.node.forward_counts());
        // The service keeps plain counts, which only grow: bring each counter up to its count.
        for (account, operation, count) in self.service.throttled() {
            let counter = self
                .throttled
                .with_label_values(&[account.as_str(), operation]);
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.cached_keys.set(self.hsm.cached_keys() as i64);
        self.clock.update(self.node.clock_status());
        self.audit.update(&self.node, &self.service);
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

impl trent_api::RequestObserver for Metrics {
    fn observe(&self, operation: &'static str, outcome: &'static str, elapsed: Duration) {
        self.requests.with_label_values(&[operation, outcome]).inc();
        self.latency
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let gauge = IntGauge::new(name, help)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let counter = IntCounter::new(name, help)?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

impl RaftGauges {
    fn register(r: &Registry) -> prometheus::Result<RaftGauges> {
        Ok(RaftGauges {
            term: gauge(r, "trent_raft_term", "Current Raft term.")?,
            is_leader: gauge(
                r,
                "trent_raft_is_leader",
                "1 if this node is the leader and a quorum acknowledged it within the election timeout.",
            )?,
            leader_id: gauge(
                r,
                "trent_raft_leader_id",
                "Leader's node id as this node knows it; 0: none, or this node leads without a quorum.",
            )?,
            last_log_index: gauge(
                r,
                "trent_raft_last_log_index",
                "Index of the last log entry.",
            )?,
            commit_index: gauge(
                r,
                "trent_raft_commit_index",
                "Last log index known committed.",
            )?,
            last_applied_index: gauge(
                r,
                "trent_raft_last_applied_index",
                "Last log index applied to the state machine.",
            )?,
            apply_lag: gauge(
                r,
                "trent_raft_apply_lag",
                "Last log index minus last applied index.",
            )?,
            snapshot_index: gauge(
                r,
                "trent_raft_snapshot_index",
                "Last log index in the current snapshot.",
            )?,
            snapshot_size: gauge(
                r,
                "trent_raft_snapshot_size_bytes",
                "Size of the current snapshot file.",
            )?,
            purged_index: gauge(
                r,
                "trent_raft_purged_index",
                "Last log index purged from the log.",
            )?,
            storage_size: gauge(
                r,
                "trent_storage_size_bytes",
                "Bytes on disk in the data dir (database and snapshots).",
            )?,
            disk_full: gauge(
                r,
                "trent_disk_full",
                "1 while this node's disk is full: its writes wait for space and it serves no request.",
            )?,
            disk_full_events: gauge(
                r,
                "trent_disk_full_events",
                "Times this node found its disk full since it started.",
            )?,
        })
    }

    fn update(&self, node: &ClusterNode, s: &trent_model::ClusterStatus, data_dir: &Path) {
        let index = |i: Option<u64>| i.map_or(0, |i| i as i64);
        self.term.set(s.term as i64);
        // A leader its quorum no longer acknowledges cannot serve: it reports no leader, as
        // /readyz does, so "no leader" alerts fire for it (health.rs in trent-cluster).
        let leads = s.leader == Some(s.node_id);
        let stranded = leads && !node.leads_with_quorum();
        self.is_leader.set(i64::from(leads && !stranded));
        self.leader_id
            .set(if stranded { 0 } else { index(s.leader) });
        self.last_log_index.set(index(s.last_log_index));
        // Whatever is applied is committed (a snapshot install moves applied without Raft
        // saving a commit index).
        self.commit_index
            .set(index(node.committed_index().max(s.last_applied)));
        self.last_applied_index.set(index(s.last_applied));
        let lag = s
            .last_log_index
            .unwrap_or(0)
            .saturating_sub(s.last_applied.unwrap_or(0));
        self.apply_lag.set(lag as i64);
        self.snapshot_index.set(index(s.snapshot_index));
        self.purged_index.set(index(s.purged_index));
        let snapshot = data_dir.join("snapshots").join("current");
        self.snapshot_size
            .set(std::fs::metadata(snapshot).map_or(0, |m| m.len() as i64));
        self.storage_size.set(dir_size(data_dir) as i64);
        self.disk_full.set(i64::from(node.disk_full()));
        self.disk_full_events.set(node.disk_full_events() as i64);
    }
}

impl ForwardMetrics {
    fn register(r: &Registry) -> prometheus::Result<ForwardMetrics> {
        Ok(ForwardMetrics {
            sent: counter(
                r,
                "trent_forward_sent_total",
                "Requests this node forwarded to the leader (attempts).",
            )?,
            received: counter(
                r,
                "trent_forward_received_total",
                "Requests peers forwarded to this node.",
            )?,
            failed: counter(
                r,
                "trent_forward_failed_total",
                "Forwarding attempts that failed (leader unreachable or no longer leading).",
            )?,
            seen: Mutex::default(),
        })
    }

    /// Brings the counters up to the cluster layer's counts (which only grow).
    fn update(&self, now: ForwardCounts) {
        let mut seen = self.seen.lock().expect("forward metrics lock");
        self.sent.inc_by(now.sent.saturating_sub(seen.sent));
        self.received
            .inc_by(now.received.saturating_sub(seen.received));
        self.failed.inc_by(now.failed.saturating_sub(seen.failed));
        *seen = now;
    }
}

impl ClockMetrics {
    fn register(r: &Registry) -> prometheus::Result<ClockMetrics> {
        Ok(ClockMetrics {
            offset: gauge(
                r,
                "trent_clock_offset_ms",
                "This node's wall clock minus the time a majority of voters' clocks have reached (0 if unknown); beyond the clock tolerance the node's clock is not trusted.",
            )?,
            majority_known: gauge(
                r,
                "trent_clock_majority_known",
                "1 if this node has fresh readings of a majority of voters' clocks.",
            )?,
            majority: gauge(
                r,
                "trent_clock_majority_ms",
                "The time a majority of voters' clocks have reached, ms since the Unix epoch (0 if unknown).",
            )?,
            replicated: gauge(
                r,
                "trent_clock_replicated_ms",
                "The replicated clock (latest request stamp applied), ms since the Unix epoch; it expires request ids.",
            )?,
            timed_scans: counter(
                r,
                "trent_timed_scans_total",
                "Timed-action scans (scheduled deletion) this node ran as leader by the majority's time.",
            )?,
            timed_scans_skewed: counter(
                r,
                "trent_timed_scans_skewed_total",
                "Of those scans, how many found this node's own clock beyond the tolerance (and ignored it).",
            )?,
        })
    }

    fn update(&self, s: trent_cluster::ClockStatus) {
        let offset = s.majority.map_or(0, |m| s.wall as i128 - m as i128);
        self.offset.set(offset as i64);
        self.majority_known.set(i64::from(s.majority.is_some()));
        self.majority.set(s.majority.unwrap_or(0) as i64);
        self.replicated.set(s.replicated as i64);
        let bump = |c: &IntCounter, to: u64| c.inc_by(to.saturating_sub(c.get()));
        bump(&self.timed_scans, s.timed_checks);
        bump(&self.timed_scans_skewed, s.skewed_checks);
    }
}

/// Bytes in regular files under `dir`, not following symlinks; unreadable entries count 0.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// `GET /metrics`, anonymous like the probes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    // Walking the data dir is file-system work: keep it off the async workers.
    let text = tokio::task::spawn_blocking(move || metrics.render())
        .await
        .unwrap_or_else(|e| format!("# metrics failed: {e}\n"));
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}
