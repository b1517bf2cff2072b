//! A directory's entries: the current (volatile) ones and the durable ones.
//!
//! Guarantees: [`Dir::sync`] (an `fsyncdir`) makes durable exactly the names changed since the
//! last sync, whatever the change was (added, removed, replaced by a rename), in O(changed
//! names); [`Dir::restore_durable`] turns the directory back into its durable entries.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};

pub(crate) struct Dir {
    entries: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
    /// Names whose entry changed since the last sync (or since a failed sync).
    changed: BTreeSet<OsString>,
    /// The directory that holds this one in the current namespace (itself for the root).
    pub(crate) parent: u64,
}

/// How a sync changed the durable links: one inode number per durable entry gained or lost.
#[derive(Default, Debug, PartialEq, Eq)]
pub(crate) struct LinkChanges {
    pub(crate) gained: Vec<u64>,
    pub(crate) lost: Vec<u64>,
}

impl Dir {
    pub(crate) fn new(parent: u64) -> Dir {
        Dir {
            entries: BTreeMap::new(),
            durable: BTreeMap::new(),
            changed: BTreeSet::new(),
            parent,
        }
    }

    pub(crate) fn get(&self, name: &OsStr) -> Option<u64> {
        self.entries.get(name).copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&OsStr, u64)> {
        self.entries
            .iter()
            .map(|(name, ino)| (name.as_os_str(), *ino))
    }

    /// Binds `name` to `ino`; returns the inode it was bound to before, if any.
    pub(crate) fn insert(&mut self, name: &OsStr, ino: u64) -> Option<u64> {
        self.changed.insert(name.to_owned());
        self.entries.insert(name.to_owned(), ino)
    }

    pub(crate) fn remove(&mut self, name: &OsStr) -> Option<u64> {
        let removed = self.entries.remove(name);
        if removed.is_some() {
            self.changed.insert(name.to_owned());
        }
        removed
    }

    /// Makes the current entries durable.
    pub(crate) fn sync(&mut self) -> LinkChanges {
        let mut changes = LinkChanges::default();
        for name in std::mem::take(&mut self.changed) {
            let now = self.entries.get(&name).copied();
            let before = match now {
                Some(ino) => self.durable.insert(name, ino),
                None => self.durable.remove(&name),
            };
            if before != now {
                changes.gained.extend(now);
                changes.lost.extend(before);
            }
        }
        changes
    }

    /// A failed sync: the changes count as synced, yet are not durable.
    pub(crate) fn mark_clean(&mut self) {
        self.changed.clear();
    }

    /// Names whose current binding differs from the durable one.
    pub(crate) fn volatile_entries(&self) -> u64 {
        let differs = |name: &&OsString| self.entries.get(*name) != self.durable.get(*name);
        self.changed.iter().filter(differs).count() as u64
    }

    /// Drops every change that is not durable.
    pub(crate) fn restore_durable(&mut self) {
        self.entries = self.durable.clone();
        self.changed.clear();
    }

    /// Forgets `name` in both states (a power loss found a second durable path to a directory).
    pub(crate) fn forget(&mut self, name: &OsStr) {
        self.entries.remove(name);
        self.durable.remove(name);
        self.changed.remove(name);
    }

    /// Empties both states; returns the inode numbers the current and the durable entries
    /// pointed at.
    pub(crate) fn clear(&mut self) -> (Vec<u64>, Vec<u64>) {
        self.changed.clear();
        let current = std::mem::take(&mut self.entries).into_values().collect();
        let durable = std::mem::take(&mut self.durable).into_values().collect();
        (current, durable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn sync_reports_the_durable_links_it_moves() {
        let mut d = Dir::new(1);
        d.insert(name("a"), 10);
        d.insert(name("b"), 11);
        d.remove(name("b"));
        assert_eq!(d.sync().gained, [10]);
        d.insert(name("a"), 12);
        let changes = d.sync();
        assert_eq!((changes.gained, changes.lost), (vec![12], vec![10]));
    }

    #[test]
    fn restore_forgets_unsynced_changes() {
        let mut d = Dir::new(1);
        d.insert(name("kept"), 10);
        d.sync();
        d.insert(name("new"), 11);
        d.remove(name("kept"));
        assert_eq!(d.volatile_entries(), 2);
        d.restore_durable();
        assert_eq!(d.entries().collect::<Vec<_>>(), [(name("kept"), 10)]);
    }

    #[test]
    fn a_change_undone_before_the_sync_is_no_change() {
        let mut d = Dir::new(1);
        d.insert(name("tmp"), 10);
        d.remove(name("tmp"));
        assert_eq!(d.volatile_entries(), 0);
        assert_eq!(d.sync(), LinkChanges::default());
    }
}
