//! The audit trail on disk: sealed batches in their own column family, keyed by seq (u64
//! big-endian), written by the state machine in the same `WriteBatch` as the chain's tip.
//!
//! Snapshots do not carry the trail (it would be copied whole at every snapshot, and held
//! whole in memory to send one): a node restored from a snapshot holds the chain's tip but
//! not the batches before it, and fetches them from its peers (`audit_backfill.rs`),
//! verifying each against the hash its successor names, newest first.
//!
//! Guarantees: a batch is on disk exactly when the tip that counts it is; the store holds
//! every batch from [`AuditStore::held_from`] up to the tip, with no hole (apply appends at
//! the top, a backfill writes the batch just below, retention cuts the bottom); readers see
//! batches in seq order, which is time order (`trent_state::audit`), and ask
//! [`AuditStore::missing_below`] before they trust the store to hold the whole trail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, DB};
use trent_state::{batch_key, AuditTip, BatchHeader, StoredBatch};

use super::audit_index::{self, Entry};
use super::audit_index_tail::{IndexTail, Staged};
use super::CF_AUDIT;

/// Snapshot record keys of audit batches begin with this byte; state record keys begin with
/// an ASCII tag, so the two never collide. Snapshots made before the trail left them carry
/// such records; installing one stores them.
pub(crate) const SNAPSHOT_PREFIX: u8 = 0xFF;

/// The snapshot record key of batch `seq` (as snapshots made before the trail left them).
#[cfg(test)]
pub(crate) fn snapshot_key(seq: u64) -> Vec<u8> {
    let mut key = vec![SNAPSHOT_PREFIX];
    key.extend_from_slice(&batch_key(seq));
    key
}

/// The batch a snapshot record key names, if it names one.
pub(crate) fn snapshot_seq(key: &[u8]) -> Option<u64> {
    match key.split_first() {
        Some((&SNAPSHOT_PREFIX, seq)) => Some(u64::from_be_bytes(seq.try_into().ok()?)),
        _ => None,
    }
}

/// Deletes batches `[from, to)` (retention) in `batch`.
pub(crate) fn delete_pruned(db: &DB, batch: &mut WriteBatch, from: u64, to: u64) {
    let cf = db.cf_handle(CF_AUDIT).expect("cf");
    batch.delete_range_cf(cf, batch_key(from), batch_key(to));
}

/// Reads the stored trail.
#[derive(Clone)]
pub struct AuditStore {
    db: Arc<DB>,
    /// Every batch from this seq up to the tip is stored.
    held_from: Arc<AtomicU64>,
    /// Held by a backfill's write and by a snapshot install, so a batch fetched for the trail
    /// before an install never lands in the store after it.
    writing: Arc<tokio::sync::Mutex<()>>,
    /// Every stored batch from this seq on is in the resource index (`audit_index.rs`).
    indexed_from: Arc<AtomicU64>,
    /// The index of the newest batches, in memory (`audit_index_tail.rs`).
    tail: Arc<IndexTail>,
    /// The state's oldest kept batch: index entries below it are dropped as they compact.
    front: Arc<AtomicU64>,
}

impl AuditStore {
    /// The store of `db`, whose state's tip is `tip`; `front` is the atomic the index's
    /// compaction filter reads.
    pub(crate) fn new(
        db: Arc<DB>,
        tip: &AuditTip,
        front: Arc<AtomicU64>,
    ) -> Result<AuditStore, String> {
        let store = AuditStore {
            db,
            held_from: Arc::new(AtomicU64::new(0)),
            writing: Arc::default(),
            indexed_from: Arc::new(AtomicU64::new(0)),
            tail: Arc::default(),
            front,
        };
        store.recount(tip)?;
        // Stored batches lie below the tip: the run starts below it exactly when one is stored.
        let holds = store.held_from() < tip.next_seq;
        let (indexed, tail_from) = audit_index::open_marks(&store.db, holds, tip.next_seq)?;
        store.indexed_from.store(indexed, Ordering::SeqCst);
        store.tail.reset(tail_from);
        store.visit_stored_from(tail_from, |seq, bytes| {
            store.tail.restore(&store.db, indexed, seq, bytes)
        })?;
        Ok(store)
    }

