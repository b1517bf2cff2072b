//! Names: create, mknod, mkdir, symlink, link, unlink, rmdir, rename, readlink.
//!
//! Every operation here changes the current namespace only; a name becomes durable when its
//! directory is synced (`fsyncdir`, in `io.rs`). A new inode is durable as created (empty), so
//! an entry made durable before its file's data was ever synced comes back empty.

use std::ffi::OsStr;
use std::path::Path;

use fuser::{Errno, FileAttr, FileType};

use super::{Model, ROOT};
use crate::dir::Dir;
use crate::inode::{Body, Inode, Meta};
use crate::pages::FileData;

const NAME_MAX: usize = 255;

/// Who creates an inode, and with which permission bits.
#[derive(Clone, Copy)]
pub(crate) struct Owner {
    pub(crate) perm: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Owner {
    fn meta(self) -> Meta {
        Meta::new(self.perm, self.uid, self.gid)
    }
}

impl Model {
    /// Creates a regular file, special file or socket (`mode` holds the file type).
    pub(crate) fn mknod(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        owner: Owner,
    ) -> Result<FileAttr, Errno> {
        let body = match mode & libc::S_IFMT {
            libc::S_IFREG => Body::File(FileData::default()),
            libc::S_IFIFO => Body::Special(FileType::NamedPipe, 0),
            libc::S_IFSOCK => Body::Special(FileType::Socket, 0),
            libc::S_IFCHR => Body::Special(FileType::CharDevice, rdev),
            libc::S_IFBLK => Body::Special(FileType::BlockDevice, rdev),
            _ => return Err(Errno::EINVAL),
        };
        self.add_entry(parent, name, Inode::new(body, owner.meta()))
    }

    /// Creates a regular file and opens it: (its attributes, the handle).
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        owner: Owner,
    ) -> Result<(FileAttr, u64), Errno> {
        let inode = Inode::new(Body::File(FileData::default()), owner.meta());
        let attr = self.add_entry(parent, name, inode)?;
        Ok((attr, self.open(attr.ino.0)?))
    }

    pub(crate) fn mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        owner: Owner,
    ) -> Result<FileAttr, Errno> {
        let inode = Inode::new(Body::Dir(Dir::new(parent)), owner.meta());
        self.add_entry(parent, name, inode)
    }

    pub(crate) fn symlink(
        &mut self,
        parent: u64,
        name: &OsStr,
        target: &Path,
        owner: Owner,
    ) -> Result<FileAttr, Errno> {
        let target = target.as_os_str().as_encoded_bytes().to_vec();
        let owner = Owner {
            perm: 0o777,
            ..owner
        };
        self.add_entry(
            parent,
            name,
            Inode::new(Body::Symlink(target), owner.meta()),
        )
    }

    pub(crate) fn readlink(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        match &self.inode(ino)?.body {
            Body::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// A hard link to `ino` (not a directory) named `name` in `parent`.
    pub(crate) fn link(&mut self, ino: u64, parent: u64, name: &OsStr) -> Result<FileAttr, Errno> {
        if self.inode(ino)?.kind() == FileType::Directory {
            return Err(Errno::EPERM);
        }
        self.check_new_name(parent, name)?;
        self.check_space()?;
        self.bind(parent, name, ino)?;
        let inode = self.inode_mut(ino)?;
        inode.touch_changed();
        Ok(inode.attr(ino))
    }

    pub(crate) fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.dir(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if self.inode(ino)?.kind() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        self.unbind(parent, name)
    }

    pub(crate) fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.dir(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if !self.dir(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.unbind(parent, name)
    }

    /// Moves `name` in `parent` to `new_name` in `new_parent`, replacing what was there unless
    /// `no_replace`.
    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Errno> {
        check_name(new_name)?;
        let ino = self.dir(parent)?.get(name).ok_or(Errno::ENOENT)?;
        let replaced = self.dir(new_parent)?.get(new_name);
        if replaced == Some(ino) {
            return Ok(()); // Two names of one file: POSIX says do nothing.
        }
        if replaced.is_some() && no_replace {
            return Err(Errno::EEXIST);
        }
        let is_dir = self.inode(ino)?.kind() == FileType::Directory;
        if let Some(replaced) = replaced {
            self.check_replaceable(replaced, is_dir)?;
        }
        if is_dir && self.is_ancestor(ino, new_parent) {
            return Err(Errno::EINVAL);
        }
        if replaced.is_some() {
            self.unbind(new_parent, new_name)?;
        }
        // The new name first: between the two steps the inode has two names, never none.
        self.bind(new_parent, new_name, ino)?;
        self.unbind(parent, name)?;
        let inode = self.inode_mut(ino)?;
        inode.touch_changed();
        if let Body::Dir(dir) = &mut inode.body {
            dir.parent = new_parent;
        }
        Ok(())
    }

    /// Checks that a rename of a directory (or not: `is_dir`) may replace `replaced`.
    fn check_replaceable(&self, replaced: u64, is_dir: bool) -> Result<(), Errno> {
        match (is_dir, &self.inode(replaced)?.body) {
            (true, Body::Dir(dir)) if !dir.is_empty() => Err(Errno::ENOTEMPTY),
            (true, Body::Dir(_)) => Ok(()),
            (true, _) => Err(Errno::ENOTDIR),
            (false, Body::Dir(_)) => Err(Errno::EISDIR),
            (false, _) => Ok(()),
        }
    }

    /// Whether directory `ancestor` is `dir` or holds it, in the current namespace.
    fn is_ancestor(&self, ancestor: u64, mut dir: u64) -> bool {
        // Bounded by the number of inodes, in case the parent links ever loop.
        for _ in 0..=self.inodes.len() {
            if dir == ancestor {
                return true;
            }
            if dir == ROOT {
                return false;
            }
            match self.dir(dir) {
                Ok(d) => dir = d.parent,
                Err(_) => return false,
            }
        }
        false
    }

    /// Adds a new inode under a new name.
    fn add_entry(&mut self, parent: u64, name: &OsStr, inode: Inode) -> Result<FileAttr, Errno> {
        self.check_new_name(parent, name)?;
        self.check_space()?;
        let ino = self.add_inode(inode);
        self.bind(parent, name, ino)?;
        self.getattr(ino)
    }

    fn check_new_name(&self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        check_name(name)?;
        match self.dir(parent)?.get(name) {
            Some(_) => Err(Errno::EEXIST),
            None => Ok(()),
        }
    }

    /// Names `ino` `name` in `parent` (a free name).
    fn bind(&mut self, parent: u64, name: &OsStr, ino: u64) -> Result<(), Errno> {
        let dir = self.inode_mut(parent)?;
        dir.dir_mut()?.insert(name, ino);
        dir.touch_modified();
        self.inode_mut(ino)?.links += 1;
        Ok(())
    }

    /// Removes `name` from `parent`, freeing its inode if that was the last reference.
    fn unbind(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let dir = self.inode_mut(parent)?;
        let ino = dir.dir_mut()?.remove(name).ok_or(Errno::ENOENT)?;
        dir.touch_modified();
        if let Ok(inode) = self.inode_mut(ino) {
            inode.links = inode.links.saturating_sub(1);
            inode.touch_changed();
        }
        self.free_if_unreferenced(ino);
        Ok(())
    }
}

fn check_name(name: &OsStr) -> Result<(), Errno> {
    match name.len() {
        0 => Err(Errno::ENOENT),
        n if n > NAME_MAX => Err(Errno::ENAMETOOLONG),
        _ => Ok(()),
    }
}
