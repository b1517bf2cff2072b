//! The kernel serves nothing stale after a power loss: data, sizes and names all come from the
//! file system again.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};

use crate::support::{fsync, names, read, write, Fs};

#[test]
fn a_fresh_open_after_a_power_loss_reads_the_durable_content() {
    let fs = Fs::new();
    let path = fs.path("file");
    write(&path, &[b'd'; 5000]);
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();

    // Read the volatile content through the kernel first, so that any cache would hold it.
    let mut file = File::options().read(true).write(true).open(&path).unwrap();
    file.write_all(&[b'v'; 9000]).unwrap();
    let mut seen = Vec::new();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_to_end(&mut seen).unwrap();
    assert_eq!(seen, [b'v'; 9000]);
    assert_eq!(fs::metadata(&path).unwrap().len(), 9000);
    write(&fs.path("volatile-name"), b"");
    assert_eq!(names(fs.root()), ["file", "volatile-name"]);
    drop(file);

    fs.power_loss();
    assert_eq!(fs::metadata(&path).unwrap().len(), 5000);
    assert_eq!(read(&path).unwrap(), [b'd'; 5000]);
    assert_eq!(names(fs.root()), ["file"]);
    assert!(fs::metadata(fs.path("volatile-name")).is_err());
}

#[test]
fn a_handle_opened_before_a_power_loss_is_stale() {
    let fs = Fs::new();
    let path = fs.path("file");
    write(&path, b"x");
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();
    let mut file = File::open(&path).unwrap();
    fs.power_loss();
    let error = file.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EIO));
}

#[test]
fn an_append_after_a_power_loss_starts_at_the_durable_size() {
    let fs = Fs::new();
    let path = fs.path("log");
    write(&path, b"abc");
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();
    crate::support::append(&path, b"-lost-");
    fs.power_loss();
    crate::support::append(&path, b"X");
    assert_eq!(read(&path).unwrap(), b"abcX");
}
