//! Separate hosts on one machine: each node gets a network namespace (`tj<id>`), a veth pair
//! onto a bridge (`tjbr0`) with its own address (`10.77.0.<id>`), and its own
//! `/etc/netns/tj<id>/hosts` naming every node `n<id>`, so nodes reach each other by name over
//! a real network path that iptables and tc can cut or slow. The harness (root namespace)
//! reaches every node through the bridge address `10.77.0.254`.
//!
//! Guarantees: one harness run per machine at a time (a lock file; a second run waits); whatever a crashed run
//! left behind (namespaces and their processes, links, hosts files, the forward rule) is
//! removed before a new run sets up and again when [`Hosts`] is dropped.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use anyhow::{bail, Context, Result};

const PREFIX: &str = "tj";
const BRIDGE: &str = "tjbr0";
const SUBNET: &str = "10.77.0";
const LOCK: &str = "/run/trent-jepsen.lock";

/// The harness's own address on the bridge: clients connect from it.
pub const CLIENT_IP: &str = "10.77.0.254";

/// The namespaces of one run; torn down on drop.
pub struct Hosts {
    pub ids: Vec<u64>,
    _lock: File,
}

impl Hosts {
    /// Sets up `n` hosts (ids 1..=n), after removing what an earlier run left behind.
    pub fn setup(n: u64) -> Result<Hosts> {
        let lock = take_lock()?;
        teardown();
        let hosts = Hosts {
            ids: (1..=n).collect(),
            _lock: lock,
        };
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{CLIENT_IP}/24"), "dev", BRIDGE],
        )?;
        run("ip", &["link", "set", BRIDGE, "up"])?;
        // Docker sets the FORWARD policy to DROP, and with br_netfilter loaded bridged frames
        // pass through it: let traffic between our veths through.
        run(
            "iptables",
            &[
                "-w", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
            ],
        )?;
        for &id in &hosts.ids {
            add_host(id, n)?;
        }
        Ok(hosts)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        teardown();
    }
}

/// The namespace of node `id`.
pub fn netns(id: u64) -> String {
    format!("{PREFIX}{id}")
}

/// Node `id`'s address.
pub fn ip(id: u64) -> String {
    format!("{SUBNET}.{id}")
}

/// Node `id`'s host name (resolvable inside every node's namespace).
pub fn name(id: u64) -> String {
    format!("n{id}")
}

/// Runs `program args` inside node `id`'s namespace and waits for it.
pub fn exec_in(id: u64, program: &str, args: &[&str]) -> Result<()> {
    let ns = netns(id);
    let mut full = vec!["netns", "exec", ns.as_str(), program];
    full.extend_from_slice(args);
    run("ip", &full)
}

fn add_host(id: u64, n: u64) -> Result<()> {
    let ns = netns(id);
    let outer = format!("{PREFIX}v{id}");
    run("ip", &["netns", "add", &ns])?;
    run(
        "ip",
        &[
            "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
    )?;
    run("ip", &["link", "set", &outer, "master", BRIDGE, "up"])?;
    let inside = |args: &[&str]| {
        let mut full = vec!["netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    };
    inside(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", ip(id)),
        "dev",
        "eth0",
    ])?;
    inside(&["ip", "link", "set", "eth0", "up"])?;
    inside(&["ip", "link", "set", "lo", "up"])?;
    let dir = format!("/etc/netns/{ns}");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for other in 1..=n {
        hosts.push_str(&format!("{} {}\n", ip(other), name(other)));
    }
    std::fs::write(format!("{dir}/hosts"), hosts).with_context(|| format!("writing {dir}/hosts"))
}

/// [`teardown`] under the run lock, so it never pulls the hosts from under a live run.
pub fn clean() -> Result<()> {
    let _lock = take_lock()?;
    teardown();
    Ok(())
}

/// Removes every namespace, link, hosts file and rule a run of this harness makes; errors are
/// ignored because any of them may already be gone.
pub fn teardown() {
    for ns in namespaces() {
        kill_processes_in(&ns);
        let _ = quiet("ip", &["netns", "del", &ns]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
    }
    // Deleting a namespace destroys its veth pairs only once the kernel has released the
    // namespace, which can lag: delete our outer ends explicitly.
    for link in links() {
        let _ = quiet("ip", &["link", "del", &link]);
    }
    let _ = quiet("ip", &["link", "del", BRIDGE]);
    while quiet(
        "iptables",
        &[
            "-w", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT",
        ],
    ) {}
}

fn namespaces() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| {
            ns.strip_prefix(PREFIX)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty())
        })
        .map(str::to_owned)
        .collect()
}

fn links() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() else {
        return vec![];
    };
    let prefix = format!("{PREFIX}v");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

fn kill_processes_in(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: kill(2) with a pid from `ip netns pids`; a stale pid fails harmlessly.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn take_lock() -> Result<File> {
    let file = File::create(LOCK).with_context(|| format!("creating {LOCK} (run as root)"))?;
    // SAFETY: flock(2) on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::info!("another trent-jepsen run holds {LOCK}; waiting for it to finish");
        // SAFETY: as above; blocks until the other run releases the lock.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("locking {LOCK}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// Runs a set-up command; fails naming it and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} (is it installed? run as root)"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}
