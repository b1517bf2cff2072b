//! The durability rules, checked on the model alone (no FUSE, no kernel).

use std::ffi::OsStr;

use fuser::Errno;

use super::{Model, Owner, ROOT};
use crate::Dropped;

const OWNER: Owner = Owner {
    perm: 0o644,
    uid: 0,
    gid: 0,
};

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

impl Model {
    fn put(&mut self, parent: u64, file: &str, data: &[u8]) -> u64 {
        let (attr, fh) = self.create(parent, name(file), OWNER).unwrap();
        self.write(attr.ino.0, fh, 0, data).unwrap();
        self.release(fh);
        attr.ino.0
    }

    fn append(&mut self, ino: u64, data: &[u8]) {
        let fh = self.open(ino).unwrap();
        let size = self.getattr(ino).unwrap().size;
        self.write(ino, fh, size, data).unwrap();
        self.release(fh);
    }

    fn sync_file(&mut self, ino: u64) -> Result<(), Errno> {
        let fh = self.open(ino).unwrap();
        let result = self.fsync(ino, fh, true);
        self.release(fh);
        result
    }

    fn sync_dir(&mut self, ino: u64) -> Result<(), Errno> {
        let fh = self.opendir(ino).unwrap();
        let result = self.fsyncdir(ino, fh, false);
        self.release(fh);
        result
    }

    fn ino(&self, parent: u64, file: &str) -> Option<u64> {
        self.lookup(parent, name(file)).ok().map(|attr| attr.ino.0)
    }

    fn content(&mut self, parent: u64, file: &str) -> Option<Vec<u8>> {
        let ino = self.ino(parent, file)?;
        let fh = self.open(ino).unwrap();
        let data = self.read(ino, fh, 0, 1 << 20).unwrap();
        self.release(fh);
        Some(data)
    }
}

#[test]
fn only_synced_data_under_a_synced_name_survives() {
    let mut m = Model::new(0, 0);
    let ino = m.put(ROOT, "log", b"first");
    m.sync_file(ino).unwrap();
    m.sync_dir(ROOT).unwrap();
    m.append(ino, b" second");
    let dropped = m.power_loss();
    assert_eq!(
        dropped,
        Dropped {
            bytes: 4096,
            entries: 0
        }
    );
    assert_eq!(m.content(ROOT, "log").unwrap(), b"first");
    assert_eq!(m.ino(ROOT, "log"), Some(ino), "inode numbers survive");
}

#[test]
fn a_synced_file_without_a_synced_name_is_gone_and_a_synced_name_alone_is_empty() {
    let mut m = Model::new(0, 0);
    let data_only = m.put(ROOT, "data-only", b"x");
    m.sync_file(data_only).unwrap();
    m.sync_dir(ROOT).unwrap();
    let _ = m.put(ROOT, "name-later", b"y");
    m.unlink(ROOT, name("data-only")).unwrap();
    let new = m.put(ROOT, "new", b"z");
    m.sync_file(new).unwrap();
    m.power_loss();
    assert_eq!(
        m.content(ROOT, "data-only").unwrap(),
        b"x",
        "unlink was not synced"
    );
    assert_eq!(m.ino(ROOT, "name-later"), None);
    assert_eq!(m.ino(ROOT, "new"), None);

    let empty = m.put(ROOT, "empty", b"never synced");
    m.sync_dir(ROOT).unwrap();
    m.power_loss();
    assert_eq!(m.content(ROOT, "empty").unwrap(), b"");
    assert_eq!(m.ino(ROOT, "empty"), Some(empty));
}

#[test]
fn a_new_directory_needs_its_parent_synced_and_keeps_only_its_synced_entries() {
    let mut m = Model::new(0, 0);
    let lost = m.mkdir(ROOT, name("lost"), OWNER).unwrap().ino.0;
    let kept = m.mkdir(ROOT, name("kept"), OWNER).unwrap().ino.0;
    m.sync_dir(ROOT).unwrap();
    m.rmdir(ROOT, name("lost")).unwrap();
    m.mkdir(ROOT, name("lost2"), OWNER).unwrap();
    m.put(kept, "a", b"");
    m.sync_dir(kept).unwrap();
    m.put(kept, "b", b"");
    m.power_loss();
    assert_eq!(m.ino(ROOT, "lost"), Some(lost), "rmdir was not synced");
    assert_eq!(m.ino(ROOT, "lost2"), None);
    assert!(m.ino(kept, "a").is_some());
    assert_eq!(m.ino(kept, "b"), None);
}

