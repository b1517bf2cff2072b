//! The resource index's mark in `state_meta`: from which batch on every stored batch is
//! indexed (older ones, stored by a trentd from before the index, are scanned), and where
//! the in-memory tail starts (`audit_index_tail.rs`).
//!
//! Guarantees: the mark moves in the same write as the entries it counts. Each trentd
//! version that changed the index's form keeps its mark under a name of its own, and this
//! one removes the older names at every write of its mark, so an older trentd started on
//! this database (a downgrade) finds no mark of its own, marks its own start and scans the
//! batches before it rather than miss events in entries it cannot read (groups, or batches
//! only in this one's tail). Started again after such a downgrade, this one finds the older
//! mark and trusts the index only from it: the older trentd indexed every batch from its
//! start, but not the batches this one had only in its tail, and its compaction filter may
//! have dropped groups it took for single entries.

use rocksdb::{WriteBatch, DB};

use super::{CF_AUDIT_INDEX, CF_STATE_META};

/// This trentd's mark: the lowest seq from which every stored batch is indexed (u64 BE),
/// then the seq the tail starts at (u64 BE).
const MARK: &[u8] = b"audit_index_groups";
/// The mark of a trentd that wrote runs from apply (its lowest indexed seq).
const MARK_RUNS: &[u8] = b"audit_indexed_from_runs";
/// The mark of a trentd that wrote single-event entries.
const MARK_SINGLES: &[u8] = b"audit_indexed_from";

/// Puts the mark: every stored batch from `indexed_from` on is indexed, on disk below
/// `tail_from` (and in the tail above it).
pub(crate) fn put_marks(db: &DB, batch: &mut WriteBatch, indexed_from: u64, tail_from: u64) {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    let mut value = indexed_from.to_be_bytes().to_vec();
    value.extend_from_slice(&tail_from.to_be_bytes());
    batch.put_cf(meta, MARK, value);
    batch.delete_cf(meta, MARK_RUNS);
    batch.delete_cf(meta, MARK_SINGLES);
}

/// Deletes every entry and marks the whole (now empty) trail indexed, the tail starting at
/// `tail_from`: a snapshot install replaces the stored trail wholesale.
pub(crate) fn clear(db: &DB, batch: &mut WriteBatch, tail_from: u64) {
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    batch.delete_range_cf(cf, [0u8].as_slice(), [0xFFu8; 3].as_slice());
    put_marks(db, batch, 0, tail_from);
}

/// Removes every mark, as a database from before the index had none (tests).
#[cfg(test)]
pub(crate) fn forget_marks(db: &DB, batch: &mut WriteBatch) {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    for key in [MARK, MARK_RUNS, MARK_SINGLES] {
        batch.delete_cf(meta, key);
    }
}

/// The u64s a mark holds, if it is stored.
fn read_mark<const N: usize>(db: &DB, key: &[u8]) -> Result<Option<[u64; N]>, String> {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    let Some(bytes) = db
        .get_cf(meta, key)
        .map_err(|e| format!("reading the audit index mark: {e}"))?
    else {
        return Ok(None);
    };
    if bytes.len() != 8 * N {
        return Err(format!("the audit index mark is not {} bytes", 8 * N));
    }
    let mut out = [0u64; N];
    for (value, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *value = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
    }
    Ok(Some(out))
}

/// At open: (the lowest seq from which every stored batch is indexed, the tail's start).
/// Without a mark of this trentd, the tail starts empty at `next_seq`, and the index is
/// trusted from the older trentd's mark (the lower, if a second older one ran after the
/// first), or, on a database from before the index, from `next_seq` if it holds batches
/// (older ones are scanned) and from 0 if it holds none.
pub(crate) fn open_marks(
    db: &DB,
    holds_batches: bool,
    next_seq: u64,
) -> Result<(u64, u64), String> {
    let older = [MARK_RUNS, MARK_SINGLES]
        .into_iter()
        .map(|key| read_mark::<1>(db, key))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .map(|[from]| from)
        .min();
    let indexed_from = match (read_mark::<2>(db, MARK)?, older) {
        (Some([indexed_from, tail_from]), None) => return Ok((indexed_from, tail_from)),
        (_, Some(from)) => from,
        (None, None) if holds_batches => next_seq,
        (None, None) => 0,
    };
    let mut batch = WriteBatch::default();
    put_marks(db, &mut batch, indexed_from, next_seq);
    db.write(batch)
        .map_err(|e| format!("writing the audit index mark: {e}"))?;
    Ok((indexed_from, next_seq))
}
