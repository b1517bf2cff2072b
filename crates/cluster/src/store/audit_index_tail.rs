//! The resource index's newest batches, held in memory and written to disk a group at a time.
//!
//! Every node indexes every batch it applies. Written one entry per (batch, resource), a busy
//! cluster's index grows by tens of entries per batch, each a random-place insert into the
//! column family's memtable (a profile put it at ~9 µs of CPU per audited request over three
//! nodes). Here apply adds a batch's records to an in-memory *tail* instead, and once the
//! tail holds [`GROUP_BATCHES`] batches it goes to disk as one *group* entry per resource:
//! the same inserts for many times the batches.
//!
//! Guarantees:
//! - Once the apply that stored them returns, the tail holds exactly the index of the stored
//!   batches from its start up to the tip (between apply's write and its return, a walk
//!   misses the newest batches, for which no caller has been answered yet): batches below
//!   the start are indexed on disk (or, below the index's mark, scanned), batches from the
//!   start on only here. The start is stored (the mark) in the same write as the group that
//!   moves it, so a restart rebuilds the tail from the stored batches at and above it
//!   ([`IndexTail::restore`]), and nothing is indexed twice or lost.
//! - A reader takes the tail's copy of a resource, the tail's start and its database
//!   iterator under one lock ([`IndexTail::view`]) and reads the database only below the
//!   start, so a group written meanwhile is read once: from memory, or from disk.
//! - Apply is the tail's only writer (the state machine is), so what it staged is what it
//!   commits after its write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rocksdb::{DBRawIterator, WriteBatch, DB};

use super::audit_index::{self, Records};
use super::CF_AUDIT_INDEX;

/// Batches the tail holds before they go to disk as a group. At most one group of each
/// resource is read from memory per lookup, and a restart re-reads about this many batches
/// to rebuild the tail.
pub(crate) const GROUP_BATCHES: u64 = 64;

/// The in-memory tail of the index. Shared by the store's clones.
#[derive(Default)]
pub(crate) struct IndexTail {
    inner: Mutex<Tail>,
}

#[derive(Default)]
struct Tail {
    /// The first batch the tail may hold (every stored batch below is indexed on disk).
    start: u64,
    /// Batches added since `start` (counted whether or not they named a resource).
    batches: u64,
    /// Each resource's [`Records`], oldest first.
    records: HashMap<String, Vec<u8>>,
}

/// One resource's part of the index as a walk takes it ([`IndexTail::view`]).
pub(crate) struct TailView<'a> {
    /// The resource's [`Records`] in the tail.
    pub(crate) records: Vec<u8>,
    /// Where the tail starts: the disk is read only below.
    pub(crate) start: u64,
    pub(crate) disk: DBRawIterator<'a>,
}

/// What apply added to the tail, or the group it writes, waiting for apply's write.
#[must_use]
pub(crate) struct Staged {
    records: BTreeMap<String, Vec<u8>>,
    batches: u64,
    /// The tail went to disk in apply's write: the tail starts again from here.
    flushed_to: Option<u64>,
}

impl IndexTail {
    /// Where the tail starts: every stored batch below is indexed on disk (tests).
    #[cfg(test)]
    pub(crate) fn start(&self) -> u64 {
        self.inner.lock().expect("index tail").start
    }

    /// Empties the tail, starting at `start` (at open, and at a snapshot install, which
    /// indexes what it stores).
    pub(crate) fn reset(&self, start: u64) {
        *self.inner.lock().expect("index tail") = Tail {
            start,
            ..Tail::default()
        };
    }

    /// At open: adds the stored batch `seq` (`bytes`), the next one from the tail's start
    /// on, as apply added it, writing the tail as groups whenever it fills (so a long tail,
    /// left by a trentd that did not keep it, is indexed a group at a time).
    pub(crate) fn restore(
        &self,
        db: &DB,
        indexed_from: u64,
        seq: u64,
        bytes: &[u8],
    ) -> Result<(), String> {
        let mut batch = WriteBatch::default();
        let staged = self.stage(db, &mut batch, &[(seq, bytes.to_vec())], indexed_from);
        if staged.flushed_to.is_some() {
            db.write(batch)
                .map_err(|e| format!("writing the audit index: {e}"))?;
        }
        self.commit(staged);
        Ok(())
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
        let mut records: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (seq, bytes) in sealed {
            for (name, record) in records_of(*seq, bytes) {
                records.entry(name).or_default().extend_from_slice(&record);
            }
        }
        let mut staged = Staged {
            records,
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
        let mut names: Vec<&String> = tail.records.keys().chain(staged.records.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut records = tail.records.get(name).cloned().unwrap_or_default();
            records.extend_from_slice(staged.records.get(name).map_or(&[][..], Vec::as_slice));
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
                start: to,
                ..Tail::default()
            };
            return;
        }
        tail.batches += staged.batches;
        for (name, records) in staged.records {
            tail.records
                .entry(name)
                .or_default()
                .extend_from_slice(&records);
        }
    }

    /// `name`'s records in the tail, the tail's start, and an iterator over the index on
    /// disk, taken together: the iterator holds every group written before the start moved
    /// to where it is.
    pub(crate) fn view<'a>(&self, db: &'a DB, name: &str) -> TailView<'a> {
        let tail = self.inner.lock().expect("index tail");
        let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
        TailView {
            records: tail.records.get(name).cloned().unwrap_or_default(),
            start: tail.start,
            disk: db.raw_iterator_cf(cf),
        }
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
