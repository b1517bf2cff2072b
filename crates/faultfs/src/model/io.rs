//! Data and syncs: read, write, setattr, fallocate, fsync, fsyncdir, readdir.
//!
//! Writes, truncates and fallocate change the current state only; `fsync`/`fdatasync` make a
//! file's data and size durable and `fsyncdir` a directory's entries. While the disk is full,
//! what would allocate answers ENOSPC; while fsync fails, a sync answers EIO and leaves what it
//! should have made durable marked clean but not durable.

use std::time::SystemTime;

use fuser::{Errno, FileAttr, TimeOrNow};

use super::{DirEntry, Model};

/// The largest file size accepted (the kernel's own limit is larger; this one keeps offsets
/// far from overflowing).
const MAX_FILE_SIZE: u64 = 1 << 50;

/// The changes a setattr asks for.
#[derive(Default)]
pub(crate) struct SetAttr {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
    pub(crate) ctime: Option<SystemTime>,
}

impl Model {
    pub(crate) fn read(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, Errno> {
        self.live_handle(fh, ino)?;
        Ok(self.inode(ino)?.file()?.read(offset, len))
    }

    pub(crate) fn write(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u32, Errno> {
        self.live_handle(fh, ino)?;
        self.inode(ino)?.file()?;
        if data.is_empty() {
            return Ok(0);
        }
        check_size(offset.checked_add(data.len() as u64))?;
        self.check_space()?;
        let inode = self.inode_mut(ino)?;
        inode.file_mut()?.write(offset, data);
        inode.touch_modified();
        self.counters.writes += 1;
        self.counters.bytes_written += data.len() as u64;
        Ok(data.len() as u32)
    }

    pub(crate) fn setattr(
        &mut self,
        ino: u64,
        fh: Option<u64>,
        change: SetAttr,
    ) -> Result<FileAttr, Errno> {
        if let Some(fh) = fh {
            self.live_handle(fh, ino)?;
        }
        if let Some(size) = change.size {
            self.set_size(ino, size)?;
        }
        let inode = self.inode_mut(ino)?;
        let meta = &mut inode.meta;
        if let Some(mode) = change.mode {
            meta.perm = (mode & 0o7777) as u16;
        }
        meta.uid = change.uid.unwrap_or(meta.uid);
        meta.gid = change.gid.unwrap_or(meta.gid);
        meta.atime = change.atime.map_or(meta.atime, time);
        meta.mtime = change.mtime.map_or(meta.mtime, time);
        inode.touch_changed();
        if let Some(ctime) = change.ctime {
            inode.meta.ctime = ctime;
        }
        Ok(inode.attr(ino))
    }

    /// Mode 0 reserves space and grows the file to cover it; `FALLOC_FL_KEEP_SIZE` only
    /// reserves (nothing to do in memory, but a full disk refuses it).
    pub(crate) fn fallocate(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        len: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        self.live_handle(fh, ino)?;
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let end = check_size(offset.checked_add(len))?;
        let size = self.inode(ino)?.file()?.size();
        self.check_space()?;
        if mode == 0 && end > size {
            let inode = self.inode_mut(ino)?;
            inode.file_mut()?.set_size(end);
            inode.touch_modified();
        }
        Ok(())
    }

    /// `fsync` (`datasync` false) or `fdatasync` of a file.
    pub(crate) fn fsync(&mut self, ino: u64, fh: u64, datasync: bool) -> Result<(), Errno> {
        self.live_handle(fh, ino)?;
        self.inode(ino)?;
        self.sync_or_fail(ino, datasync)
    }

    /// `fsync` of a directory: its current entries become durable.
    pub(crate) fn fsyncdir(&mut self, ino: u64, fh: u64, datasync: bool) -> Result<(), Errno> {
        self.live_handle(fh, ino)?;
        self.dir(ino)?;
        self.sync_or_fail(ino, datasync)?;
        let changes = self.dir_mut(ino)?.sync();
        self.apply_link_changes(changes);
        Ok(())
    }

    /// The entries of a directory handle from `offset` on, "." and ".." first. Reading from
    /// offset 0 takes a fresh listing; later offsets continue that one.
    pub(crate) fn readdir(&mut self, ino: u64, fh: u64, offset: u64) -> Result<&[DirEntry], Errno> {
        self.live_handle(fh, ino)?;
        if offset == 0 {
            let listing = self.listing(ino)?;
            self.live_handle(fh, ino)?.listing = listing;
        }
        let listing = &self.live_handle(fh, ino)?.listing;
        let from = usize::try_from(offset).map_or(listing.len(), |o| o.min(listing.len()));
        Ok(&listing[from..])
    }

    fn listing(&self, ino: u64) -> Result<Vec<DirEntry>, Errno> {
        let dir = self.dir(ino)?;
        let dots = [(".".into(), ino), ("..".into(), dir.parent)];
        let named = dir.entries().map(|(name, ino)| (name.to_owned(), ino));
        let entry = |(name, ino)| {
            let kind = self.inodes.get(&ino)?.kind();
            Some(DirEntry { ino, kind, name })
        };
        let mut listing: Vec<DirEntry> = dots.into_iter().filter_map(entry).collect();
        listing.extend(named.filter_map(entry));
        Ok(listing)
    }

    fn set_size(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        check_size(Some(size))?;
        if size > self.inode(ino)?.file()?.size() {
            self.check_space()?;
        }
        let inode = self.inode_mut(ino)?;
        inode.file_mut()?.set_size(size);
        inode.touch_modified();
        Ok(())
    }

    /// Syncs one inode's data (and metadata unless `datasync`), or fails like a dying disk.
    fn sync_or_fail(&mut self, ino: u64, datasync: bool) -> Result<(), Errno> {
        self.counters.syncs += 1;
        let fails = self.fsync_fails;
        let inode = self.inode_mut(ino)?;
        if fails {
            inode.mark_clean();
            self.counters.eio += 1;
            return Err(Errno::EIO);
        }
        inode.sync(datasync);
        Ok(())
    }
}

fn check_size(end: Option<u64>) -> Result<u64, Errno> {
    end.filter(|end| *end <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}
