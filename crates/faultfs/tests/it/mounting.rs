//! Mounting and unmounting: a clean unmount, a busy one, and a new mount in the same place.

use std::fs::File;
use std::io::Read;

use crate::support::{names, write};

#[test]
fn an_unmounted_directory_can_take_a_new_empty_mount() {
    let dir = tempfile::tempdir().unwrap();
    let mount = trent_faultfs::mount(dir.path()).unwrap();
    write(&dir.path().join("file"), b"x");
    mount.unmount().unwrap();
    assert!(names(dir.path()).is_empty());

    let again = trent_faultfs::mount(dir.path()).unwrap();
    assert!(names(dir.path()).is_empty(), "each mount starts empty");
    write(&dir.path().join("file"), b"y");
    drop(again);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_busy_mount_refuses_unmount_and_is_detached_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mount = trent_faultfs::mount(dir.path()).unwrap();
    write(&dir.path().join("file"), b"still served");
    let mut open = File::open(dir.path().join("file")).unwrap();
    let error = mount.unmount().unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EBUSY));
    assert!(names(dir.path()).is_empty(), "detached from the path");
    let mut content = String::new();
    open.read_to_string(&mut content).unwrap();
    assert_eq!(content, "still served");
}

#[test]
fn the_handles_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<trent_faultfs::Control>();
    send_sync::<trent_faultfs::Mount>();
}
