//! trent-faultfs: a FUSE file system for the chaos harness that forgets, on a simulated power
//! loss, every change not yet made durable (in the spirit of Jepsen's LazyFS), and that can
//! also fill up (ENOSPC) or fail its syncs (EIO).
//!
//! [`mount`] serves an empty file system, held wholly in memory, from a background thread of
//! the calling process; [`Control`] injects the faults and reads the [`Counters`].
//!
//! # Durability model
//!
//! The file system keeps two states: the current one, which every read sees, and the durable
//! one, which is what a [`Control::power_loss`] leaves. They differ only by what POSIX lets a
//! crash lose, read strictly:
//! - File data and size change in the current state only (write, truncate, fallocate).
//!   `fsync` and `fdatasync` make that file's data and size durable (`fsync` its metadata
//!   too); closing a file makes nothing durable. Data is kept in 4 KiB pages; a power loss
//!   loses whole pages changed since the last sync.
//! - Names change in the current state only (create, mknod, mkdir, symlink, link, unlink,
//!   rmdir, rename). `fsync` on a directory makes its current entries durable: the names
//!   added, removed or replaced in it. A rename across directories is made durable half by
//!   each: the new name by syncing the target directory, the removal by syncing the source.
//! - A new inode is durable as created (empty), but is reachable after a power loss only
//!   through durable entries: a file whose data was synced but whose directory was not is gone;
//!   an entry made durable whose file was never synced comes back empty; a new directory
//!   survives only if its parent was synced after the mkdir, with only the entries synced in
//!   it.
//!
//! A power loss keeps the inode numbers of what survives and frees the rest. Inodes are also
//! freed, in normal running, as soon as no current entry, durable entry or open handle refers
//! to them, so deleting files returns their memory.
//!
//! The kernel keeps nothing that could outlive a power loss: files are opened with
//! `FOPEN_DIRECT_IO` (no page cache; shared mmap is not supported), and entries and attributes
//! are given a time-to-live of zero.
//!
//! # Faults
//!
//! - [`Control::set_disk_full`]: whatever would allocate space answers ENOSPC.
//! - [`Control::set_fsync_fails`]: syncs answer EIO and, as Linux does after a writeback error
//!   ("fsyncgate"), mark what they should have made durable clean without it being durable: it
//!   stays readable, a later sync answers OK without making it durable, a power loss drops it.

mod dir;
mod fuse;
mod inode;
mod model;
mod pages;
mod session;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use session::Mount;

use model::Model;

/// Mounts an empty fault-injecting file system at `mountpoint` (an existing empty directory),
/// served by a background thread of this process. Root only.
pub fn mount(mountpoint: &Path) -> std::io::Result<Mount> {
    session::mount(mountpoint)
}

/// The fault switches and counters of one mount. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Control {
    model: Arc<Mutex<Model>>,
}

/// What a power loss dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// File data changed since it was last made durable, in whole 4 KiB pages.
    pub bytes: u64,
    /// Directory entries (names added, removed or replaced) whose change was not durable.
    pub entries: u64,
}

/// What the file system did since it was mounted, and what it holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Write requests served.
    pub writes: u64,
    /// Bytes those writes carried.
    pub bytes_written: u64,
    /// fsync, fdatasync and directory fsync requests (failed ones included).
    pub syncs: u64,
    /// Calls of [`Control::power_loss`].
    pub power_losses: u64,
    /// Requests answered ENOSPC.
    pub enospc: u64,
    /// Requests answered EIO: failed syncs, and handles left stale by a power loss.
    pub eio: u64,
    /// Inodes held now (the root included).
    pub live_inodes: u64,
    /// Memory held now for file data (current and durable pages) and symlink targets.
    pub live_bytes: u64,
}

impl Control {
    fn new(model: Arc<Mutex<Model>>) -> Control {
        Control { model }
    }

    /// As if the machine lost power: every change not yet durable is gone (file data, sizes,
    /// created/removed/renamed directory entries). Call it only when no process has files
    /// open on the mount; handles opened before are stale afterwards (they answer EIO).
    pub fn power_loss(&self) -> Dropped {
        self.model().power_loss()
    }

    /// Full disk: every operation that would allocate space answers ENOSPC (write, create,
    /// mknod, mkdir, symlink, link, fallocate, a truncate that grows), statfs reports 0 free.
    pub fn set_disk_full(&self, full: bool) {
        self.model().set_disk_full(full);
    }

    /// Failing disk: fsync/fdatasync/fsyncdir answer EIO, and what they should have made
    /// durable is marked clean without being durable: it stays readable, a later sync (after
    /// the fault ends) answers OK but does not make it durable, and a power loss drops it.
    pub fn set_fsync_fails(&self, fails: bool) {
        self.model().set_fsync_fails(fails);
    }

    pub fn counters(&self) -> Counters {
        self.model().counters()
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        lock(&self.model)
    }
}

/// Locks the model. A panic in one request (a bug) should fail that request, not every later
/// one and the mount with it, so a poisoned lock is used as is.
fn lock(model: &Mutex<Model>) -> MutexGuard<'_, Model> {
    model.lock().unwrap_or_else(PoisonError::into_inner)
}
