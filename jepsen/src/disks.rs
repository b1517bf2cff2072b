//! The nodes' disks for the disk nemeses: one `trent-faultfs` mount per node (`n<i>/disk`),
//! holding its data dir (`n<i>/disk/data`). Each keeps what a node wrote in memory until the
//! node syncs it, so a power loss can drop exactly what was not yet durable; it can also fill
//! up (ENOSPC) and fail its fsyncs (EIO). Runs without a disk nemesis use the real disk.
//!
//! A mount is made before its node first starts, so the node's mount namespace (`ip netns
//! exec` copies the harness's) holds it, and it stays for the whole run: a power loss is a
//! kill -9 followed by [`Disks::power_loss`], not an unmount.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use trent_faultfs::{Control, Counters, Dropped, Mount};

pub struct Disks {
    mounts: BTreeMap<u64, (PathBuf, Mount)>,
}

impl Disks {
    /// Mounts a fault file system at `n<i>/disk` under `dir` for every node.
    pub fn mount(dir: &Path, count: u64) -> Result<Disks> {
        let mut mounts = BTreeMap::new();
        for id in 1..=count {
            let at = mount_point(dir, id);
            std::fs::create_dir_all(&at)?;
            let mount = trent_faultfs::mount(&at)
                .with_context(|| format!("mounting trent-faultfs at {}", at.display()))?;
            mounts.insert(id, (at, mount));
        }
        Ok(Disks { mounts })
    }

    /// Drops everything node `id` wrote and did not sync. Its process must be dead.
    pub fn power_loss(&self, id: u64) -> Dropped {
        self.control(id).power_loss()
    }

    pub fn set_full(&self, id: u64, full: bool) {
        self.control(id).set_disk_full(full);
    }

    pub fn set_fsync_fails(&self, id: u64, fails: bool) {
        self.control(id).set_fsync_fails(fails);
    }

    pub fn counters(&self, id: u64) -> Counters {
        self.control(id).counters()
    }

    /// Copies node `id`'s data dir as it stands to `to` (a failed run keeps it for reading).
    pub fn copy_out(&self, id: u64, to: &Path) -> Result<()> {
        let from = self.mounts[&id].0.join("data");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(to)
            .status()?;
        anyhow::ensure!(status.success(), "cp -a {} failed", from.display());
        Ok(())
    }

    fn control(&self, id: u64) -> Control {
        self.mounts[&id].1.control()
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        for (_, (at, mount)) in std::mem::take(&mut self.mounts) {
            if let Err(e) = mount.unmount() {
                tracing::warn!(mount = %at.display(), error = %e, "unmounting trent-faultfs");
            }
        }
    }
}

/// Where node `id`'s fault file system is mounted.
pub fn mount_point(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("n{id}/disk"))
}
