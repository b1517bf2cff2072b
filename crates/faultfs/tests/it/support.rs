//! A mounted faultfs per test, and the system calls the tests make through it.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use trent_faultfs::{Control, Dropped, Mount};

/// A faultfs mounted on a fresh temporary directory; unmounted (before the directory is
/// removed) when dropped.
pub struct Fs {
    // Field order is drop order: the mount goes before its directory.
    _mount: Mount,
    control: Control,
    dir: TempDir,
}

impl Fs {
    pub fn new() -> Fs {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mount = trent_faultfs::mount(dir.path()).expect("mount faultfs (root only)");
        let control = mount.control();
        Fs {
            _mount: mount,
            control,
            dir,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    pub fn power_loss(&self) -> Dropped {
        self.control.power_loss()
    }
}

/// Creates (or truncates) `path` and writes `data`, syncing nothing.
pub fn write(path: &Path, data: &[u8]) {
    File::create(path).unwrap().write_all(data).unwrap();
}

/// Appends `data` to `path`, syncing nothing.
pub fn append(path: &Path, data: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(data).unwrap();
}

/// fsync of a file or a directory.
pub fn fsync(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

pub fn fdatasync(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call.
    match unsafe { libc::fdatasync(file.as_raw_fd()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `path`'s content, or None if it does not exist.
pub fn read(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(data) => Some(data),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// The names in directory `path`, sorted.
pub fn names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn statvfs(path: &Path) -> libc::statvfs {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is valid, and both pointers are valid for the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stat) }, 0);
    stat
}

/// Asserts that `result` failed with `errno`.
pub fn assert_errno<T: std::fmt::Debug>(result: io::Result<T>, errno: i32) {
    let error = result.expect_err("the call should have failed");
    assert_eq!(error.raw_os_error(), Some(errno), "{error}");
}
