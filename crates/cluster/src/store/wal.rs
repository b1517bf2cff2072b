//! WAL recycling: every log fsync overwrites blocks the file already has.
//!
//! Each acknowledged write waits for an `fdatasync` of RocksDB's WAL on the leader and on a
//! follower. On ext4 (and xfs) an fdatasync after an append that grew the file must also
//! commit the inode's new size through the journal; one over blocks the file already holds
//! need not. Here that is 180-200 µs against 120-140 µs (docs/BENCHMARKS.md), a tenth of a
//! one-client write. RocksDB preallocates its WAL with `FALLOC_FL_KEEP_SIZE`, which does not
//! help: the size still grows with every record.
//!
//! RocksDB's `recycle_log_file_num` reuses obsolete WAL files instead of deleting them, and
//! its record format carries the log number, so recovery stops at the first stale record of
//! a reused file instead of replaying old data (the default `kPointInTimeRecovery` mode
//! supports it). But RocksDB recycles only files that became obsolete after the database
//! was opened, so every start would run on a growing file until the first memtable switch,
//! tens of MB of writes later. [`rotate_onto_filled_wal`] makes the switches happen at
//! open: it writes `mb` of filler to the WAL only (`put_log_data`, never a memtable),
//! syncs it, retires the file with a flush, and does so once more, so the live WAL is a
//! filled file reused and the next one waits on the list. Nothing in the filler is ever
//! read back; it costs twice `mb` of disk and of sequential writes per start. Later files
//! stay that size because memtables are kept small enough to switch the WAL first
//! ([`column_family_options`]).

use rocksdb::{FlushOptions, Options, WriteBatch, DB};

use super::{CF_STATE_META, COLUMN_FAMILIES};

/// Obsolete WAL files kept for reuse. RocksDB switches WALs at every memtable flush; a few
/// spare files cover flushes of several column families in a row.
const RECYCLED_FILES: usize = 4;
/// Filler written per `put_log_data` call.
const CHUNK: usize = 1 << 20;
/// A key no other part of the store uses, written and deleted to force a WAL switch.
const ROTATE_KEY: &[u8] = b"wal-rotate";

/// Turns recycling on in `options` unless `mb` is 0.
pub(super) fn configure(options: &mut Options, mb: u64) {
    if mb > 0 {
        options.set_recycle_log_file_num(RECYCLED_FILES);
        // A full memtable flushes every column family at once, with one WAL switch.
        options.set_atomic_flush(true);
    }
}

/// The options of each column family: with recycling, memtables small enough that one
/// fills (and switches the WAL) before the file outgrows the `mb` already written.
pub(super) fn column_family_options(mb: u64) -> Options {
    let mut options = Options::default();
    if mb > 0 {
        // The log and the state each take about half of what the WAL receives, and a
        // memtable's size counts more than the bytes written to it.
        options.set_write_buffer_size(((mb << 20) / 2) as usize);
    }
    options
}

/// Leaves `db` writing to a WAL file that already holds `mb` of written blocks, with one
/// more such file on the recycle list (see the module docs). Does nothing for `mb` 0.
///
/// Two files, because RocksDB reuses the oldest file on its list at each switch: a small
/// file left there by the switches here would make the first natural generation grow again.
pub(super) fn rotate_onto_filled_wal(db: &DB, mb: u64) -> Result<(), rocksdb::Error> {
    if mb == 0 {
        return Ok(());
    }
    // The live file filled, then retired: it goes on the list as the next one starts.
    fill(db, mb)?;
    switch_wal(db)?;
    // The new (fresh) file filled and retired: the switch reuses the first file.
    fill(db, mb)?;
    switch_wal(db)
}

/// Appends `mb` of filler to the live WAL and syncs it, so its blocks are allocated now,
/// not at the first fdatasync of real traffic.
fn fill(db: &DB, mb: u64) -> Result<(), rocksdb::Error> {
    let filler = vec![0u8; CHUNK];
    for _ in 0..mb {
        let mut batch = WriteBatch::default();
        batch.put_log_data(&filler);
        db.write(batch)?;
    }
    db.flush_wal(true)
}

/// Forces a WAL switch: a memtable with something in it, then a flush of every column
/// family, after which nothing lives in the old file and RocksDB lists it for reuse. The
/// key is deleted again, so the state sees nothing.
fn switch_wal(db: &DB) -> Result<(), rocksdb::Error> {
    let meta = db.cf_handle(CF_STATE_META).expect("column family exists");
    let mut batch = WriteBatch::default();
    batch.put_cf(meta, ROTATE_KEY, b"");
    batch.delete_cf(meta, ROTATE_KEY);
    db.write(batch)?;
    let cfs: Vec<_> = COLUMN_FAMILIES
        .iter()
        .map(|name| db.cf_handle(name).expect("column family exists"))
        .collect();
    let mut flush = FlushOptions::default();
    flush.set_wait(true);
    db.flush_cfs_opt(&cfs, &flush)
}
