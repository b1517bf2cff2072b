//! Mounting and unmounting: the FUSE session on its own thread.
//!
//! fuser mounts with mount(2) itself (root only; no libfuse, no fusermount). Unmounting is ours
//! rather than fuser's, so that it can be lazy: [`Mount::unmount`] is a plain umount(2) that
//! reports a busy mount, dropping a [`Mount`] detaches it (`MNT_DETACH`) and never blocks. The
//! session thread ends by itself once the kernel lets go of the connection.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use fuser::{Config, MountOption, Session};

use crate::fuse::FaultFs;
use crate::model::Model;
use crate::Control;

/// A mounted faultfs. Unmounts (lazily) when dropped.
pub struct Mount {
    mountpoint: PathBuf,
    control: Control,
    session: Option<JoinHandle<io::Result<()>>>,
    mounted: bool,
}

pub(crate) fn mount(mountpoint: &Path) -> io::Result<Mount> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid != 0 {
        let message = "trent-faultfs mounts with mount(2): it needs root";
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, message));
    }
    let mountpoint = mountpoint.canonicalize()?;
    let model = Arc::new(Mutex::new(Model::new(uid, gid)));
    let mut config = Config::default();
    config.mount_options = vec![MountOption::FSName("trent-faultfs".into())];
    let session = Session::new(FaultFs::new(model.clone()), &mountpoint, &config)?;
    let session = thread::Builder::new()
        .name("trent-faultfs".into())
        .spawn(move || session.run())?;
    Ok(Mount {
        mountpoint,
        control: Control::new(model),
        session: Some(session),
        mounted: true,
    })
}

impl Mount {
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Unmounts and waits for the session thread to end. Fails (EBUSY) while a process has
    /// files open on the mount; the mount is then detached lazily as this `Mount` drops.
    pub fn unmount(mut self) -> io::Result<()> {
        umount(&self.mountpoint, 0)?;
        self.mounted = false;
        match self.session.take().map(JoinHandle::join) {
            Some(Err(_panic)) => Err(io::Error::other("the trent-faultfs thread panicked")),
            Some(Ok(result)) => result,
            None => Ok(()),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            // Nowhere to report a failure from a drop; a mount that stays is visible enough.
            let _ = umount(&self.mountpoint, libc::MNT_DETACH);
        }
    }
}

fn umount(path: &Path, flags: libc::c_int) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::umount2(path.as_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