    /// Hands `visit` the stored bytes of every batch from seq `from` on, oldest first.
    fn visit_stored_from(
        &self,
        from: u64,
        mut visit: impl FnMut(u64, &[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(batch_key(from));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            visit(seq_of(k)?, v)?;
            it.next();
        }
        it.status()
            .map_err(|e| format!("reading the audit trail: {e}"))
    }

    /// Puts freshly sealed batches into `batch` with their index: in the tail, or, when they
    /// fill it, with the tail as groups. [`AuditStore::sealed_written`] once `batch` is.
    pub(crate) fn put_sealed(&self, batch: &mut WriteBatch, sealed: &[(u64, Vec<u8>)]) -> Staged {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        for (seq, bytes) in sealed {
            batch.put_cf(cf, batch_key(*seq), bytes);
        }
        self.tail
            .stage(&self.db, batch, sealed, self.indexed_from())
    }

    /// The write of [`AuditStore::put_sealed`]'s batch succeeded.
    pub(crate) fn sealed_written(&self, staged: Staged) {
        self.tail.commit(staged);
    }

    /// Finds where the stored run begins after the store changed wholesale (opened, or a
    /// snapshot installed, which also indexed all it stored): the first stored batch, or
    /// the tip's next seq when none is.
    pub(crate) fn recount(&self, tip: &AuditTip) -> Result<(), String> {
        let first = self.first_seq()?.unwrap_or(tip.next_seq).min(tip.next_seq);
        self.held_from.store(first, Ordering::SeqCst);
        self.pruned_before(tip.first_seq);
        Ok(())
    }

    /// Retention deleted the batches before `seq`.
    pub(crate) fn pruned_before(&self, seq: u64) {
        self.front.fetch_max(seq, Ordering::SeqCst);
    }

    /// Every stored batch from this seq on is in the resource index; older ones (stored by a
    /// trentd from before the index) must be scanned.
    pub fn indexed_from(&self) -> u64 {
        self.indexed_from.load(Ordering::SeqCst)
    }

    /// Compacts the index, running its retention filter (tests).
    #[cfg(test)]
    pub(crate) fn compact_index(&self) {
        let cf = self.db.cf_handle(super::CF_AUDIT_INDEX).expect("cf");
        self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
    }

    /// Deletes the index and its mark, as a database from before the index had neither
    /// (tests).
    #[cfg(test)]
    pub(crate) fn forget_index(&self) {
        let mut batch = WriteBatch::default();
        audit_index::clear(&self.db, &mut batch, 0);
        audit_index::forget_marks(&self.db, &mut batch);
        self.db.write(batch).unwrap();
    }

    /// Writes the tail's batches to disk as a trentd before runs wrote them: one entry per
    /// event (tests).
    #[cfg(test)]
    pub(crate) fn tail_to_disk_as_singles(&self) {
        self.tail_to_disk_as(audit_index::put_single_entries_of_bytes);
    }

    /// Writes the tail's batches to disk as runs, as a backfill or a trentd before groups
    /// wrote them (tests).
    #[cfg(test)]
    pub(crate) fn tail_to_disk_as_runs(&self) {
        self.tail_to_disk_as(audit_index::put_entries_of_bytes);
    }

    /// Writes the index of the tail's batches to disk with `put`, leaving the tail empty
    /// (tests).
    #[cfg(test)]
    fn tail_to_disk_as(&self, put: impl Fn(&DB, &mut WriteBatch, u64, &[u8])) {
        let mut next = self.tail.start();
        let mut batch = WriteBatch::default();
        self.visit_stored_from(next, |seq, bytes| {
            put(&self.db, &mut batch, seq, bytes);
            next = seq + 1;
            Ok(())
        })
        .unwrap();
        audit_index::put_marks(&self.db, &mut batch, self.indexed_from(), next);
        self.db.write(batch).unwrap();
        self.tail.reset(next);
    }

    /// Where the in-memory tail of the index starts (tests).
    #[cfg(test)]
    pub(crate) fn tail_from(&self) -> u64 {
        self.tail.start()
    }

    /// The database (tests).
    #[cfg(test)]
    pub(crate) fn db_for_tests(&self) -> Arc<DB> {
        self.db.clone()
    }

    /// A snapshot install replaced the stored trail and indexed all it stored; its tail
    /// starts at `next_seq`, the installed tip's.
    pub(crate) fn reindexed(&self, next_seq: u64) {
        self.indexed_from.store(0, Ordering::SeqCst);
        self.tail.reset(next_seq);
    }

    /// Hands `visit` the index entries of the resource `name` (see
    /// [`audit_index::index_name`]) at or below event `index` of batch `seq`, newest first,
    /// until it answers false. Entries may name batches no longer stored.
    pub fn resource_entries(
        &self,
        name: &str,
        seq: u64,
        index: u32,
        visit: impl FnMut(Entry) -> Result<bool, String>,
    ) -> Result<(), String> {
        let name = audit_index::index_name(name);
        audit_index::walk_back(self.tail.view(&self.db, name), name, seq, index, visit)
    }

    /// Every batch from this seq up to the tip is stored.
    pub fn held_from(&self) -> u64 {
        self.held_from.load(Ordering::SeqCst)
    }

    /// The seq below which batches the state keeps (from `tip.first_seq` on) are not stored
    /// here yet, if any are not: this node was restored from a snapshot and its backfill has
    /// not reached them.
    pub fn missing_below(&self, tip: &AuditTip) -> Option<u64> {
        let held = self.held_from();
        (held > tip.first_seq).then_some(held)
    }

    /// Taken around a write that replaces the store wholesale (a snapshot install) and around
    /// a backfill's write.
    pub(crate) async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writing.lock().await
    }

