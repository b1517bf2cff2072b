//! What the store does when its disk fails it.
//!
//! - **A full disk** (ENOSPC) is a condition, not a fault: a write that finds the disk full
//!   waits and is tried again every [`RETRY`] until space returns (RocksDB recovers from its
//!   own no-space error by itself once the file system reports free space). Meanwhile the
//!   node is flagged ([`DiskHealth::full`]): it answers client requests 503 at once, reports
//!   itself unready (`/readyz` `disk`) and in `trent_disk_full`, and logs it once. Nothing is
//!   acknowledged that is not written; a leader whose Raft core waits on its disk stops
//!   sending heartbeats, so the others elect a leader that can write.
//! - **Any other write or sync error** (EIO above all) stops the node. After a failed fsync
//!   Linux may mark the unwritten pages clean, and a later fsync then succeeds without
//!   writing them ("fsyncgate"), so a node that went on could acknowledge a log it no longer
//!   holds. [`DiskHealth::fail`] stops it; its restart recovers from what is durable.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cluster_id::IdentityCell;

/// How often a write waiting for space is tried again.
pub(crate) const RETRY: Duration = Duration::from_millis(250);

/// The disk's condition as this node's store found it. Cheap to share.
pub struct DiskHealth {
    full: AtomicBool,
    /// Times the disk was found full, for metrics.
    full_events: AtomicU64,
    identity: Arc<IdentityCell>,
}

impl DiskHealth {
    pub(crate) fn new(identity: Arc<IdentityCell>) -> Arc<DiskHealth> {
        Arc::new(DiskHealth {
            full: AtomicBool::new(false),
            full_events: AtomicU64::new(0),
            identity,
        })
    }

    /// Whether a write is waiting for the disk to have space.
    pub fn full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    /// How many times the disk was found full since start.
    pub fn full_events(&self) -> u64 {
        self.full_events.load(Ordering::Relaxed)
    }

    /// Runs `write` until it succeeds, waiting while the disk is full (see the module docs);
    /// any other error stops the node and is returned. On a blocking thread.
    pub(crate) fn write_blocking<T>(
        &self,
        what: &str,
        mut write: impl FnMut() -> Result<T, rocksdb::Error>,
    ) -> Result<T, rocksdb::Error> {
        loop {
            match self.outcome(what, write()) {
                Retry::Done(result) => return result,
                Retry::Again => std::thread::sleep(RETRY),
            }
        }
    }

    /// [`DiskHealth::write_blocking`] for async callers: waits without holding a thread.
    pub(crate) async fn write<T>(
        &self,
        what: &str,
        mut write: impl FnMut() -> Result<T, rocksdb::Error>,
    ) -> Result<T, rocksdb::Error> {
        loop {
            match self.outcome(what, write()) {
                Retry::Done(result) => return result,
                Retry::Again => tokio::time::sleep(RETRY).await,
            }
        }
    }

    /// Stops the node: its disk failed a write or a sync it cannot take back.
    pub(crate) fn fail(&self, what: &str, error: &dyn std::fmt::Display) {
        self.identity.fail(format!(
            "storage: {what} failed ({error}); this node stops rather than go on with a log \
             it cannot trust; a restart recovers from what is on disk"
        ));
    }

    fn outcome<T>(&self, what: &str, result: Result<T, rocksdb::Error>) -> Retry<T> {
        match result {
            Ok(value) => {
                if self.full.swap(false, Ordering::SeqCst) {
                    tracing::warn!(what, "disk has space again: writes resume");
                }
                Retry::Done(Ok(value))
            }
            // Once the disk was found full, RocksDB answers its recorded error (or that it
            // is recovering) until it has recovered: all of it is waiting for space.
            Err(e) if is_no_space(&e) || self.full() => {
                if !self.full.swap(true, Ordering::SeqCst) {
                    self.full_events.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        what,
                        error = %e,
                        "disk full: this node stops serving and waits for space (trent_disk_full)"
                    );
                }
                Retry::Again
            }
            Err(e) => {
                self.fail(what, &e);
                Retry::Done(Err(e))
            }
        }
    }
}

enum Retry<T> {
    Done(Result<T, rocksdb::Error>),
    Again,
}

/// RocksDB's words for ENOSPC (`IOStatus::NoSpace`, strerror).
fn is_no_space(e: &rocksdb::Error) -> bool {
    let text = e.to_string();
    text.contains("No space left on device") || text.contains("NoSpace")
}
