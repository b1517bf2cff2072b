//! The resource index's newest batches, held in memory and written to disk a group at a time.
//!
//! Every node indexes every batch it applies. Written one entry per (batch, resource), a busy
//! cluster's index grows by tens of entries per batch, each a random-place insert into the
//! column family's memtable (a profile put it at ~9 µs of CPU per audited request over three
//! nodes). Here apply adds a batch's runs to an in-memory *tail* instead, and once the tail
//! holds [`GROUP_BATCHES`] batches it goes to disk as one *group* entry per resource: the
//! same inserts for many times the batches.
//!
//! Guarantees:
//! - The tail holds exactly the index of the stored batches from [`IndexTail::from`] up to
//!   the tip: batches below `from` are indexed on disk (or below the index's mark, scanned),
//!   batches from `from` on only here. `from` is stored (the mark) in the same write as the
//!   group that moves it, so a restart rebuilds the tail from the stored batches at and
//!   above it ([`IndexTail::rebuild`]), and nothing is indexed twice or lost.
//! - A reader takes the tail's copy of a resource, `from` and its database iterator under one
//!   lock ([`IndexTail::view`]) and reads the database only below `from`, so a group written
//!   meanwhile is read once: from memory, or from disk.
//! - Apply is the tail's only writer (the state machine is), so what it staged is what it
//!   commits after its write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rocksdb::{DBRawIterator, WriteBatch, DB};

use super::audit_index::{self, Records};
use super::CF_AUDIT_INDEX;

/// Batches the tail holds before they go to disk as a group. At most one group of each
/// resource is read from memory per lookup, and a restart re-reads at most this many
/// batches to rebuild the tail.
pub(crate) const GROUP_BATCHES: u64 = 64;

/// The in-memory tail of the index. Shared by the store's clones.
#[derive(Default)]
pub(crate) struct IndexTail {
    inner: Mutex<Tail>,
}

#[derive(Default)]
struct Tail {
    /// The first batch the tail may hold (every stored batch below is indexed on disk).
    from: u64,
    /// Batches added since `from` (counted whether or not they named a resource).
    batches: u64,
    /// Each resource's records (see [`Records`]), oldest first.
    runs: HashMap<String, Vec<u8>>,
}

/// What apply added to the tail, or the group it writes, waiting for apply's write.
#[must_use]
pub(crate) struct Staged {
    runs: BTreeMap<String, Vec<u8>>,
    batches: u64,
    /// The tail went to disk in apply's write: the tail starts again from here.
    flushed_to: Option<u64>,
}

impl IndexTail {
    /// Every stored batch below this seq is indexed on disk (tests).
    #[cfg(test)]
    pub(crate) fn from(&self) -> u64 {
        self.inner.lock().expect("index tail").from
    }

    /// Empties the tail, from `from` on (a snapshot install, which indexes what it stores).
    pub(crate) fn reset(&self, from: u64) {
        *self.inner.lock().expect("index tail") = Tail {
            from,
            ..Tail::default()
        };
    }

    /// Adds the stored batches `(seq, bytes)`, oldest first, from `from` on (a start).
    pub(crate) fn rebuild<'a>(&self, stored: impl IntoIterator<Item = (u64, &'a [u8])>) {
        let mut tail = self.inner.lock().expect("index tail");
        for (seq, bytes) in stored {
            if seq < tail.from {
                continue;
            }
            tail.batches += 1;
            for (name, record) in records_of(seq, bytes) {
                tail.runs
                    .entry(name)
                    .or_default()
                    .extend_from_slice(&record);
            }
        }
    }

    /// Stages the index of the freshly sealed batches `sealed` (oldest first): kept for
    /// the tail, or, when they fill it, put into `batch` with the tail as one group per
    /// resource and the mark moved past them (`indexed_from` kept). Committed by
    /// [`IndexTail::commit`] once `batch` is written.
    pub(crate) fn stage(
        &self,
        db: &DB,
        batch: &mut WriteBatch,
        sealed: &[(u64, Vec<u8>)],
        indexed_from: u64,
    ) -> Staged {
        let mut runs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (seq, bytes) in sealed {
            for (name, record) in records_of(*seq, bytes) {
                runs.entry(name).or_default().extend_from_slice(&record);
            }
        }
        let mut staged = Staged {
            runs,
            batches: sealed.len() as u64,
            flushed_to: None,
        };
        let Some((last, _)) = sealed.last() else {
            return staged;
        };
        let tail = self.inner.lock().expect("index tail");
        if tail.batches + staged.batches < GROUP_BATCHES {
            return staged;
        }
        let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
        let mut names: Vec<&String> = tail.runs.keys().chain(staged.runs.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut records = tail.runs.get(name).cloned().unwrap_or_default();
            records.extend_from_slice(staged.runs.get(name).map_or(&[][..], Vec::as_slice));
            let (key, value) = audit_index::group_entry(name, &records);
            batch.put_cf(cf, key, value);
        }
        let to = last + 1;
        audit_index::put_marks(db, batch, indexed_from, to);
        staged.flushed_to = Some(to);
        staged
    }

    /// Apply's write of `staged` succeeded.
    pub(crate) fn commit(&self, staged: Staged) {
        let mut tail = self.inner.lock().expect("index tail");
        if let Some(to) = staged.flushed_to {
            *tail = Tail {
                from: to,
                ..Tail::default()
            };
            return;
        }
        tail.batches += staged.batches;
        for (name, records) in staged.runs {
            tail.runs
                .entry(name)
                .or_default()
                .extend_from_slice(&records);
        }
    }

    /// `name`'s records in the tail, `from`, and an iterator over the index on disk, taken
    /// together: the iterator holds every group written before `from` moved to where it is.
    pub(crate) fn view<'a>(&self, db: &'a DB, name: &str) -> (Vec<u8>, u64, DBRawIterator<'a>) {
        let tail = self.inner.lock().expect("index tail");
        let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
        let records = tail.runs.get(name).cloned().unwrap_or_default();
        (records, tail.from, db.raw_iterator_cf(cf))
    }
}

/// One record per resource the stored batch `bytes` (seq `seq`) names.
fn records_of(seq: u64, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Some((time, runs)) = audit_index::runs_of_batch(bytes) else {
        return Vec::new();
    };
    runs.into_iter()
        .map(|(name, indices)| (name, Records::encode(seq, time, &indices)))
        .collect()
}
