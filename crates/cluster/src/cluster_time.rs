//! Trusted cluster time: the time that a majority of the voters' wall clocks have reached,
//! so that no single node's clock (the leader's included) decides what is due or moves the
//! replicated clock.
//!
//! Every node reads its fellow voters' wall clocks once a second over the peer transport
//! (`Time`). A reading is kept with the monotonic instant its answer arrived, so it ages with
//! real time whatever this node's own wall clock does: a peer that read `t` is at least at
//! `t + elapsed` now (it read its clock before the answer arrived, so the estimate is low by
//! at most one round trip). Readings older than [`MAX_SAMPLE_AGE`] are not used.
//!
//! - **Majority time** ([`majority_time`]): over this node's clock and the estimates of the
//!   other voters, the largest `t` that at least a quorum of voters' clocks have reached (the
//!   median of three). Timed actions (scheduled deletion now; rotation and import expiry
//!   later) are due only by it: [`ClusterNode::timed_action_time`].
//! - **Stamp** ([`stamp`]): the time proposed into every request (creation dates, deletion
//!   dates, and the replicated clock that expires request ids): this node's clock when it is
//!   within `tolerance` of majority time, else the edge of that band; never below the
//!   replicated clock, which only moves forward.
//!
//! When fewer than a quorum of clocks are known, a write first reads the voters' clocks and
//! fails as unavailable if a quorum does not answer (it could not commit either). A node whose
//! clock is more than `tolerance` from majority time logs it at warn and shows it in
//! [`ClockStatus`] (metrics). Assumed: a majority of the voters' clocks are right, and clocks
//! run at real rate between readings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trent_model::Millis;

use crate::{Clock, ClusterError, ClusterNode, NodeId};

/// How often every node reads its fellow voters' clocks.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one reading may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Readings older than this are not used: a peer's clock may have jumped since.
const MAX_SAMPLE_AGE: Duration = Duration::from_secs(5);

/// The largest time that at least a quorum of `voters` clocks have reached, from this node's
/// clock (`own`, `None` if this node is not a voter) and the estimates of other voters' clocks;
/// `None` when fewer than a quorum of clocks are known.
pub fn majority_time(own: Option<Millis>, others: &[Millis], voters: usize) -> Option<Millis> {
    let quorum = voters.max(1) / 2 + 1;
    let mut clocks: Vec<Millis> = own.into_iter().chain(others.iter().copied()).collect();
    if clocks.len() < quorum {
        return None;
    }
    clocks.sort_unstable_by(|a, b| b.cmp(a));
    Some(clocks[quorum - 1])
}

/// The time to stamp into a request: `own` clamped to `majority` ± `tolerance`, and not below
/// `floor` (the replicated clock).
pub fn stamp(own: Millis, majority: Millis, floor: Millis, tolerance: Millis) -> Millis {
    own.clamp(
        majority.saturating_sub(tolerance),
        majority.saturating_add(tolerance),
    )
    .max(floor)
}

/// Whether `own` is further than `tolerance` from `majority`.
pub fn is_skewed(own: Millis, majority: Millis, tolerance: Millis) -> bool {
    own.abs_diff(majority) > tolerance
}

/// This node's view of the cluster's time, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockStatus {
    /// This node's own wall clock.
    pub wall: Millis,
    /// Majority time, if a quorum of clocks is known.
    pub majority: Option<Millis>,
    /// The replicated clock: the latest stamp applied.
    pub replicated: Millis,
    /// Times this node, as leader, asked for the time of timed actions (one per scan).
    pub timed_checks: u64,
    /// Of those, how many found this node's own clock beyond the tolerance (and so ignored it).
    pub skewed_checks: u64,
}

/// A peer's clock reading.
#[derive(Clone, Copy)]
struct Sample {
    read: Millis,
    received: Instant,
}

impl Sample {
    fn estimate(&self) -> Option<Millis> {
        let age = self.received.elapsed();
        (age <= MAX_SAMPLE_AGE).then(|| self.read.saturating_add(age.as_millis() as Millis))
    }
}

/// What one node keeps for [`ClusterNode`]'s time.
pub(crate) struct ClusterTime {
    clock: Arc<dyn Clock>,
    tolerance: Millis,
    samples: Mutex<HashMap<NodeId, Sample>>,
    /// One on-demand reading round at a time.
    refreshing: tokio::sync::Mutex<()>,
    timed_checks: AtomicU64,
    skewed_checks: AtomicU64,
    /// Whether the last check found this node's clock skewed (warn once per change).
    skewed: AtomicBool,
}

