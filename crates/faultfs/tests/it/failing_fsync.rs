//! A failing disk: fsync answers EIO, and what it should have made durable is lost even after
//! a later fsync succeeds (Linux's "fsyncgate" behaviour).

use std::fs::File;
use std::io::Write;

use crate::support::{assert_errno, fdatasync, fsync, read, Fs};

#[test]
fn a_failed_fsync_loses_its_data_even_after_a_later_fsync_succeeds() {
    let fs = Fs::new();
    let path = fs.path("wal");
    let mut wal = File::create(&path).unwrap();
    wal.write_all(b"before;").unwrap();
    wal.sync_all().unwrap();
    fsync(fs.root()).unwrap();

    wal.write_all(b"during;").unwrap();
    fs.control().set_fsync_fails(true);
    assert_errno(wal.sync_all(), libc::EIO);
    assert_errno(fdatasync(&wal), libc::EIO);
    assert_errno(fsync(fs.root()), libc::EIO);
    fs.control().set_fsync_fails(false);
    wal.sync_all().unwrap();
    assert_eq!(read(&path).unwrap(), b"before;during;", "still readable");
    drop(wal);

    fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"before;");
    assert_eq!(fs.control().counters().eio, 3);
}
