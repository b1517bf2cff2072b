//! The `trentd` processes of a run, one per host namespace: start, kill -9, SIGSTOP/SIGCONT,
//! and a wall clock each node reads through libfaketime, so the clock nemesis can skew it.
//!
//! Every node is a founding member (`--initial-cluster` naming all of them by host name); it
//! keeps its data dir across kills, so a restart recovers from RocksDB as a real crash would.
//! Processes die with the harness (PR_SET_PDEATHSIG), and [`crate::hosts`] kills whatever is
//! left in the namespaces.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::disks::{self, Disks};
use crate::hosts;

/// The domain key every node of a run holds (a test cluster's, never a real one).
pub const DOMAIN_KEY: &str = "4a65707365e2809973206b657920666f7220636861f73e2074657374732e2e2e";
pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
pub const ROOT_ACCESS_KEY_ID: &str = "TKIAJEPSENROOT000001";
pub const ROOT_SECRET: &str = "jepsen/root/secret/for/chaos/runs/only0000";

pub const API_PORT: u16 = 7700;
pub const PEER_PORT: u16 = 7701;

/// Where libfaketime lives on Debian (package `libfaketime`).
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// How to start the nodes of a run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub trentd: PathBuf,
    pub dir: PathBuf,
    pub count: u64,
    /// Start nodes under libfaketime (the clock nemesis).
    pub faketime: bool,
    /// `FAILPOINTS` for every node (builds with the `failpoints` feature only).
    pub failpoints: Option<String>,
    /// More `trentd run` arguments for every node (e.g. `--lease-reads`).
    pub extra_args: Vec<String>,
    /// Data dirs on fault file systems (`disks.rs`), for the disk nemeses.
    pub faulty_disks: bool,
}

pub struct Node {
    pub id: u64,
    child: Option<Child>,
    paused: bool,
}

pub struct Nodes {
    pub spec: Spec,
    nodes: Vec<Node>,
    /// Dropped after the processes are killed (`Drop` below runs first).
    disks: Option<Disks>,
}

impl Nodes {
    pub fn new(spec: Spec) -> Result<Nodes> {
        if spec.faketime && !Path::new(FAKETIME_LIB).exists() {
            anyhow::bail!(
                "the clock nemesis needs libfaketime ({FAKETIME_LIB}; apt-get install libfaketime)"
            );
        }
        let nodes = (1..=spec.count)
            .map(|id| Node {
                id,
                child: None,
                paused: false,
            })
            .collect();
        for id in 1..=spec.count {
            std::fs::create_dir_all(spec.dir.join(format!("n{id}")))?;
        }
        let disks = match spec.faulty_disks {
            true => Some(Disks::mount(&spec.dir, spec.count)?),
            false => None,
        };
        let nodes = Nodes { spec, nodes, disks };
        for id in 1..=nodes.spec.count {
            nodes.set_clock_offset(id, 0)?;
        }
        Ok(nodes)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn api(id: u64) -> String {
        format!("http://{}:{API_PORT}", hosts::ip(id))
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.node(id).child.is_some()
    }

    pub fn is_paused(&self, id: u64) -> bool {
        self.node(id).paused
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.spec.dir.join(format!("n{id}/trentd.log"))
    }

    fn clock_file(&self, id: u64) -> PathBuf {
        self.spec.dir.join(format!("n{id}/faketime"))
    }

    pub fn start(&mut self, id: u64) -> Result<()> {
        if self.is_running(id) {
            return Ok(());
        }
        let child = self.command(id)?.spawn().context("starting trentd")?;
        let node = self.node_mut(id);
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// The disks of the run, when it has fault file systems.
    pub fn disks(&self) -> Option<&Disks> {
        self.disks.as_ref()
    }

    /// Node `id`'s data dir: on its fault file system when the run has them.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        match self.disks {
            Some(_) => disks::mount_point(&self.spec.dir, id).join("data"),
            None => self.spec.dir.join(format!("n{id}/data")),
        }
    }