impl ClusterTime {
    pub(crate) fn new(clock: Arc<dyn Clock>, tolerance: Duration) -> ClusterTime {
        ClusterTime {
            clock,
            tolerance: tolerance.as_millis() as Millis,
            samples: Mutex::default(),
            refreshing: tokio::sync::Mutex::new(()),
            timed_checks: AtomicU64::new(0),
            skewed_checks: AtomicU64::new(0),
            skewed: AtomicBool::new(false),
        }
    }
}

impl ClusterNode {
    /// This node's own wall clock: what it answers peers, never trusted alone.
    pub fn wall_clock(&self) -> Millis {
        self.cluster_time().clock.now()
    }

    /// The time to stamp into a request proposed now (module doc). Reads the voters' clocks
    /// first when too few readings are fresh.
    pub async fn now(&self) -> Result<Millis, ClusterError> {
        let majority = self.majority_time().await?;
        let floor = self.read_local(|s| s.clock());
        let t = self.cluster_time();
        Ok(stamp(self.wall_clock(), majority, floor, t.tolerance))
    }

    /// [`ClusterNode::now`] without waiting, from the readings at hand; `None` when they do
    /// not cover a quorum. For times that decide nothing durable (last usage, the SigV4
    /// clock-skew window), where the caller picks the fallback.
    pub fn now_cached(&self) -> Option<Millis> {
        let floor = self.read_local(|s| s.clock());
        let majority = self.cached_majority()?;
        Some(stamp(
            self.wall_clock(),
            majority,
            floor,
            self.cluster_time().tolerance,
        ))
    }

    /// What time it is now, for the SigV4 clock-skew window: this node's clock within the
    /// tolerance of majority time, from the readings at hand (`None` without a quorum of
    /// them). Unlike a stamp it has no floor at the replicated clock: after a majority's
    /// clocks were wrong ahead and came back, stamps stay monotonic, but clients signing at
    /// the real time must not be refused as expired until it catches up.
    pub fn signing_time(&self) -> Option<Millis> {
        let majority = self.cached_majority()?;
        let tolerance = self.cluster_time().tolerance;
        Some(self.wall_clock().clamp(
            majority.saturating_sub(tolerance),
            majority.saturating_add(tolerance),
        ))
    }

    /// The time by which timed actions (deletion, rotation, import expiry) are due: majority
    /// time, whatever this node's clock says. Each call counts as one scan in
    /// [`ClockStatus`].
    pub async fn timed_action_time(&self) -> Result<Millis, ClusterError> {
        let t = self.cluster_time();
        t.timed_checks.fetch_add(1, Ordering::Relaxed);
        let majority = self.majority_time().await?;
        if is_skewed(self.wall_clock(), majority, t.tolerance) {
            t.skewed_checks.fetch_add(1, Ordering::Relaxed);
        }
        Ok(majority)
    }

    /// This node's clock, majority time and counters, for metrics.
    pub fn clock_status(&self) -> ClockStatus {
        let t = self.cluster_time();
        ClockStatus {
            wall: self.wall_clock(),
            majority: self.cached_majority(),
            replicated: self.read_local(|s| s.clock()),
            timed_checks: t.timed_checks.load(Ordering::Relaxed),
            skewed_checks: t.skewed_checks.load(Ordering::Relaxed),
        }
    }

    async fn majority_time(&self) -> Result<Millis, ClusterError> {
        if let Some(m) = self.cached_majority() {
            return Ok(m);
        }
        let _one = self.cluster_time().refreshing.lock().await;
        if let Some(m) = self.cached_majority() {
            return Ok(m);
        }
        self.sample_clocks().await;
        self.cached_majority().ok_or_else(|| {
            ClusterError::Unavailable("could not read a majority of the voters' clocks".into())
        })
    }

    /// The voters (this node included if it is one) and this node's own membership.
    fn voters(&self) -> (Vec<NodeId>, bool) {
        // Borrowed, not cloned: this runs on every write.
        let metrics = self.raft().metrics();
        let voters: Vec<NodeId> = (metrics.borrow().membership_config.membership())
            .voter_ids()
            .collect();
        if voters.is_empty() {
            // Not initialized yet: only this node's clock is known to matter.
            return (vec![self.id()], true);
        }
        let own = voters.contains(&self.id());
        (voters, own)
    }

    fn cached_majority(&self) -> Option<Millis> {
        let (voters, own) = self.voters();
        let samples = self
            .cluster_time()
            .samples
            .lock()
            .expect("clock samples lock");
        let others: Vec<Millis> = voters
            .iter()
            .filter(|id| **id != self.id())
            .filter_map(|id| samples.get(id)?.estimate())
            .collect();
        majority_time(own.then(|| self.wall_clock()), &others, voters.len())
    }

