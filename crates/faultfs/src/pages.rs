//! A regular file's data: its current (volatile) state and its durable state, both as sparse
//! maps of 4 KiB pages.
//!
//! Guarantees:
//! - A missing page reads as zeros, and no byte at or past the size is ever non-zero in the
//!   current state, so growing a file (truncate up, fallocate, a write past the end) shows zeros.
//! - [`FileData::sync`] makes exactly the pages changed since the last sync (and the size, if
//!   it changed) durable, in O(changed pages).
//! - [`FileData::restore_durable`] turns the file back into its durable state.
//!
//! The two states share unchanged pages (`Arc`); a write copies a shared page before changing
//! it, so a file that is fully synced costs its data once, not twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The page size of the model: the unit a write dirties and a power loss loses.
pub(crate) const PAGE_SIZE: usize = 4096;
const PAGE: u64 = PAGE_SIZE as u64;

type Page = Arc<[u8; PAGE_SIZE]>;
type Pages = BTreeMap<u64, Page>;

#[derive(Default)]
pub(crate) struct FileData {
    pages: Pages,
    size: u64,
    /// Pages written, zeroed or removed since the last sync (or since a failed sync).
    dirty: BTreeSet<u64>,
    size_dirty: bool,
    durable_pages: Pages,
    durable_size: u64,
}

impl FileData {
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Memory the file holds: pages of the current state plus durable pages not shared with it.
    pub(crate) fn held_bytes(&self) -> u64 {
        let unshared = self
            .durable_pages
            .iter()
            .filter(|(index, page)| !self.current_is(**index, page))
            .count();
        (self.pages.len() + unshared) as u64 * PAGE
    }

    /// Pages of the current state, for `st_blocks`.
    pub(crate) fn allocated_pages(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Up to `len` bytes from `offset`, fewer at the end of the file.
    pub(crate) fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        let end = self.size.min(offset.saturating_add(u64::from(len)));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        for (index, page) in self.pages.range(offset / PAGE..end.div_ceil(PAGE)) {
            let (from, to) = clip(*index, offset, end);
            let at = (index * PAGE + from as u64 - offset) as usize;
            out[at..at + (to - from)].copy_from_slice(&page[from..to]);
        }
        out
    }

    /// Writes `data` at `offset`, growing the file if it ends past the size.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        for index in offset / PAGE..end.div_ceil(PAGE) {
            let (from, to) = clip(index, offset, end);
            let at = (index * PAGE + from as u64 - offset) as usize;
            self.page_mut(index)[from..to].copy_from_slice(&data[at..at + (to - from)]);
        }
        if end > self.size {
            self.set_size_only(end);
        }
    }

    /// Truncates or extends the file to `size` (an extension reads as zeros).
    pub(crate) fn set_size(&mut self, size: u64) {
        if size < self.size {
            for index in trim(&mut self.pages, size) {
                self.dirty.insert(index);
            }
        }
        self.set_size_only(size);
    }

    /// Makes the current state durable: O(pages changed since the last sync).
    pub(crate) fn sync(&mut self) {
        for index in std::mem::take(&mut self.dirty) {
            match self.pages.get(&index) {
                Some(page) => self.durable_pages.insert(index, page.clone()),
                None => self.durable_pages.remove(&index),
            };
        }
        if std::mem::take(&mut self.size_dirty) {
            self.durable_size = self.size;
        }
    }

    /// A failed sync: the changes count as written (a later sync skips them) yet are not
    /// durable, as Linux does after a writeback error ("fsyncgate").
    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.size_dirty = false;
    }

    /// Bytes (whole pages) whose current content differs from the durable one.
    pub(crate) fn volatile_bytes(&self) -> u64 {
        let changed = self
            .pages
            .iter()
            .filter(|(index, page)| !is_same(self.durable_pages.get(index), page))
            .count();
        let removed = self
            .durable_pages
            .keys()
            .filter(|index| !self.pages.contains_key(index))
            .count();
        (changed + removed) as u64 * PAGE
    }

    /// Drops every change that is not durable.
    pub(crate) fn restore_durable(&mut self) {
        // After a failed sync the durable size and pages may come from different syncs;
        // trimming keeps "nothing past the size" true for what a power loss leaves.
        trim(&mut self.durable_pages, self.durable_size);
        self.pages = self.durable_pages.clone();
        self.size = self.durable_size;
        self.dirty.clear();
        self.size_dirty = false;
    }

    fn set_size_only(&mut self, size: u64) {
        if size != self.size {
            self.size = size;
            self.size_dirty = true;
        }
    }

    fn current_is(&self, index: u64, page: &Page) -> bool {
        is_same(self.pages.get(&index), page)
    }

    fn page_mut(&mut self, index: u64) -> &mut [u8; PAGE_SIZE] {
        self.dirty.insert(index);
        let page = self
            .pages
            .entry(index)
            .or_insert_with(|| Arc::new([0; PAGE_SIZE]));
        Arc::make_mut(page)
    }
}

