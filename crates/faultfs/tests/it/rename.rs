//! Renames: the atomic-replace pattern, and renames across directories.

use std::fs;

use crate::support::{fsync, read, write, Fs};

/// Writes `content` to a temporary file, syncs it and renames it over `CURRENT`, as RocksDB
/// does; syncs the directory if asked.
fn replace_current(fs: &Fs, content: &[u8], sync_dir: bool) {
    let tmp = fs.path("CURRENT.tmp");
    write(&tmp, content);
    fsync(&tmp).unwrap();
    fs::rename(&tmp, fs.path("CURRENT")).unwrap();
    if sync_dir {
        fsync(fs.root()).unwrap();
    }
}

#[test]
fn atomic_replace_with_a_directory_sync_survives() {
    let fs = Fs::new();
    replace_current(&fs, b"MANIFEST-1", true);
    replace_current(&fs, b"MANIFEST-2", true);
    fs.power_loss();
    assert_eq!(read(&fs.path("CURRENT")).unwrap(), b"MANIFEST-2");
    assert_eq!(read(&fs.path("CURRENT.tmp")), None);
}

#[test]
fn atomic_replace_without_the_directory_sync_leaves_the_old_content() {
    let fs = Fs::new();
    replace_current(&fs, b"MANIFEST-1", true);
    replace_current(&fs, b"MANIFEST-2", false);
    assert_eq!(read(&fs.path("CURRENT")).unwrap(), b"MANIFEST-2");
    fs.power_loss();
    assert_eq!(read(&fs.path("CURRENT")).unwrap(), b"MANIFEST-1");
    assert_eq!(read(&fs.path("CURRENT.tmp")), None);
}

#[test]
fn a_rename_across_directories_is_made_durable_by_each_directory_for_its_half() {
    let fs = Fs::new();
    let (from, to) = (fs.path("from"), fs.path("to"));
    fs::create_dir(&from).unwrap();
    fs::create_dir(&to).unwrap();
    write(&from.join("f"), b"data");
    fsync(&from.join("f")).unwrap();
    fsync(&from).unwrap();
    fsync(fs.root()).unwrap();

    // Only the target synced: the new name is durable, the removal is not.
    fs::rename(from.join("f"), to.join("f")).unwrap();
    fsync(&to).unwrap();
    fs.power_loss();
    assert_eq!(read(&from.join("f")).unwrap(), b"data");
    assert_eq!(read(&to.join("f")).unwrap(), b"data");

    // Only the source synced: the removal is durable, the new name is not.
    fs::remove_file(to.join("f")).unwrap();
    fsync(&to).unwrap();
    fs::rename(from.join("f"), to.join("g")).unwrap();
    fsync(&from).unwrap();
    fs.power_loss();
    assert_eq!(read(&from.join("f")), None);
    assert_eq!(read(&to.join("g")), None);

    // Both synced: moved.
    write(&from.join("h"), b"moved");
    fsync(&from.join("h")).unwrap();
    fsync(&from).unwrap();
    fs::rename(from.join("h"), to.join("h")).unwrap();
    fsync(&from).unwrap();
    fsync(&to).unwrap();
    fs.power_loss();
    assert_eq!(read(&from.join("h")), None);
    assert_eq!(read(&to.join("h")).unwrap(), b"moved");
}
