//! What faultfs costs a log writer: N times (default 5000) append a 256-byte record and
//! fdatasync it, once in a temporary directory on the real disk and once on a faultfs mount,
//! and print the microseconds per write of each.
//!
//! `cargo run --release -p trent-faultfs --example write_cost [N]` (root: it mounts).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

const RECORD: [u8; 256] = [0x5a; 256];

fn main() -> io::Result<()> {
    let n: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse().expect("N: a number of writes"),
        None => 5000,
    };
    let disk = tempfile::tempdir()?;
    let disk_us = micros_per_write(disk.path(), n)?;

    let mountpoint = tempfile::tempdir()?;
    let mount = trent_faultfs::mount(mountpoint.path())?;
    let faultfs_us = micros_per_write(mountpoint.path(), n)?;
    mount.unmount()?;

    println!("{n} appends of {} bytes, each fdatasynced:", RECORD.len());
    println!(
        "  real disk ({}): {disk_us:8.1} µs/write",
        disk.path().display()
    );
    println!("  faultfs: {faultfs_us:8.1} µs/write");
    Ok(())
}

fn micros_per_write(dir: &Path, n: u32) -> io::Result<f64> {
    let path = dir.join("log");
    let mut log = OpenOptions::new().create(true).append(true).open(&path)?;
    let start = Instant::now();
    for _ in 0..n {
        log.write_all(&RECORD)?;
        fdatasync(&log)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(n))
}

fn fdatasync(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call.
    match unsafe { libc::fdatasync(file.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