    /// The exit status of node `id`'s process if it has exited by itself (it is then no
    /// longer running).
    pub fn reap(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id);
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(status)
    }

    /// kill -9, then delete the node's data dir: a lost disk.
    pub fn wipe(&mut self, id: u64) -> Result<()> {
        self.kill(id);
        let data = self.data_dir(id);
        match std::fs::remove_dir_all(&data) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("deleting {}", data.display()))
            }
            _ => Ok(()),
        }
    }

    pub fn pause(&mut self, id: u64) {
        self.signal(id, libc::SIGSTOP);
        self.node_mut(id).paused = true;
    }

    pub fn resume(&mut self, id: u64) {
        self.signal(id, libc::SIGCONT);
        self.node_mut(id).paused = false;
    }

    /// Sets node `id`'s wall clock to `offset` seconds from the real one (libfaketime rereads
    /// the file at most once a second). Monotonic time is left alone: this is NTP-style skew.
    pub fn set_clock_offset(&self, id: u64, offset: i64) -> Result<()> {
        let spec = format!("{offset:+}\n");
        std::fs::write(self.clock_file(id), spec).context("writing the faketime file")
    }

    /// A crashed node (its process exited by itself) is a finding: the run reports it.
    pub fn exited_by_itself(&mut self) -> Vec<(u64, String)> {
        let mut exited = vec![];
        for node in &mut self.nodes {
            if let Some(child) = &mut node.child {
                if let Ok(Some(status)) = child.try_wait() {
                    exited.push((node.id, status.to_string()));
                    node.child = None;
                }
            }
        }
        exited
    }

    fn signal(&self, id: u64, signal: i32) {
        if let Some(child) = &self.node(id).child {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    fn command(&self, id: u64) -> Result<Command> {
        let data = self.data_dir(id);
        let spec = &self.spec;
        let initial: Vec<String> = (1..=spec.count)
            .map(|n| format!("{n}={}:{PEER_PORT}", hosts::name(n)))
            .collect();
        let log = open_log(&self.log_path(id))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &hosts::netns(id)])
            .arg(&spec.trentd)
            .arg("run")
            .args(["--cluster-name", "jepsen", "--node-id", &id.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--api-listen", &format!("{}:{API_PORT}", hosts::ip(id))])
            .args(["--peer-listen", &format!("{}:{PEER_PORT}", hosts::ip(id))])
            .args([
                "--peer-advertise",
                &format!("{}:{PEER_PORT}", hosts::name(id)),
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args([
                "--plain-http",
                "--peer-plain",
                // The harness's own bridge, reachable only from its namespaces.
                "--insecure-peer-plain-on-network",
                "--request-timeout-ms",
                "3000",
            ])
            .args(&spec.extra_args)
            .env("TRENT_LOG", "info")
            // The workloads drive one account past AWS's per-second quotas by design.
            .env("TRENT_REQUEST_QUOTAS", "false")
            .env("TRENT_DOMAIN_KEY", DOMAIN_KEY)
            .env("TRENT_ROOT_ACCOUNT", ACCOUNT)
            .env("TRENT_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("TRENT_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if spec.faulty_disks && std::env::var_os("TRENT_WAL_RECYCLE_MB").is_none() {
            // A fault file system holds what it is given in memory: 4 MB recycled WAL files
            // (the same recycling, ARCHITECTURE.md Storage) instead of 64 MB ones.
            cmd.env("TRENT_WAL_RECYCLE_MB", "4");
        }
        if let Some(failpoints) = &spec.failpoints {
            cmd.env("FAILPOINTS", failpoints);
        }
        if spec.faketime {
            cmd.env("LD_PRELOAD", FAKETIME_LIB)
                .env("FAKETIME_TIMESTAMP_FILE", self.clock_file(id))
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        // SAFETY: prctl in the forked child before exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Ok(cmd)
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .expect("a node of this run")
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("a node of this run")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for id in self.ids() {
            self.resume(id);
            self.kill(id);
        }
    }
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
