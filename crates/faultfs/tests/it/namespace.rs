//! Names: a new, removed or created-directory name is durable only once its directory is
//! synced.

use std::fs;

use crate::support::{fsync, names, read, write, Fs};

#[test]
fn a_new_file_synced_without_its_directory_is_gone() {
    let fs = Fs::new();
    let path = fs.path("new");
    write(&path, b"data");
    fsync(&path).unwrap();
    let dropped = fs.power_loss();
    assert_eq!(read(&path), None);
    assert_eq!(dropped.entries, 1);
}

#[test]
fn a_new_file_synced_with_its_directory_is_there_with_its_synced_data() {
    let fs = Fs::new();
    let synced = fs.path("synced");
    let empty = fs.path("never-synced");
    write(&synced, b"data");
    write(&empty, b"lost");
    fsync(&synced).unwrap();
    fsync(fs.root()).unwrap();
    fs.power_loss();
    assert_eq!(read(&synced).unwrap(), b"data");
    assert_eq!(
        read(&empty).unwrap(),
        b"",
        "the name was durable, the data was not"
    );
}

#[test]
fn an_unlink_without_a_directory_sync_comes_back() {
    let fs = Fs::new();
    let path = fs.path("victim");
    write(&path, b"still here");
    fsync(&path).unwrap();
    fsync(fs.root()).unwrap();
    fs::remove_file(&path).unwrap();
    assert_eq!(read(&path), None);
    fs.power_loss();
    assert_eq!(read(&path).unwrap(), b"still here");

    fs::remove_file(&path).unwrap();
    fsync(fs.root()).unwrap();
    fs.power_loss();
    assert_eq!(read(&path), None);
}

#[test]
fn a_mkdir_needs_its_parent_synced_and_keeps_only_its_own_synced_entries() {
    let fs = Fs::new();
    fs::create_dir(fs.path("kept")).unwrap();
    fsync(fs.root()).unwrap();
    fs::create_dir(fs.path("lost")).unwrap();
    fsync(&fs.path("lost")).unwrap();
    write(&fs.path("kept/synced"), b"");
    fsync(&fs.path("kept")).unwrap();
    write(&fs.path("kept/unsynced"), b"");
    fs.power_loss();
    assert_eq!(names(fs.root()), ["kept"]);
    assert_eq!(names(&fs.path("kept")), ["synced"]);
}