#[test]
fn atomic_replace_needs_the_directory_sync() {
    for sync_dir in [false, true] {
        let mut m = Model::new(0, 0);
        let old = m.put(ROOT, "CURRENT", b"old");
        m.sync_file(old).unwrap();
        m.sync_dir(ROOT).unwrap();
        let tmp = m.put(ROOT, "CURRENT.tmp", b"new");
        m.sync_file(tmp).unwrap();
        m.rename(ROOT, name("CURRENT.tmp"), ROOT, name("CURRENT"), false)
            .unwrap();
        if sync_dir {
            m.sync_dir(ROOT).unwrap();
        }
        m.power_loss();
        let expected: &[u8] = if sync_dir { b"new" } else { b"old" };
        assert_eq!(m.content(ROOT, "CURRENT").unwrap(), expected);
        assert_eq!(m.ino(ROOT, "CURRENT.tmp"), None);
        assert_eq!(m.counters().live_inodes, 2, "the replaced file is freed");
    }
}

#[test]
fn a_rename_across_directories_is_durable_half_by_each() {
    let mut m = Model::new(0, 0);
    let from = m.mkdir(ROOT, name("from"), OWNER).unwrap().ino.0;
    let to = m.mkdir(ROOT, name("to"), OWNER).unwrap().ino.0;
    m.sync_dir(ROOT).unwrap();
    let f = m.put(from, "f", b"data");
    m.sync_file(f).unwrap();
    m.sync_dir(from).unwrap();
    m.rename(from, name("f"), to, name("g"), false).unwrap();
    m.sync_dir(to).unwrap();
    m.power_loss();
    assert_eq!(m.content(from, "f").unwrap(), b"data");
    assert_eq!(m.content(to, "g").unwrap(), b"data");
    assert_eq!(m.getattr(f).unwrap().nlink, 2);

    m.rename(to, name("g"), from, name("h"), false).unwrap();
    m.sync_dir(to).unwrap();
    m.power_loss();
    assert_eq!(m.ino(to, "g"), None);
    assert_eq!(m.ino(from, "h"), None);
    assert_eq!(m.getattr(f).unwrap().nlink, 1);
}

#[test]
fn a_directory_durable_in_two_places_comes_back_in_one() {
    let mut m = Model::new(0, 0);
    let a = m.mkdir(ROOT, name("a"), OWNER).unwrap().ino.0;
    let b = m.mkdir(ROOT, name("b"), OWNER).unwrap().ino.0;
    let x = m.mkdir(a, name("x"), OWNER).unwrap().ino.0;
    m.sync_dir(ROOT).unwrap();
    m.sync_dir(a).unwrap();
    m.rename(a, name("x"), b, name("x"), false).unwrap();
    m.sync_dir(b).unwrap();
    m.power_loss();
    let places = [m.ino(a, "x"), m.ino(b, "x")];
    assert_eq!(places.iter().flatten().collect::<Vec<_>>(), [&x]);
}

#[test]
fn deleted_files_are_freed_once_nothing_refers_to_them() {
    let mut m = Model::new(0, 0);
    let f = m.put(ROOT, "f", &[1; 10_000]);
    m.sync_file(f).unwrap();
    m.sync_dir(ROOT).unwrap();
    let fh = m.open(f).unwrap();
    m.unlink(ROOT, name("f")).unwrap();
    m.sync_dir(ROOT).unwrap();
    assert_eq!(
        m.read(f, fh, 0, 3).unwrap(),
        [1, 1, 1],
        "open, so still readable"
    );
    m.release(fh);
    assert_eq!(m.counters().live_inodes, 1);
    assert_eq!(m.counters().live_bytes, 0);

    let g = m.put(ROOT, "g", b"unsynced and deleted");
    m.unlink(ROOT, name("g")).unwrap();
    assert_eq!(m.getattr(g), Err(Errno::ENOENT));
    assert_eq!(m.counters().live_inodes, 1);
}

