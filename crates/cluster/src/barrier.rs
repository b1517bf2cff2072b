//! The linearizable read barrier.
//!
//! A reader may use the state only after the leader has confirmed, with a quorum, that it was
//! still the leader at some moment *after the reader arrived*, and has applied everything
//! committed up to then (openraft's `ensure_linearizable`). One quorum round per reader would
//! cost a round trip each, so readers queue up and one background task confirms for all who
//! were waiting when its round started; those arriving during a round wait for the next.
//! An isolated old leader cannot confirm and never answers from stale state.
//!
//! **Leader lease** (`raft.lease_reads`, on by default). A confirmation round that started
//! at `t` proves more than leadership at `t`: every follower that acknowledged it refuses to
//! vote for anyone else until its own leader lease (openraft: `election_timeout_max` after it
//! last heard from this leader, which was after `t`) runs out, and a new leader needs one of
//! them. So until `t + lease`, with `lease` well below `election_timeout_max` (half of
//! `election_timeout_min`), no other leader can exist, and readers that arrive then pass at
//! once. Writes this leader acknowledged are applied before they are acknowledged, and the
//! round itself waited for everything committed before it, so such a reader still sees every
//! acknowledged write. Leases use the monotonic clock (wall-clock skew does not move them),
//! end when the term changes, and hold across a follower's restart because a restarted node
//! serves its peer port only after `election_timeout_max` (see `ClusterNode::start`):
//! openraft lets a freshly started node vote at once. A reader that finds the lease in its
//! second half starts a renewing round without waiting for it, so under steady load readers
//! never queue.
//!
//! **A leader restored at start-up** (after a crash or power loss of every node) must not
//! answer from behind. openraft restores a node that was leader in its persisted, committed
//! vote as leader at once, and then takes as the read point the larger of the commit index it
//! restored and the first entry of its term. Neither need cover what it acknowledged before
//! the crash: the commit index is saved unsynced (store/log.rs), and the term's first entry
//! may be long before the last write. So the first round of each term also waits until the
//! state machine has applied every entry the leader's log held when that round began: a
//! leader's log holds every committed entry, so this covers every write acknowledged before,
//! and its last entries are of its own term, so they commit without a new write
//! (jepsen/findings/2026-12-04-stale-listkeys-under-disk-faults.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::ServerState;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::{ClusterError, NodeId, Raft};

/// How long one confirmation round may take before it is retried.
const ROUND_TIMEOUT: Duration = Duration::from_millis(1_000);

type Waiter = oneshot::Sender<Result<(), ClusterError>>;

pub(crate) struct ReadBarrier {
    queue: Mutex<Vec<Waiter>>,
    wake: Notify,
    /// Raft's metrics, subscribed once: readers under a lease only borrow them.
    metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, openraft::BasicNode>>,
    lease: Duration,
    /// Until when (and in which term) the last confirmation lets readers pass at once.
    valid: Mutex<Option<(u64, Instant)>>,
    /// A reader asked for a round to renew a lease that still holds.
    renew: AtomicBool,
    /// How long one reader waits at most (the request timeout): a reader that arrives
    /// during a round waits for the next, and must not wait for both in full.
    budget: Duration,
    /// Leadership is being handed over (handover.rs): no reader passes on the lease, whose
    /// promise this leader itself is about to break by voting for its successor.
    suspended: AtomicBool,
    /// The term whose first round has passed, and the log index it made the state machine
    /// reach (module docs: a leader restored at start-up).
    floor: Mutex<Option<(u64, u64)>>,
}