    /// Reads every other voter's clock once, concurrently; then warns if this node's own
    /// clock has moved into or out of the tolerance.
    pub(crate) async fn sample_clocks(&self) {
        // A removed node's voters are its former peers, who refuse it (observe.rs).
        if self.is_removed() {
            return;
        }
        let (voters, _) = self.voters();
        let reads = voters
            .into_iter()
            .filter(|id| *id != self.id())
            .filter_map(|id| Some((id, self.member_addr(id)?)))
            .map(|(id, addr)| async move {
                let read = self.network().time(id, &addr, SAMPLE_TIMEOUT).await;
                (id, read, Instant::now())
            });
        for (id, read, received) in futures::future::join_all(reads).await {
            match read {
                Ok(read) => {
                    let sample = Sample { read, received };
                    let mut samples = self.cluster_time().samples.lock().expect("samples lock");
                    samples.insert(id, sample);
                }
                Err(e) => tracing::debug!(peer = id, error = %e, "could not read a peer's clock"),
            }
        }
        self.note_skew();
    }

    fn note_skew(&self) {
        let t = self.cluster_time();
        let Some(majority) = self.cached_majority() else {
            return;
        };
        let own = self.wall_clock();
        let skewed = is_skewed(own, majority, t.tolerance);
        if t.skewed.swap(skewed, Ordering::Relaxed) != skewed {
            let offset_ms = own as i128 - majority as i128;
            if skewed {
                tracing::warn!(
                    offset_ms = offset_ms as i64,
                    tolerance_ms = t.tolerance,
                    "this node's wall clock is far from the majority of voters' clocks; \
                     it is not trusted for timed actions or request stamps (fix its time source)"
                );
            } else {
                tracing::info!(
                    offset_ms = offset_ms as i64,
                    "this node's wall clock agrees with the majority again"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 24 * 3600 * 1000;
    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn majority_time_is_the_median_of_three() {
        // A leader 30 days ahead, or 40 behind, is outvoted by the two others.
        assert_eq!(
            majority_time(Some(NOW + 30 * DAY), &[NOW, NOW + 5], 3),
            Some(NOW + 5)
        );
        assert_eq!(
            majority_time(Some(NOW - 40 * DAY), &[NOW, NOW + 5], 3),
            Some(NOW)
        );
        // One peer known: the lower of the two clocks (both have reached it).
        assert_eq!(majority_time(Some(NOW + 30 * DAY), &[NOW], 3), Some(NOW));
        // No peer known: unknown, not the leader's own clock.
        assert_eq!(majority_time(Some(NOW + 30 * DAY), &[], 3), None);
    }

    #[test]
    fn majority_time_needs_a_quorum_of_clocks() {
        assert_eq!(majority_time(Some(NOW), &[], 1), Some(NOW));
        assert_eq!(majority_time(Some(NOW), &[NOW + 1], 2), Some(NOW));
        assert_eq!(majority_time(Some(NOW), &[NOW + 1], 4), None);
        // Five voters, two of them far ahead: the third largest clock.
        let others = [NOW + 30 * DAY, NOW + 40 * DAY, NOW - 1, NOW + 2];
        assert_eq!(majority_time(Some(NOW), &others, 5), Some(NOW + 2));
        // A learner's own clock does not count.
        assert_eq!(majority_time(None, &[NOW + 9, NOW], 3), Some(NOW));
        assert_eq!(majority_time(None, &[NOW], 3), None);
    }

    #[test]
    fn the_stamp_stays_near_majority_time_and_never_goes_back() {
        let tol = 1_000;
        assert_eq!(stamp(NOW + 30, NOW, 0, tol), NOW + 30);
        assert_eq!(stamp(NOW + 30 * DAY, NOW, 0, tol), NOW + tol);
        assert_eq!(stamp(NOW - 40 * DAY, NOW, 0, tol), NOW - tol);
        // The replicated clock already ahead (e.g. an earlier leader stamped at the band's
        // top): the stamp does not go back.
        assert_eq!(stamp(NOW, NOW, NOW + 500, tol), NOW + 500);
    }

    #[test]
    fn skew_is_distance_beyond_the_tolerance() {
        assert!(!is_skewed(NOW + 1_000, NOW, 1_000));
        assert!(is_skewed(NOW + 1_001, NOW, 1_000));
        assert!(is_skewed(NOW - 30 * DAY, NOW, 1_000));
    }

    #[test]
    fn a_reading_ages_with_the_monotonic_clock_and_expires() {
        let fresh = Sample {
            read: NOW,
            received: Instant::now() - Duration::from_millis(1_500),
        };
        let estimate = fresh.estimate().unwrap();
        assert!((NOW + 1_500..NOW + 2_500).contains(&estimate), "{estimate}");
        let stale = Sample {
            read: NOW,
            received: Instant::now() - MAX_SAMPLE_AGE - Duration::from_secs(1),
        };
        assert_eq!(stale.estimate(), None);
    }
}
