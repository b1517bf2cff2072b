//! One inode: what kind of file it is, its metadata (current and durable), and the counts that
//! decide how long it lives.
//!
//! An inode lives while a current entry, a durable entry or an open handle refers to it
//! ([`Inode::is_referenced`]); the model frees it as soon as none does.

use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::dir::Dir;
use crate::pages::{FileData, PAGE_SIZE};

/// Metadata that `fsync` (not `fdatasync`) makes durable.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) perm: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) atime: SystemTime,
    pub(crate) mtime: SystemTime,
    pub(crate) ctime: SystemTime,
    crtime: SystemTime,
}

impl Meta {
    pub(crate) fn new(perm: u16, uid: u32, gid: u32) -> Meta {
        let now = SystemTime::now();
        Meta {
            perm: perm & 0o7777,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
        }
    }
}

pub(crate) enum Body {
    File(FileData),
    Dir(Dir),
    Symlink(Vec<u8>),
    /// A fifo, socket or device node: nothing but metadata.
    Special(FileType, u32),
}

pub(crate) struct Inode {
    pub(crate) body: Body,
    pub(crate) meta: Meta,
    /// What a power loss leaves; an inode is written with its creation, so it starts as `meta`.
    durable_meta: Meta,
    /// Entries of the current namespace that name this inode.
    pub(crate) links: u32,
    /// Durable entries (of live directories) that name this inode.
    pub(crate) durable_links: u32,
    /// Open file and directory handles.
    pub(crate) opens: u32,
}

impl Inode {
    pub(crate) fn new(body: Body, meta: Meta) -> Inode {
        Inode {
            body,
            meta,
            durable_meta: meta,
            links: 0,
            durable_links: 0,
            opens: 0,
        }
    }

    pub(crate) fn kind(&self) -> FileType {
        match &self.body {
            Body::File(_) => FileType::RegularFile,
            Body::Dir(_) => FileType::Directory,
            Body::Symlink(_) => FileType::Symlink,
            Body::Special(kind, _) => *kind,
        }
    }

    pub(crate) fn is_referenced(&self) -> bool {
        self.links > 0 || self.durable_links > 0 || self.opens > 0
    }

    pub(crate) fn attr(&self, ino: u64) -> FileAttr {
        let (size, pages, rdev) = match &self.body {
            Body::File(data) => (data.size(), data.allocated_pages(), 0),
            Body::Dir(_) => (PAGE_SIZE as u64, 1, 0),
            Body::Symlink(target) => (target.len() as u64, 0, 0),
            Body::Special(_, rdev) => (0, 0, *rdev),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: pages * (PAGE_SIZE as u64 / 512),
            atime: self.meta.atime,
            mtime: self.meta.mtime,
            ctime: self.meta.ctime,
            crtime: self.meta.crtime,
            kind: self.kind(),
            perm: self.meta.perm,
            // Directories say 1 ("not counted"), which tools such as find(1) understand.
            nlink: if matches!(self.body, Body::Dir(_)) {
                1
            } else {
                self.links
            },
            uid: self.meta.uid,
            gid: self.meta.gid,
            rdev,
            blksize: PAGE_SIZE as u32,
            flags: 0,
        }
    }

    pub(crate) fn file(&self) -> Result<&FileData, Errno> {
        match &self.body {
            Body::File(data) => Ok(data),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn file_mut(&mut self) -> Result<&mut FileData, Errno> {
        match &mut self.body {
            Body::File(data) => Ok(data),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn dir(&self) -> Result<&Dir, Errno> {
        match &self.body {
            Body::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub(crate) fn dir_mut(&mut self) -> Result<&mut Dir, Errno> {
        match &mut self.body {
            Body::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The content changed: mtime and ctime.
    pub(crate) fn touch_modified(&mut self) {
        let now = SystemTime::now();
        self.meta.mtime = now;
        self.meta.ctime = now;
    }

    /// Only the metadata changed: ctime.
    pub(crate) fn touch_changed(&mut self) {
        self.meta.ctime = SystemTime::now();
    }

    /// An `fsync`/`fsyncdir`: the content and, unless `datasync`, the metadata become durable.
    pub(crate) fn sync(&mut self, datasync: bool) {
        if !datasync {
            self.durable_meta = self.meta;
        }
        match &mut self.body {
            Body::File(data) => data.sync(),
            // The model answers for the directory's entries (they move durable links).
            Body::Dir(_) | Body::Symlink(_) | Body::Special(..) => {}
        }
    }

    /// A failed sync: what it should have made durable counts as written, yet is not durable.
    pub(crate) fn mark_clean(&mut self) {
        match &mut self.body {
            Body::File(data) => data.mark_clean(),
            Body::Dir(dir) => dir.mark_clean(),
            Body::Symlink(_) | Body::Special(..) => {}
        }
    }

    /// What a power loss would drop here: (bytes, directory entries).
    pub(crate) fn volatile(&self) -> (u64, u64) {
        match &self.body {
            Body::File(data) => (data.volatile_bytes(), 0),
            Body::Dir(dir) => (0, dir.volatile_entries()),
            Body::Symlink(_) | Body::Special(..) => (0, 0),
        }
    }

    /// Drops every change that is not durable (the counts are the model's business).
    pub(crate) fn restore_durable(&mut self) {
        self.meta = self.durable_meta;
        match &mut self.body {
            Body::File(data) => data.restore_durable(),
            Body::Dir(dir) => dir.restore_durable(),
            Body::Symlink(_) | Body::Special(..) => {}
        }
    }

    pub(crate) fn held_bytes(&self) -> u64 {
        match &self.body {
            Body::File(data) => data.held_bytes(),
            Body::Symlink(target) => target.len() as u64,
            Body::Dir(_) | Body::Special(..) => 0,
        }
    }
}
