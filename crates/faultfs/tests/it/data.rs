//! File data: what fsync and fdatasync make durable, and nothing more.

use std::fs::{File, OpenOptions};
use std::io::Write;

use crate::support::{append, fdatasync, fsync, read, write, Fs};

#[test]
fn a_synced_write_survives_a_power_loss() {
    let fs = Fs::new();
    let path = fs.path("file");
    write(&path, b"durable");
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();
    let dropped = fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"durable");
    assert_eq!((dropped.bytes, dropped.entries), (0, 0));
}

#[test]
fn unsynced_writes_appends_and_truncates_are_gone() {
    let fs = Fs::new();
    let path = fs.path("file");
    let original: Vec<u8> = (0..10_000).map(|i| i as u8).collect();
    write(&path, &original);
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();

    let mut file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all(b"overwritten").unwrap();
    drop(file);
    append(&path, b"appended");
    assert_eq!(read(&path).unwrap().len(), 10_008);
    let dropped = fs.power_loss();
    assert_eq!(read(&path).unwrap(), original);
    assert_eq!(dropped.bytes, 2 * 4096, "the first and the last page");

    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10)
        .unwrap();
    assert_eq!(read(&path).unwrap(), original[..10]);
    fs.power_loss();
    assert_eq!(read(&path).unwrap(), original);
}

#[test]
fn a_write_after_the_last_fsync_is_gone_but_what_the_fsync_covered_stays() {
    let fs = Fs::new();
    let path = fs.path("log");
    let mut log = File::create(&path).unwrap();
    fsync(fs.root()).unwrap();
    log.write_all(b"record 1;").unwrap();
    log.sync_all().unwrap();
    log.write_all(b"record 2;").unwrap();
    drop(log);
    fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"record 1;");
}

#[test]
fn fdatasync_makes_data_durable_and_counts_as_a_sync() {
    let fs = Fs::new();
    let path = fs.path("wal");
    let mut wal = File::create(&path).unwrap();
    fsync(fs.root()).unwrap();
    let syncs = fs.control().counters().syncs;
    for record in [&b"a"[..], b"bb", b"ccc"] {
        wal.write_all(record).unwrap();
        fdatasync(&wal).unwrap();
    }
    drop(wal);
    let counters = fs.control().counters();
    assert_eq!(counters.syncs, syncs + 3);
    assert_eq!((counters.writes, counters.bytes_written), (3, 6));
    fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"abbccc");
}

#[test]
fn fallocate_grows_the_file_unless_keep_size_and_refuses_other_modes() {
    use std::os::fd::AsRawFd;

    let fs = Fs::new();
    let file = File::create(fs.path("file")).unwrap();
    let fallocate = |mode, len| {
        // SAFETY: the descriptor is open for the duration of the call.
        match unsafe { libc::fallocate(file.as_raw_fd(), mode, 0, len) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    fallocate(libc::FALLOC_FL_KEEP_SIZE, 8192).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 0);
    fallocate(0, 100).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 100);
    let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    crate::support::assert_errno(fallocate(punch, 10), libc::EOPNOTSUPP);
    assert_eq!(read(&fs.path("file")).unwrap(), [0; 100]);
}