    /// Stores `batches`, verified by the caller, newest first, the first of them the batch just
    /// below [`AuditStore::held_from`] (else nothing is written). `front` answers the state's
    /// oldest kept batch now: none below it is written, and any written below it while
    /// retention moved it is deleted again. Answers how many were stored.
    pub(crate) async fn fill(
        &self,
        batches: &[(u64, Vec<u8>)],
        front: impl Fn() -> u64,
    ) -> Result<usize, String> {
        let _writing = self.exclusive().await;
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let first = front();
        let held_before = self.held_from();
        let mut lowest = held_before;
        let mut batch = WriteBatch::default();
        for (seq, bytes) in batches {
            if seq.checked_add(1) != Some(lowest) || *seq < first {
                break;
            }
            batch.put_cf(cf, batch_key(*seq), bytes);
            audit_index::put_entries_of_bytes(&self.db, &mut batch, *seq, bytes);
            lowest = *seq;
        }
        let stored = held_before.saturating_sub(lowest) as usize;
        if stored == 0 {
            return Ok(0);
        }
        self.db
            .write(batch)
            .map_err(|e| format!("storing fetched audit batches: {e}"))?;
        self.held_from.store(lowest, Ordering::SeqCst);
        // Retention prunes by moving the state's front, then deleting below it: a prune that
        // moved the front after `first` was read may have deleted before this write.
        let now = front();
        if now > first {
            let mut cut = WriteBatch::default();
            cut.delete_range_cf(cf, batch_key(0), batch_key(now));
            self.db
                .write(cut)
                .map_err(|e| format!("deleting pruned audit batches: {e}"))?;
        }
        Ok(stored)
    }

