//! The linearizable read barrier.
//!
//! A reader may use the state only after the leader has confirmed, with a quorum, that it was
//! still the leader at some moment *after the reader arrived*, and has applied everything
//! committed up to then (openraft's `ensure_linearizable`). One quorum round per reader would
//! cost a round trip each, so readers queue up and one background task confirms for all who
//! were waiting when its round started; those arriving during a round wait for the next.
//! An isolated old leader cannot confirm and never answers from stale state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::{ClusterError, Raft};

/// How long one confirmation round may take before it is retried.
const ROUND_TIMEOUT: Duration = Duration::from_millis(1_000);

type Waiter = oneshot::Sender<Result<(), ClusterError>>;

pub(crate) struct ReadBarrier {
    queue: Mutex<Vec<Waiter>>,
    wake: Notify,
}

impl ReadBarrier {
    /// Starts the confirming task; it gives up on a round after `budget`.
    pub fn spawn(raft: Raft, budget: Duration) -> Arc<ReadBarrier> {
        let barrier = Arc::new(ReadBarrier {
            queue: Mutex::default(),
            wake: Notify::new(),
        });
        let weak = Arc::downgrade(&barrier);
        tokio::spawn(async move {
            loop {
                let Some(barrier) = weak.upgrade() else {
                    return;
                };
                barrier.wake.notified().await;
                let waiters = std::mem::take(&mut *barrier.queue.lock().expect("barrier queue"));
                drop(barrier);
                if waiters.is_empty() {
                    continue;
                }
                let result = confirm(&raft, budget).await;
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        barrier
    }

    /// Returns once a barrier that started after this call has passed.
    pub async fn wait(&self) -> Result<(), ClusterError> {
        let (tx, rx) = oneshot::channel();
        self.queue.lock().expect("barrier queue").push(tx);
        self.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| Err(ClusterError::Fatal("read barrier stopped".into())))
    }
}

/// One barrier: confirm leadership with a quorum and wait for the state machine to catch up,
/// retrying rounds that time out or miss a quorum until `budget` is spent.
async fn confirm(raft: &Raft, budget: Duration) -> Result<(), ClusterError> {
    let deadline = Instant::now() + budget;
    loop {
        let outcome = tokio::time::timeout(ROUND_TIMEOUT, raft.ensure_linearizable()).await;
        let retryable = match outcome {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Err(ClusterError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::Fatal(f))) => return Err(ClusterError::Fatal(f.to_string())),
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
