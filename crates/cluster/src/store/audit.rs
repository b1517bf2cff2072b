//! The audit trail on disk: sealed batches in their own column family, keyed by seq (u64
//! big-endian), written by the state machine in the same `WriteBatch` as the chain's tip, and
//! carried in snapshots after the state's records.
//!
//! Guarantees: a batch is on disk exactly when the tip that counts it is; a snapshot holds
//! the trail up to its last log id, so a node restored from one holds the same batches;
//! readers see batches in seq order, which is time order (`trent_state::audit`).

use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, DB};
use trent_state::{batch_key, StoredBatch};

use super::CF_AUDIT;

/// Snapshot record keys of audit batches begin with this byte; state record keys begin with
/// an ASCII tag, so the two never collide.
pub(crate) const SNAPSHOT_PREFIX: u8 = 0xFF;

/// The snapshot record key of batch `seq`.
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

/// Puts freshly sealed batches into `batch`.
pub(crate) fn put_sealed(db: &DB, batch: &mut WriteBatch, sealed: &[(u64, Vec<u8>)]) {
    let cf = db.cf_handle(CF_AUDIT).expect("cf");
    for (seq, bytes) in sealed {
        batch.put_cf(cf, batch_key(*seq), bytes);
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
}

impl AuditStore {
    pub(crate) fn new(db: Arc<DB>) -> AuditStore {
        AuditStore { db }
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
            let seq = u64::from_be_bytes(
                (&*k)
                    .try_into()
                    .map_err(|_| "an audit key is not 8 bytes".to_owned())?,
            );
            out.push((seq, StoredBatch::decode(&v)?));
        }
        Ok(out)
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

    /// The oldest stored seq (retention prunes the front), if any batch is stored.
    pub fn first_seq(&self) -> Result<Option<u64>, String> {
        Ok(self.batches(0, true, 1)?.first().map(|(seq, _)| *seq))
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
            match self.batch(mid)? {
                Some(b) if b.time >= time => hi = mid,
                _ => lo = mid + 1,
            }
        }
        Ok(lo)
    }
}
