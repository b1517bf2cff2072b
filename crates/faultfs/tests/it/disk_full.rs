//! A full disk: what would allocate answers ENOSPC, and nothing durable is harmed.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};

use crate::support::{assert_errno, fsync, read, statvfs, write, Fs};

#[test]
fn a_full_disk_answers_enospc_and_recovers_when_freed() {
    let fs = Fs::new();
    let path = fs.path("file");
    write(&path, b"synced");
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();
    assert!(statvfs(fs.root()).f_bfree > 0);

    fs.control().set_disk_full(true);
    let mut file = File::options().append(true).open(&path).unwrap();
    let error = file.write_all(b" more").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StorageFull);
    assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
    assert_errno(File::create(fs.path("new")), libc::ENOSPC);
    assert_errno(fs::create_dir(fs.path("dir")), libc::ENOSPC);
    assert_errno(file.set_len(1 << 20), libc::ENOSPC);
    let stat = statvfs(fs.root());
    assert_eq!((stat.f_bfree, stat.f_bavail), (0, 0));
    assert!(fs.control().counters().enospc >= 4);
    // What frees or touches no space still works.
    assert_eq!(read(&path).unwrap(), b"synced");
    fsync(&path).unwrap();

    fs.control().set_disk_full(false);
    file.write_all(b" more").unwrap();
    file.sync_all().unwrap();
    drop(file);
    fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"synced more");
}