    /// The stored bytes of the batches below seq `below`, newest first, while they follow
    /// one another, up to about `max_bytes` (at least one): what a peer's backfill asks for.
    pub fn stored_below(
        &self,
        below: u64,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let Some(start) = below.checked_sub(1) else {
            return Ok(Vec::new());
        };
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek_for_prev(batch_key(start));
        let (mut out, mut bytes, mut want) = (Vec::new(), 0usize, start);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if seq_of(k)? != want || (bytes >= max_bytes && !out.is_empty()) {
                break;
            }
            bytes += v.len();
            out.push((want, v.to_vec()));
            let Some(next) = want.checked_sub(1) else {
                break;
            };
            want = next;
            it.prev();
        }
        it.status()
            .map_err(|e| format!("reading the audit trail: {e}"))?;
        Ok(out)
    }

    /// Up to `limit` batches from seq `from` on (`forward`) or from `from` down.
    pub fn batches(
        &self,
        from: u64,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<(u64, StoredBatch)>, String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let key = batch_key(from);
        let direction = if forward {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf_opt(
            cf,
            ReadOptions::default(),
            IteratorMode::From(&key, direction),
        ) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| format!("reading the audit trail: {e}"))?;
            out.push((seq_of(&k)?, StoredBatch::decode(&v)?));
        }
        Ok(out)
    }

    /// Hands `visit` each batch's seq, time and event count from seq `from` on, without
    /// copying or decoding its events, until `visit` answers false or `limit` were visited.
    pub fn visit_headers(
        &self,
        from: u64,
        limit: usize,
        mut visit: impl FnMut(u64, BatchHeader) -> bool,
    ) -> Result<(), String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(batch_key(from));
        for _ in 0..limit {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !visit(seq_of(k)?, StoredBatch::decode_header(v)?) {
                return Ok(());
            }
            it.next();
        }
        it.status()
            .map_err(|e| format!("reading the audit trail: {e}"))
    }

    /// Batch `seq`, if stored.
    pub fn batch(&self, seq: u64) -> Result<Option<StoredBatch>, String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        self.db
            .get_cf(cf, batch_key(seq))
            .map_err(|e| format!("reading the audit trail: {e}"))?
            .map(|v| StoredBatch::decode(&v))
            .transpose()
    }

    /// Event `index` of batch `seq`, if both are stored.
    pub fn event(&self, seq: u64, index: u32) -> Result<Option<String>, String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        let Some(bytes) = self
            .db
            .get_pinned_cf(cf, batch_key(seq))
            .map_err(|e| format!("reading the audit trail: {e}"))?
        else {
            return Ok(None);
        };
        Ok(StoredBatch::event_at(&bytes, index as usize)?.map(str::to_owned))
    }

    /// Batch `seq`'s time and event count, if stored.
    pub fn header(&self, seq: u64) -> Result<Option<BatchHeader>, String> {
        let cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        self.db
            .get_pinned_cf(cf, batch_key(seq))
            .map_err(|e| format!("reading the audit trail: {e}"))?
            .map(|v| StoredBatch::decode_header(&v))
            .transpose()
    }

    /// The oldest stored seq (retention prunes the front), if any batch is stored.
    pub fn first_seq(&self) -> Result<Option<u64>, String> {
        let mut first = None;
        self.visit_headers(0, 1, |seq, _| {
            first = Some(seq);
            false
        })?;
        Ok(first)
    }

    /// The first stored batch applied at or after `time` (ms), by binary search over seqs
    /// (batch times never decrease with seq); `end` is the tip's next seq.
    pub fn first_at_or_after(&self, time: u64, end: u64) -> Result<u64, String> {
        let Some(mut lo) = self.first_seq()? else {
            return Ok(end);
        };
        let mut hi = end;
        // Seqs are contiguous from the oldest kept to the tip; one pruned meanwhile counts
        // as older than `time`.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.header(mid)? {
                Some(b) if b.time >= time => hi = mid,
                _ => lo = mid + 1,
            }
        }
        Ok(lo)
    }
}

/// The seq a stored batch key names.
fn seq_of(key: &[u8]) -> Result<u64, String> {
    Ok(u64::from_be_bytes(
        key.try_into()
            .map_err(|_| "an audit key is not 8 bytes".to_owned())?,
    ))
}
