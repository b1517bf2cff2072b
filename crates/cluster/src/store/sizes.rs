//! The stored size of every entry in the log, kept in memory, so that log retention is
//! decided in bytes as well as entries (retention.rs): openraft counts entries only, and an
//! entry is a batch of up to 1 MiB, so 100,000 entries may be a few hundred bytes or 100 GB.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Entry index -> stored bytes, for the entries in the log. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct LogSizes(Arc<Mutex<BTreeMap<u64, u64>>>);

impl LogSizes {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u64>> {
        self.0.lock().expect("log sizes lock")
    }

    pub(crate) fn record(&self, index: u64, bytes: u64) {
        self.map().insert(index, bytes);
    }

    /// Forgets entries with index in `[from, to)` (truncated or purged).
    pub(crate) fn forget(&self, from: u64, to: u64) {
        let mut map = self.map();
        let doomed: Vec<u64> = map.range(from..to).map(|(i, _)| *i).collect();
        for i in doomed {
            map.remove(&i);
        }
    }

    /// Bytes of the entries after `index` (of every entry for `None`).
    pub fn bytes_after(&self, index: Option<u64>) -> u64 {
        let from = index.map_or(0, |i| i + 1);
        self.map().range(from..).map(|(_, b)| b).sum()
    }

    /// The highest index to purge so that the entries kept up to `snapshot` (which the
    /// snapshot covers, kept only for followers a little behind) hold at most `keep` bytes;
    /// `None` if they already do.
    pub fn purge_point(&self, snapshot: u64, keep: u64) -> Option<u64> {
        let mut kept = 0;
        for (index, bytes) in self.map().range(..=snapshot).rev() {
            kept += bytes;
            if kept > keep {
                return Some(*index);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_counted_and_purge_points_keep_a_tail_by_bytes() {
        let sizes = LogSizes::default();
        for i in 1..=10 {
            sizes.record(i, 100);
        }
        assert_eq!(sizes.bytes_after(None), 1000);
        assert_eq!(sizes.bytes_after(Some(7)), 300);
        // Keep at most 250 bytes up to index 8: entries 7 and 8; purge through 6.
        assert_eq!(sizes.purge_point(8, 250), Some(6));
        assert_eq!(sizes.purge_point(2, 250), None);
        sizes.forget(0, 7);
        assert_eq!(sizes.bytes_after(None), 400);
        sizes.forget(9, u64::MAX);
        assert_eq!(sizes.bytes_after(None), 200);
    }
}
