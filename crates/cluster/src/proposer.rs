//! Group commit: writes that arrive while earlier ones are being committed share one log
//! entry, so one append, one fsync on the leader and one on each follower serve them all.
//!
//! openraft 0.9 appends each proposed entry with a flush of its own, one after another, so
//! without grouping the write rate is bounded by the disk's fsync rate whatever the
//! concurrency. A single task gathers waiting writes into a [`Batch`], keeps at most
//! [`IN_FLIGHT`] batches proposed at once (a lone writer never waits for company), and
//! hands each writer the response of its own request. Grouping changes nothing a writer can
//! observe: a batch applies its requests in order, each exactly as if it had its own entry,
//! and is committed (or lost) as a whole before any of its writers hears back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use trent_state::{Batch, Request, Response};

use crate::node::write_error;
use crate::{ClusterError, Raft};

/// Batches proposed and not yet committed at once. Two keep the pipeline full: the leader
/// flushes one batch while the followers flush the one before.
const IN_FLIGHT: usize = 2;
/// Most requests in one batch.
const MAX_REQUESTS: usize = 256;
/// Most encoded bytes in one batch (a larger single request still goes, alone). With
/// openraft's `max_payload_entries` (see `raft_config`) this bounds an AppendEntries message
/// well below the peer transport's limit.
pub(crate) const MAX_BATCH_BYTES: u64 = 1 << 20;

struct Pending {
    request: Request,
    bytes: u64,
    reply: oneshot::Sender<Result<Response, ClusterError>>,
}

/// The handle writers propose through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Proposer {
    raft: Raft,
    queue: mpsc::UnboundedSender<Pending>,
    /// Writes sent to the gathering task and not yet taken into a batch.
    queued: Arc<AtomicUsize>,
    slots: Arc<Semaphore>,
}

impl Proposer {
    /// Starts the gathering task; it ends when the last handle is dropped.
    pub fn spawn(raft: Raft) -> Proposer {
        let (queue, waiting) = mpsc::unbounded_channel();
        let proposer = Proposer {
            raft,
            queue,
            queued: Arc::default(),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
        };
        tokio::spawn(gather(proposer.clone(), waiting));
        proposer
    }

    /// Proposes `request` (in a batch with whatever else is waiting) and answers its own
    /// response once the batch is committed and applied.
    pub async fn propose(&self, request: Request) -> Result<Response, ClusterError> {
        // Nobody waiting and a slot free: this write is a batch of one, proposed from the
        // writer's own task (no hand-off to the gathering task and back).
        if self.queued.load(Ordering::Acquire) == 0 {
            if let Ok(_slot) = self.slots.clone().try_acquire_owned() {
                return propose_one(&self.raft, request).await;
            }
        }
        let bytes = bincode::serialized_size(&request).unwrap_or(MAX_BATCH_BYTES);
        let (reply, answer) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::AcqRel);
        let sent = self.queue.send(Pending {
            request,
            bytes,
            reply,
        });
        if sent.is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn propose_one(raft: &Raft, request: Request) -> Result<Response, ClusterError> {
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        request,
        bytes: 0,
        reply,
    };
    commit(raft, vec![pending]).await;
    answer.await.unwrap_or_else(|_| Err(stopped()))
}

async fn gather(proposer: Proposer, mut waiting: mpsc::UnboundedReceiver<Pending>) {
    let Proposer {
        raft,
        queued,
        slots,
        queue,
    } = proposer;
    // The gathering task must not keep its own channel open, or it would never end.
    drop(queue);
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match waiting.recv().await {
                Some(first) => {
                    queued.fetch_sub(1, Ordering::AcqRel);
                    first
                }
                None => return,
            },
        };
        // Writes that arrive while every slot is busy join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while batch.len() < MAX_REQUESTS {
            let next = waiting.try_recv();
            if next.is_ok() {
                queued.fetch_sub(1, Ordering::AcqRel);
            }
            match next {
                Ok(next) if bytes + next.bytes <= MAX_BATCH_BYTES => {
                    bytes += next.bytes;
                    batch.push(next);
                }
                Ok(next) => {
                    carried = Some(next);
                    break;
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, batch).await;
            drop(slot);
        });
    }
}

/// Proposes one batch and answers each of its writers.
async fn commit(raft: &Raft, batch: Vec<Pending>) {
    let (requests, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.request, p.reply)).unzip();
    let count = requests.len();
    match raft.client_write(Batch(requests)).await {
        Ok(written) if written.data.0.len() == count => {
            for (reply, response) in replies.into_iter().zip(written.data.0) {
                let _ = reply.send(Ok(response));
            }
        }
        Ok(written) => {
            let e = ClusterError::Fatal(format!(
                "a batch of {count} requests was answered with {} responses",
                written.data.0.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            let e = write_error(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

fn stopped() -> ClusterError {
    ClusterError::Fatal("the proposer stopped".into())
}