#[test]
fn a_failed_sync_leaves_data_readable_but_not_durable() {
    let mut m = Model::new(0, 0);
    let f = m.put(ROOT, "f", b"old");
    m.sync_file(f).unwrap();
    m.sync_dir(ROOT).unwrap();
    m.append(f, b" new");
    m.set_fsync_fails(true);
    assert_eq!(m.sync_file(f), Err(Errno::EIO));
    assert_eq!(m.sync_dir(ROOT), Err(Errno::EIO));
    m.set_fsync_fails(false);
    assert_eq!(m.sync_file(f), Ok(()));
    assert_eq!(m.content(ROOT, "f").unwrap(), b"old new");
    m.power_loss();
    assert_eq!(m.content(ROOT, "f").unwrap(), b"old");
    assert_eq!(m.counters().eio, 2);
}

#[test]
fn a_full_disk_refuses_what_allocates_and_allows_the_rest() {
    let mut m = Model::new(0, 0);
    let f = m.put(ROOT, "f", b"0123456789");
    m.set_disk_full(true);
    let fh = m.open(f).unwrap();
    assert_eq!(m.write(f, fh, 0, b"x"), Err(Errno::ENOSPC));
    assert_eq!(m.fallocate(f, fh, 0, 100, 0), Err(Errno::ENOSPC));
    assert_eq!(m.create(ROOT, name("g"), OWNER).err(), Some(Errno::ENOSPC));
    assert_eq!(m.mkdir(ROOT, name("d"), OWNER).err(), Some(Errno::ENOSPC));
    let grow = super::SetAttr {
        size: Some(100),
        ..Default::default()
    };
    assert_eq!(m.setattr(f, Some(fh), grow).err(), Some(Errno::ENOSPC));
    let shrink = super::SetAttr {
        size: Some(5),
        ..Default::default()
    };
    assert_eq!(m.setattr(f, Some(fh), shrink).unwrap().size, 5);
    assert_eq!(m.statfs().free_blocks, 0);
    m.release(fh);
    m.unlink(ROOT, name("f")).unwrap();
    assert_eq!(m.counters().enospc, 5);
}

#[test]
fn handles_from_before_a_power_loss_are_stale() {
    let mut m = Model::new(0, 0);
    let f = m.put(ROOT, "f", b"x");
    m.sync_dir(ROOT).unwrap();
    let fh = m.open(f).unwrap();
    m.power_loss();
    assert_eq!(m.read(f, fh, 0, 1), Err(Errno::EIO));
    assert_eq!(m.write(f, fh, 0, b"y"), Err(Errno::EIO));
    m.release(fh);
    assert_eq!(m.content(ROOT, "f").unwrap(), b"");
}

#[test]
fn renames_that_posix_forbids_are_refused() {
    let mut m = Model::new(0, 0);
    let a = m.mkdir(ROOT, name("a"), OWNER).unwrap().ino.0;
    let sub = m.mkdir(a, name("sub"), OWNER).unwrap().ino.0;
    m.put(sub, "f", b"");
    let rename = |m: &mut Model, from: (u64, &str), to: (u64, &str), no_replace| {
        m.rename(from.0, name(from.1), to.0, name(to.1), no_replace)
    };
    assert_eq!(
        rename(&mut m, (ROOT, "a"), (sub, "a"), false),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        rename(&mut m, (ROOT, "a"), (a, "sub"), false),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(
        rename(&mut m, (sub, "f"), (ROOT, "a"), false),
        Err(Errno::EISDIR)
    );
    m.put(ROOT, "g", b"");
    assert_eq!(
        rename(&mut m, (sub, "f"), (ROOT, "g"), true),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        rename(&mut m, (ROOT, "a"), (ROOT, "g"), false),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(rename(&mut m, (ROOT, "a"), (ROOT, "b"), false), Ok(()));
    assert_eq!(m.lookup(sub, name("..")).unwrap().ino.0, a);
}
