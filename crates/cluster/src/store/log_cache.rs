//! The log's newest entries in memory, so the reads of every write's round are not reads of
//! RocksDB.
//!
//! Each committed entry is read back several times: by the leader's replication to each
//! follower, and by the state machine on every node to apply it. Each read from RocksDB built
//! an iterator over the log's memtables and files and decoded every entry again (bincode): on a
//! 3-node cluster, five reads per round, ~4 µs of CPU per audited request at 25 events a round
//! (docs/BENCHMARKS.md, "Audit trail"). Those reads ask for the entries just appended, so a
//! short tail of them in memory answers nearly all.
//!
//! Guarantees:
//! - The cache holds a contiguous run of entries ending at the log's last entry: an append
//!   extends it (or, after a gap, restarts it), a truncation cuts it before the log is cut, a
//!   purge drops its front. It never holds an entry the log does not.
//! - A read is answered from the cache only when the cache holds the whole range; otherwise
//!   it goes to RocksDB as before. The cache is bounded in entries and bytes.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::{Entry, RaftLogId};

use crate::TypeConfig;

/// Entries kept at most: a few rounds of every follower's replication, and of apply.
const MAX_ENTRIES: usize = 1024;
/// Stored bytes kept at most (a round's audit batch is tens of KB).
const MAX_BYTES: u64 = 32 << 20;

/// The newest entries of the log, shared by the store and its readers.
#[derive(Clone, Default)]
pub(crate) struct LogCache(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    /// Each entry with its stored size, by index, contiguous.
    entries: VecDeque<(Entry<TypeConfig>, u64)>,
    bytes: u64,
}

impl Tail {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.get_log_id().index)
    }

    fn next(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.get_log_id().index + 1)
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn pop_back(&mut self) {
        if let Some((_, size)) = self.entries.pop_back() {
            self.bytes -= size;
        }
    }
}

/// The first index `range` asks for (`None` past the last possible index).
pub(super) fn range_start(range: &impl RangeBounds<u64>) -> Option<u64> {
    match range.start_bound() {
        Bound::Included(i) => Some(*i),
        Bound::Excluded(i) => i.checked_add(1),
        Bound::Unbounded => Some(0),
    }
}

impl LogCache {
    /// `entries` (with their stored sizes) were written to the log after its last entry.
    pub(crate) fn appended(&self, entries: Vec<(Entry<TypeConfig>, u64)>) {
        let mut tail = self.0.lock().expect("log cache lock");
        for (entry, size) in entries {
            if tail.next() != Some(entry.get_log_id().index) {
                // The first append after a start, or after the log was cut elsewhere.
                *tail = Tail::default();
            }
            tail.bytes += size;
            tail.entries.push_back((entry, size));
        }
        while tail.entries.len() > MAX_ENTRIES || tail.bytes > MAX_BYTES {
            tail.pop_front();
        }
    }

    /// The log is being cut from `index` on (called before it is).
    pub(crate) fn truncate(&self, index: u64) {
        let mut tail = self.0.lock().expect("log cache lock");
        while tail.next().is_some_and(|next| next > index) {
            tail.pop_back();
        }
    }

    /// The log's entries up to `index` (included) were purged.
    pub(crate) fn purge(&self, index: u64) {
        let mut tail = self.0.lock().expect("log cache lock");
        while tail.first().is_some_and(|first| first <= index) {
            tail.pop_front();
        }
    }

    /// The entries of `range` if the cache holds all of them, `None` to read the log. An
    /// unbounded end means up to the last entry, which the cache always ends with.
    pub(crate) fn get(&self, range: &impl RangeBounds<u64>) -> Option<Vec<Entry<TypeConfig>>> {
        let start = range_start(range)?;
        let tail = self.0.lock().expect("log cache lock");
        let (first, next) = (tail.first()?, tail.next()?);
        let end = match range.end_bound() {
            Bound::Included(i) => i.checked_add(1)?,
            Bound::Excluded(i) => *i,
            Bound::Unbounded => next,
        };
        if start < first || end > next {
            return None;
        }
        let (from, to) = ((start - first) as usize, (end.max(start) - first) as usize);
        Some(
            tail.entries
                .range(from..to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn entry(index: u64) -> (Entry<TypeConfig>, u64) {
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        };
        (entry, 100)
    }

    fn indices(entries: Option<Vec<Entry<TypeConfig>>>) -> Option<Vec<u64>> {
        entries.map(|es| es.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn reads_inside_the_tail_are_answered_and_others_go_to_the_log() {
        let cache = LogCache::default();
        assert_eq!(indices(cache.get(&(0..))), None, "empty: read the log");
        cache.appended((5..10).map(entry).collect());
        assert_eq!(indices(cache.get(&(6..8))), Some(vec![6, 7]));
        assert_eq!(indices(cache.get(&(7..))), Some(vec![7, 8, 9]));
        assert_eq!(indices(cache.get(&(5..=9))), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indices(cache.get(&(8..8))), Some(vec![]));
        assert_eq!(indices(cache.get(&(4..7))), None, "starts before the tail");
        assert_eq!(
            indices(cache.get(&(8..11))),
            None,
            "ends past the last entry"
        );
        assert_eq!(indices(cache.get(&(..))), None);
    }

    #[test]
    fn truncation_purge_and_gaps_keep_the_tail_the_logs() {
        let cache = LogCache::default();
        cache.appended((1..6).map(entry).collect());
        cache.truncate(4);
        assert_eq!(indices(cache.get(&(1..))), Some(vec![1, 2, 3]));
        cache.appended(vec![entry(4)]);
        cache.purge(2);
        assert_eq!(indices(cache.get(&(3..))), Some(vec![3, 4]));
        assert_eq!(indices(cache.get(&(2..))), None);
        // An append that does not follow the tail starts it again.
        cache.appended(vec![entry(9)]);
        assert_eq!(indices(cache.get(&(9..))), Some(vec![9]));
        assert_eq!(indices(cache.get(&(4..))), None);
    }

    #[test]
    fn the_tail_is_bounded() {
        let cache = LogCache::default();
        cache.appended((0..MAX_ENTRIES as u64 + 10).map(entry).collect());
        assert_eq!(indices(cache.get(&(9..11))), None);
        assert_eq!(indices(cache.get(&(10..11))), Some(vec![10]));
        let big = |i| (entry(i).0, MAX_BYTES / 2 + 1);
        cache.appended(vec![
            big(MAX_ENTRIES as u64 + 10),
            big(MAX_ENTRIES as u64 + 11),
        ]);
        let last = MAX_ENTRIES as u64 + 11;
        assert_eq!(indices(cache.get(&(last..))), Some(vec![last]));
        assert_eq!(indices(cache.get(&(last - 1..))), None);
    }
}
