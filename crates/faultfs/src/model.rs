//! The whole file system as plain data: inodes, open handles, the faults in force and the
//! counters. No FUSE here, so every rule is unit-testable; `fuse.rs` only translates.
//!
//! Operations are split by theme: names in `namespace.rs`, data and syncs in `io.rs`, the power
//! loss in `crash.rs`. This file holds the tables and the rules they share:
//! - Inode numbers are never reused, so the kernel can never mistake a new file for an old one.
//! - An inode is freed as soon as no current entry, durable entry or open handle refers to it.
//! - A handle opened before a power loss is stale afterwards: it answers EIO.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

use fuser::{Errno, FileAttr, FileType};

use crate::dir::{Dir, LinkChanges};
use crate::inode::{Body, Inode, Meta};
use crate::pages::PAGE_SIZE;
use crate::Counters;

mod crash;
mod io;
mod namespace;
#[cfg(test)]
mod tests;

pub(crate) use io::SetAttr;
pub(crate) use namespace::Owner;

pub(crate) const ROOT: u64 = 1;
/// Capacity that statfs reports: 1 TiB in 4 KiB blocks, and 2^32 inodes.
const TOTAL_BLOCKS: u64 = 1 << 28;
const TOTAL_FILES: u64 = 1 << 32;

pub(crate) struct Model {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// Power losses so far: a handle from an earlier epoch is stale.
    epoch: u64,
    disk_full: bool,
    fsync_fails: bool,
    counters: Counters,
}

struct Handle {
    ino: u64,
    epoch: u64,
    /// A directory handle's listing, taken when reading starts at offset 0.
    listing: Vec<DirEntry>,
}

pub(crate) struct DirEntry {
    pub(crate) ino: u64,
    pub(crate) kind: FileType,
    pub(crate) name: OsString,
}

/// What statfs reports, in 4 KiB blocks and inodes.
pub(crate) struct Statfs {
    pub(crate) blocks: u64,
    pub(crate) free_blocks: u64,
    pub(crate) files: u64,
    pub(crate) free_files: u64,
}

impl Model {
    /// An empty file system whose root belongs to `uid`/`gid`.
    pub(crate) fn new(uid: u32, gid: u32) -> Model {
        let mut root = Inode::new(Body::Dir(Dir::new(ROOT)), Meta::new(0o755, uid, gid));
        root.links = 1;
        root.durable_links = 1;
        Model {
            inodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            handles: HashMap::new(),
            next_fh: 1,
            epoch: 0,
            disk_full: false,
            fsync_fails: false,
            counters: Counters::default(),
        }
    }

    pub(crate) fn set_disk_full(&mut self, full: bool) {
        self.disk_full = full;
    }

    pub(crate) fn set_fsync_fails(&mut self, fails: bool) {
        self.fsync_fails = fails;
    }

    pub(crate) fn counters(&self) -> Counters {
        Counters {
            live_inodes: self.inodes.len() as u64,
            live_bytes: self.held_bytes(),
            ..self.counters.clone()
        }
    }

    pub(crate) fn statfs(&self) -> Statfs {
        let used_blocks = self.held_bytes().div_ceil(PAGE_SIZE as u64);
        let used_files = self.inodes.len() as u64;
        let free = |total: u64, used: u64| match self.disk_full {
            true => 0,
            false => total.saturating_sub(used),
        };
        Statfs {
            blocks: TOTAL_BLOCKS,
            free_blocks: free(TOTAL_BLOCKS, used_blocks),
            files: TOTAL_FILES,
            free_files: free(TOTAL_FILES, used_files),
        }
    }