impl ReadBarrier {
    /// Starts the confirming task; it gives up on a round after `budget`. A confirmation
    /// lets later readers pass at once for `lease` (zero: never).
    pub fn spawn(raft: Raft, budget: Duration, lease: Duration) -> Arc<ReadBarrier> {
        let barrier = Arc::new(ReadBarrier {
            queue: Mutex::default(),
            wake: Notify::new(),
            metrics: raft.metrics(),
            lease,
            valid: Mutex::default(),
            renew: AtomicBool::new(false),
            budget,
            suspended: AtomicBool::new(false),
            floor: Mutex::default(),
        });
        let weak = Arc::downgrade(&barrier);
        tokio::spawn(async move {
            loop {
                let Some(barrier) = weak.upgrade() else {
                    return;
                };
                barrier.wake.notified().await;
                let waiters = std::mem::take(&mut *barrier.queue.lock().expect("barrier queue"));
                let renew = barrier.renew.load(Ordering::Relaxed);
                drop(barrier);
                if waiters.is_empty() && !renew {
                    continue;
                }
                let floor = weak.upgrade().and_then(|b| *b.floor.lock().expect("floor"));
                let result = confirm(&raft, budget, floor).await;
                if let Some(barrier) = weak.upgrade() {
                    if let Ok((term, _, reached)) = &result {
                        *barrier.floor.lock().expect("floor") = Some((*term, *reached));
                    }
                    if let Ok((term, started, _)) = &result {
                        *barrier.valid.lock().expect("barrier lease") =
                            Some((*term, *started + barrier.lease));
                    }
                    // Cleared only now, so readers during the round do not ask for another.
                    barrier.renew.store(false, Ordering::Relaxed);
                }
                let result = result.map(|_| ());
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        barrier
    }

    /// Returns once a barrier that started after this call has passed, or at once while
    /// this leader's lease holds.
    pub async fn wait(&self) -> Result<(), ClusterError> {
        if let Some(left) = self.lease_left() {
            if left < self.lease / 2 && !self.renew.swap(true, Ordering::Relaxed) {
                self.wake.notify_one();
            }
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.queue.lock().expect("barrier queue").push(tx);
        self.wake.notify_one();
        match tokio::time::timeout(self.budget, rx).await {
            Ok(answer) => answer
                .unwrap_or_else(|_| Err(ClusterError::Unavailable("read barrier stopped".into()))),
            Err(_) => Err(ClusterError::Unavailable(
                "cannot confirm leadership with a quorum: timed out".into(),
            )),
        }
    }

    /// Stops (or, after a handover that failed, resumes) passing readers on the lease.
    pub fn suspend_lease(&self, suspended: bool) {
        self.suspended.store(suspended, Ordering::SeqCst);
        if suspended {
            *self.valid.lock().expect("barrier lease") = None;
        }
    }
}

impl ReadBarrier {
    /// How long the lease still holds, if it does.
    fn lease_left(&self) -> Option<Duration> {
        if self.lease.is_zero() || self.suspended.load(Ordering::SeqCst) {
            return None;
        }
        let (term, until) = (*self.valid.lock().expect("barrier lease"))?;
        let left = until.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        let m = self.metrics.borrow();
        (m.current_term == term && m.state == ServerState::Leader).then_some(left)
    }
}

/// One barrier: confirm leadership with a quorum and wait for the state machine to catch up,
/// retrying rounds that time out or miss a quorum until `budget` is spent. The first round
/// of a term (`floor` is of another term) also waits until everything in the log when it
/// began is applied. Answers the term, the moment the successful round started (the lease
/// runs from it) and the floor of the term.
async fn confirm(
    raft: &Raft,
    budget: Duration,
    floor: Option<(u64, u64)>,
) -> Result<(u64, Instant, u64), ClusterError> {
    let deadline = Instant::now() + budget;
    loop {
        let started = Instant::now();
        let (term, last_log) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.current_term, m.last_log_index.unwrap_or(0))
        };
        let outcome = tokio::time::timeout(ROUND_TIMEOUT, raft.ensure_linearizable()).await;
        let retryable = match outcome {
            Ok(Ok(_)) => match floor {
                Some((floor_term, reached)) if floor_term == term => {
                    return Ok((term, started, reached))
                }
                _ => match applied_up_to(raft, last_log, deadline).await {
                    Ok(()) => return Ok((term, started, last_log)),
                    Err(e) => return Err(e),
                },
            },
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Err(ClusterError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::Fatal(f))) => return Err(ClusterError::of_fatal(&f)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        if Instant::now() >= deadline {
            return Err(ClusterError::Unavailable(format!(
                "cannot confirm leadership with a quorum: {retryable}"
            )));
        }
        // Back off briefly before the next round; a partition heals on its own schedule.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the state machine has applied the log up to `index`, or `deadline` passes.
async fn applied_up_to(raft: &Raft, index: u64, deadline: Instant) -> Result<(), ClusterError> {
    let mut metrics = raft.metrics();
    let reached = |m: &openraft::RaftMetrics<NodeId, openraft::BasicNode>| {
        m.last_applied.as_ref().map_or(0, |l| l.index) >= index
    };
    let outcome = tokio::time::timeout_at(deadline, metrics.wait_for(reached)).await;
    match outcome {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(ClusterError::Unavailable("raft stopped".into())),
        Err(_) => Err(ClusterError::Unavailable(
            "the state machine did not catch up with the log in time".into(),
        )),
    }
}