/// The part of page `index` that `[start, end)` covers, as offsets within the page.
fn clip(index: u64, start: u64, end: u64) -> (usize, usize) {
    let page_start = index * PAGE;
    let from = start.max(page_start) - page_start;
    let to = end.min(page_start + PAGE) - page_start;
    (from as usize, to as usize)
}

fn is_same(a: Option<&Page>, b: &Page) -> bool {
    a.is_some_and(|a| Arc::ptr_eq(a, b))
}

/// Removes what lies at or past `size`: whole pages, and the tail of a partial last page.
/// Returns the indexes of the pages it changed.
fn trim(pages: &mut Pages, size: u64) -> Vec<u64> {
    let first_gone = size.div_ceil(PAGE);
    let mut changed: Vec<u64> = pages.split_off(&first_gone).into_keys().collect();
    let tail = (size % PAGE) as usize;
    if tail != 0 {
        if let Some(page) = pages.get_mut(&(size / PAGE)) {
            if page[tail..].iter().any(|&b| b != 0) {
                Arc::make_mut(page)[tail..].fill(0);
                changed.push(size / PAGE);
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> FileData {
        let mut f = FileData::default();
        f.write(0, content);
        f
    }

    #[test]
    fn reads_back_writes_across_pages_and_holes_as_zeros() {
        let mut f = FileData::default();
        f.write(4090, b"0123456789");
        f.write(3 * PAGE, b"x");
        assert_eq!(f.size(), 3 * PAGE + 1);
        assert_eq!(f.read(4090, 10), b"0123456789");
        assert_eq!(f.read(2 * PAGE, 2), [0, 0]);
        assert_eq!(f.read(3 * PAGE, 100), b"x");
        assert_eq!(f.allocated_pages(), 3);
    }

    #[test]
    fn sync_makes_durable_only_what_it_covers() {
        let mut f = file(b"synced");
        f.sync();
        f.write(6, b" and lost");
        assert_eq!(f.volatile_bytes(), PAGE);
        f.restore_durable();
        assert_eq!(f.read(0, 100), b"synced");
    }

    #[test]
    fn truncate_then_grow_reads_zeros_and_is_lost_unsynced() {
        let mut f = file(&[7; 3 * PAGE_SIZE]);
        f.sync();
        f.set_size(10);
        f.set_size(2 * PAGE);
        assert_eq!(f.read(0, 12), [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0]);
        assert_eq!(f.read(PAGE, 1), [0]);
        f.restore_durable();
        assert_eq!(f.size(), 3 * PAGE);
        assert_eq!(f.read(2 * PAGE, 1), [7]);
    }

    #[test]
    fn failed_sync_leaves_data_readable_but_never_durable() {
        let mut f = file(b"old");
        f.sync();
        f.write(0, b"new");
        f.mark_clean();
        f.sync();
        assert_eq!(f.read(0, 3), b"new");
        f.restore_durable();
        assert_eq!(f.read(0, 3), b"old");
    }

    #[test]
    fn durable_state_after_mixed_syncs_has_nothing_past_its_size() {
        let mut f = file(&[1; PAGE_SIZE + 10]);
        f.sync();
        f.set_size(100);
        f.mark_clean();
        f.write(200, b"z");
        f.sync();
        f.restore_durable();
        assert_eq!(f.size(), 201);
        f.set_size(2 * PAGE);
        assert_eq!(f.read(PAGE, 10), [0; 10]);
        assert_eq!(f.read(50, 1), [1]);
        assert_eq!(f.read(150, 1), [0]);
    }

    #[test]
    fn synced_pages_are_shared_not_copied() {
        let mut f = file(&[1; 4 * PAGE_SIZE]);
        f.sync();
        assert_eq!(f.held_bytes(), 4 * PAGE);
        f.write(0, b"x");
        assert_eq!(f.held_bytes(), 5 * PAGE);
        f.sync();
        assert_eq!(f.held_bytes(), 4 * PAGE);
    }
}
