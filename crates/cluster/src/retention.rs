//! Log retention by bytes as well as entries. openraft snapshots after a number of entries
//! and keeps a number of entries behind the snapshot, but an entry is a batch of up to 1 MiB:
//! counted in entries alone, a tenant writing large requests could grow the log to many GB.
//! This task asks for a snapshot once the entries after the last one hold
//! `snapshot_after_log_mb`, and purges the entries the snapshot covers beyond
//! `logs_to_keep_mb`, whichever of the entry and byte bounds comes first.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::store::LogSizes;
use crate::Raft;

/// How often the log's size is looked at: a snapshot is asked for at most this late.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// A snapshot asked for and not made by then is asked for again.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub(crate) fn spawn(raft: Raft, sizes: LogSizes, snapshot_after_bytes: u64, keep_bytes: u64) {
    if snapshot_after_bytes == 0 && keep_bytes == 0 {
        return;
    }
    tokio::spawn(run(raft, sizes, snapshot_after_bytes, keep_bytes));
}

async fn run(raft: Raft, sizes: LogSizes, snapshot_after_bytes: u64, keep_bytes: u64) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The applied index when a snapshot was last asked for, and when.
    let mut asked: Option<(u64, Instant)> = None;
    loop {
        tick.tick().await;
        let m = raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return;
        }
        let snapshot = m.snapshot.map(|l| l.index);
        let pending = asked.is_some_and(|(at, when)| {
            snapshot.is_none_or(|s| s < at) && when.elapsed() < RETRY_AFTER
        });
        if snapshot_after_bytes > 0
            && !pending
            && sizes.bytes_after(snapshot) > snapshot_after_bytes
        {
            if let Some(applied) = m.last_applied {
                tracing::info!(
                    applied = applied.index,
                    "log holds more than its byte bound since the last snapshot: snapshotting"
                );
                asked = Some((applied.index, Instant::now()));
                if raft.trigger().snapshot().await.is_err() {
                    return;
                }
            }
        }
        let Some(snapshot) = snapshot.filter(|_| keep_bytes > 0) else {
            continue;
        };
        if let Some(upto) = sizes.purge_point(snapshot, keep_bytes) {
            if m.purged.is_none_or(|p| p.index < upto)
                && raft.trigger().purge_log(upto).await.is_err()
            {
                return;
            }
        }
    }
}
