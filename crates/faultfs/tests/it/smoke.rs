//! A RocksDB-like workload without RocksDB: a WAL appended and fdatasynced, table files
//! preallocated, written, synced and deleted, CURRENT replaced by rename, a checkpoint by hard
//! link. What it deletes must be freed, and a power loss must leave what it synced.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::{fdatasync, fsync, names, read, write, Fs};

const TABLE: usize = 64 * 1024;
const RECORD: usize = 300;
const ROUNDS: usize = 100;
const TABLES_KEPT: usize = 5;

fn table_name(n: usize) -> String {
    format!("{n:06}.sst")
}

fn write_table(db: &Path, n: usize) {
    let mut table = File::create(db.join(table_name(n))).unwrap();
    // SAFETY: the descriptor is open for the duration of the call.
    let reserved = unsafe {
        libc::fallocate(
            table.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            0,
            TABLE as i64,
        )
    };
    assert_eq!(reserved, 0);
    table.write_all(&[n as u8; TABLE]).unwrap();
    fdatasync(&table).unwrap();
}

fn replace_current(db: &Path, n: usize) {
    let tmp = db.join("CURRENT.tmp");
    write(&tmp, format!("MANIFEST-{n:06}").as_bytes());
    fsync(&tmp).unwrap();
    fs::rename(&tmp, db.join("CURRENT")).unwrap();
}

#[test]
fn a_rocksdb_like_workload_frees_what_it_deletes_and_keeps_what_it_synced() {
    let fs = Fs::new();
    let db = fs.path("db");
    fs::create_dir(&db).unwrap();
    fsync(fs.root()).unwrap();
    let wal_path = db.join("000001.log");
    let mut wal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&wal_path)
        .unwrap();
    for n in 1..=ROUNDS {
        wal.write_all(&[n as u8; RECORD]).unwrap();
        fdatasync(&wal).unwrap();
        write_table(&db, n);
        replace_current(&db, n);
        if n > TABLES_KEPT {
            fs::remove_file(db.join(table_name(n - TABLES_KEPT))).unwrap();
        }
        fsync(&db).unwrap();
    }
    drop(wal);

    let counters = fs.control().counters();
    // The root, db, the WAL, CURRENT and the tables kept.
    assert_eq!(counters.live_inodes, 4 + TABLES_KEPT as u64);
    let wal_pages = (ROUNDS * RECORD).div_ceil(4096);
    let expected_bytes = (TABLES_KEPT * TABLE + (wal_pages + 1) * 4096) as u64;
    assert_eq!(
        counters.live_bytes, expected_bytes,
        "synced data is held once"
    );

    let checkpoint = fs.path("checkpoint");
    fs::create_dir(&checkpoint).unwrap();
    fs::hard_link(
        db.join(table_name(ROUNDS)),
        checkpoint.join(table_name(ROUNDS)),
    )
    .unwrap();
    fsync(&checkpoint).unwrap();
    fsync(fs.root()).unwrap();

    let dropped = fs.power_loss();
    assert_eq!((dropped.bytes, dropped.entries), (0, 0));
    let mut expected: Vec<String> = (ROUNDS - TABLES_KEPT + 1..=ROUNDS)
        .map(table_name)
        .collect();
    expected.extend(["000001.log".into(), "CURRENT".into()]);
    expected.sort();
    assert_eq!(names(&db), expected);
    assert_eq!(
        read(&db.join("CURRENT")).unwrap(),
        format!("MANIFEST-{ROUNDS:06}").as_bytes()
    );
    assert_eq!(read(&wal_path).unwrap().len(), ROUNDS * RECORD);
    let linked = checkpoint.join(table_name(ROUNDS));
    assert_eq!(read(&linked).unwrap(), [ROUNDS as u8; TABLE]);
    assert_eq!(fs::metadata(&linked).unwrap().nlink(), 2);
}