    pub(crate) fn getattr(&self, ino: u64) -> Result<FileAttr, Errno> {
        Ok(self.inode(ino)?.attr(ino))
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Result<FileAttr, Errno> {
        let dir = self.dir(parent)?;
        let ino = match name.as_encoded_bytes() {
            b"." => parent,
            b".." => dir.parent,
            _ => dir.get(name).ok_or(Errno::ENOENT)?,
        };
        self.getattr(ino)
    }

    pub(crate) fn open(&mut self, ino: u64) -> Result<u64, Errno> {
        if self.inode(ino)?.kind() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        Ok(self.new_handle(ino))
    }

    pub(crate) fn opendir(&mut self, ino: u64) -> Result<u64, Errno> {
        self.dir(ino)?;
        Ok(self.new_handle(ino))
    }

    /// Closes a file or directory handle; unknown handles are ignored.
    pub(crate) fn release(&mut self, fh: u64) {
        let Some(handle) = self.handles.remove(&fh) else {
            return;
        };
        if let Some(inode) = self.inodes.get_mut(&handle.ino) {
            inode.opens = inode.opens.saturating_sub(1);
        }
        self.free_if_unreferenced(handle.ino);
    }

    fn new_handle(&mut self, ino: u64) -> u64 {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.opens += 1;
        }
        let fh = self.next_fh;
        self.next_fh += 1;
        let handle = Handle {
            ino,
            epoch: self.epoch,
            listing: Vec::new(),
        };
        self.handles.insert(fh, handle);
        fh
    }

    /// The handle `fh` on `ino`, refused if it predates a power loss.
    fn live_handle(&mut self, fh: u64, ino: u64) -> Result<&mut Handle, Errno> {
        let epoch = self.epoch;
        match self.handles.get_mut(&fh) {
            Some(handle) if handle.ino != ino => Err(Errno::EBADF),
            Some(handle) if handle.epoch != epoch => {
                self.counters.eio += 1;
                Err(Errno::EIO)
            }
            Some(handle) => Ok(handle),
            None => Err(Errno::EBADF),
        }
    }

    fn inode(&self, ino: u64) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn inode_mut(&mut self, ino: u64) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: u64) -> Result<&Dir, Errno> {
        self.inode(ino)?.dir()
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut Dir, Errno> {
        self.inode_mut(ino)?.dir_mut()
    }

    /// Refuses an operation that would allocate space while the disk is full.
    fn check_space(&mut self) -> Result<(), Errno> {
        if self.disk_full {
            self.counters.enospc += 1;
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    fn add_inode(&mut self, inode: Inode) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        ino
    }

    /// Counts the durable links a directory sync moved, and frees what lost its last one.
    fn apply_link_changes(&mut self, changes: LinkChanges) {
        for ino in changes.gained {
            if let Some(inode) = self.inodes.get_mut(&ino) {
                inode.durable_links += 1;
            }
        }
        for ino in changes.lost {
            if let Some(inode) = self.inodes.get_mut(&ino) {
                inode.durable_links = inode.durable_links.saturating_sub(1);
            }
            self.free_if_unreferenced(ino);
        }
    }

    /// Frees `ino` if nothing refers to it any more, and then whatever only it referred to.
    fn free_if_unreferenced(&mut self, ino: u64) {
        let mut candidates = vec![ino];
        while let Some(ino) = candidates.pop() {
            let unreferenced = self.inodes.get(&ino).is_some_and(|i| !i.is_referenced());
            if ino == ROOT || !unreferenced {
                continue;
            }
            let Some(Inode {
                body: Body::Dir(mut dir),
                ..
            }) = self.inodes.remove(&ino)
            else {
                continue;
            };
            let (current, durable) = dir.clear();
            for child in current {
                self.unlink_count(child, |inode| &mut inode.links);
                candidates.push(child);
            }
            for child in durable {
                self.unlink_count(child, |inode| &mut inode.durable_links);
                candidates.push(child);
            }
        }
    }

    fn unlink_count(&mut self, ino: u64, count: fn(&mut Inode) -> &mut u32) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            let count = count(inode);
            *count = count.saturating_sub(1);
        }
    }

    fn held_bytes(&self) -> u64 {
        self.inodes.values().map(Inode::held_bytes).sum()
    }
}
