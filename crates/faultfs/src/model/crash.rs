//! The power loss: the current state becomes the durable state.
//!
//! Every inode drops its changes that are not durable (data, size, metadata, directory
//! entries); then the namespace is walked from the root through the (now durable) entries,
//! the link counts are counted again, and what the walk did not reach is freed. Inode numbers
//! of what survives do not change. Handles opened before are stale from now on.
//!
//! Directory syncs are per directory, so a directory renamed across parents can be durable in
//! both; the walk keeps the first path it finds (breadth first) and forgets the others, so the
//! result is always a tree, as it would be on a journaling file system.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;

use fuser::FileType;

use super::{Model, ROOT};
use crate::inode::Body;
use crate::Dropped;

impl Model {
    pub(crate) fn power_loss(&mut self) -> Dropped {
        let dropped = self.volatile_totals();
        self.epoch += 1;
        self.counters.power_losses += 1;
        for inode in self.inodes.values_mut() {
            inode.restore_durable();
            inode.links = 0;
            inode.durable_links = 0;
        }
        let reachable = self.relink_from_root();
        self.free_unreachable(&reachable);
        dropped
    }

    fn volatile_totals(&self) -> Dropped {
        let (bytes, entries) = self
            .inodes
            .values()
            .map(|inode| inode.volatile())
            .fold((0, 0), |(b, e), (vb, ve)| (b + vb, e + ve));
        Dropped { bytes, entries }
    }

    /// Walks the namespace from the root, counting links and setting parents; returns the
    /// inodes reached.
    fn relink_from_root(&mut self) -> HashSet<u64> {
        let mut reached = HashSet::from([ROOT]);
        let mut dirs = VecDeque::from([ROOT]);
        if let Some(root) = self.inodes.get_mut(&ROOT) {
            root.links = 1;
            root.durable_links = 1;
        }
        while let Some(dir) = dirs.pop_front() {
            for (name, child) in self.entries_of(dir) {
                let kind = self.inodes.get(&child).map(|inode| inode.kind());
                let first_visit = reached.insert(child);
                match kind {
                    Some(FileType::Directory) if first_visit => dirs.push_back(child),
                    Some(FileType::Directory) | None => {
                        self.forget_entry(dir, &name);
                        continue;
                    }
                    Some(_) => {}
                }
                self.count_link(child, dir);
            }
        }
        reached
    }

    fn entries_of(&self, dir: u64) -> Vec<(OsString, u64)> {
        match self.dir(dir) {
            Ok(dir) => dir
                .entries()
                .map(|(name, ino)| (name.to_owned(), ino))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn forget_entry(&mut self, dir: u64, name: &OsString) {
        if let Ok(dir) = self.dir_mut(dir) {
            dir.forget(name);
        }
    }

    fn count_link(&mut self, ino: u64, parent: u64) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.links += 1;
            inode.durable_links += 1;
            if let Body::Dir(dir) = &mut inode.body {
                dir.parent = parent;
            }
        }
    }

    /// Frees what the walk did not reach, except what an (now stale) handle holds open: that
    /// lives, emptied, until the handle is released.
    fn free_unreachable(&mut self, reachable: &HashSet<u64>) {
        self.inodes.retain(|ino, inode| {
            if reachable.contains(ino) {
                return true;
            }
            if let Body::Dir(dir) = &mut inode.body {
                dir.clear();
            }
            inode.opens > 0
        });
    }
}
