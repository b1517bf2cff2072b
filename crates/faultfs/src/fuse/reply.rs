//! Turning the model's results into fuser replies, with the kernel-cache policy in one place:
//! entries and attributes live zero seconds.

use std::time::Duration;

use fuser::{
    Errno, FileAttr, FileHandle, FopenFlags, Generation, ReplyAttr, ReplyData, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request,
};

use crate::model::Owner;

/// How long the kernel may trust an entry or attributes: not at all, so that after a power
/// loss it asks again.
pub(super) const TTL: Duration = Duration::ZERO;
/// Inode numbers are never reused, so one generation is enough.
pub(super) const GENERATION: Generation = Generation(0);

/// A reply that can carry a model result of type `T`.
pub(super) trait Answer<T> {
    fn answer(self, result: Result<T, Errno>);
}

impl Answer<FileAttr> for ReplyEntry {
    fn answer(self, result: Result<FileAttr, Errno>) {
        match result {
            Ok(attr) => self.entry(&TTL, &attr, GENERATION),
            Err(errno) => self.error(errno),
        }
    }
}

impl Answer<FileAttr> for ReplyAttr {
    fn answer(self, result: Result<FileAttr, Errno>) {
        match result {
            Ok(attr) => self.attr(&TTL, &attr),
            Err(errno) => self.error(errno),
        }
    }
}

impl Answer<()> for ReplyEmpty {
    fn answer(self, result: Result<(), Errno>) {
        match result {
            Ok(()) => self.ok(),
            Err(errno) => self.error(errno),
        }
    }
}

impl Answer<Vec<u8>> for ReplyData {
    fn answer(self, result: Result<Vec<u8>, Errno>) {
        match result {
            Ok(data) => self.data(&data),
            Err(errno) => self.error(errno),
        }
    }
}

impl Answer<u32> for ReplyWrite {
    fn answer(self, result: Result<u32, Errno>) {
        match result {
            Ok(written) => self.written(written),
            Err(errno) => self.error(errno),
        }
    }
}

/// Answers an open or opendir with the new handle.
pub(super) fn opened(reply: ReplyOpen, result: Result<u64, Errno>, flags: FopenFlags) {
    match result {
        Ok(fh) => reply.opened(FileHandle(fh), flags),
        Err(errno) => reply.error(errno),
    }
}

/// The owner of a new inode: the caller, with `mode` less `umask`.
pub(super) fn owner(req: &Request, mode: u32, umask: u32) -> Owner {
    let perm = (mode & !umask & 0o7777) as u16;
    Owner {
        perm,
        uid: req.uid(),
        gid: req.gid(),
    }
}
