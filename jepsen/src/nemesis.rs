//! Faults, each with a start and a stop recorded in the history: partitions (iptables inside
//! the nodes' namespaces), kill -9 and restart, SIGSTOP/SIGCONT, wall-clock skew and strobe
//! (libfaketime), membership change (remove and re-add a node), slow links (tc netem), a
//! wiped disk (`wipe.rs`: restart on an empty data dir, then the replace step), and the disk
//! faults of `disk.rs` (power loss, a full disk, failing fsyncs), and a leader moved to another
//! voter by the admin API's TransferLeadership.
//! Every other clock fault moves the leader's clock ±40 days (a leap past any deletion
//! window), so that the deletion-schedule workload can show no key is deleted early.
//!
//! Each fault knows whether a majority of voters stays running and connected while it is
//! active (`majority_healthy`); availability is measured over those times only.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::client::{Clients, Outcome};
use crate::history::Phase;
use crate::hosts;
use crate::nodes::{Nodes, PEER_PORT};
use crate::recorder::Recorder;

mod disk;
mod partition;
mod wipe;

pub use disk::PowerLossMode;
pub use partition::{heal as heal_partitions, PartitionMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    Partition,
    Kill,
    Pause,
    Clock,
    Membership,
    Netem,
    Wipe,
    PowerLoss,
    DiskFull,
    FsyncFail,
    TransferLeader,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Clock => "clock",
            Fault::Membership => "membership",
            Fault::Netem => "netem",
            Fault::Wipe => "wipe",
            Fault::PowerLoss => "power-loss",
            Fault::DiskFull => "disk-full",
            Fault::FsyncFail => "fsync-fail",
            Fault::TransferLeader => "transfer-leader",
        }
    }

    /// Whether the fault needs the nodes' data dirs on fault file systems.
    pub fn needs_faulty_disks(self) -> bool {
        matches!(self, Fault::PowerLoss | Fault::DiskFull | Fault::FsyncFail)
    }
}

/// A fault in effect, with what it takes to undo it.
enum Undo {
    /// Flush the partition rules.
    Heal,
    Restart(Vec<u64>),
    Resume(Vec<u64>),
    ResetClocks(Vec<u64>, Option<JoinHandle<()>>),
    ReAdd(u64),
    ClearNetem(Vec<u64>),
    /// Restart `killed`, then replace the wiped `victim` (RemoveNode, AddNode).
    Replace {
        victim: u64,
        killed: Vec<u64>,
    },
    /// The disk has space again.
    FreeSpace(u64),
    /// The disk's fsyncs work again; `eio_before`: its failed fsyncs before the fault.
    FsyncHeals {
        victim: u64,
        eio_before: u64,
    },
    /// Nothing to undo (the lead moved; it stays where it went).
    Nothing,
}

pub struct Active {
    fault: Fault,
    nodes: Vec<u64>,
    detail: String,
    majority_healthy: bool,
    undo: Undo,
}

pub struct Nemesis {
    pub nodes: Arc<Mutex<Nodes>>,
    pub recorder: Arc<Recorder>,
    pub clients: Clients,
    /// The partition shapes to choose from (all when empty).
    pub partition_modes: Vec<PartitionMode>,
    /// Clock faults started so far (even ones are leaps of the leader's clock).
    pub clock_faults: std::sync::atomic::AtomicU64,
    /// Wiped nodes that did not stay out of elections until replaced (`wipe.rs`).
    pub wipe_findings: std::sync::Mutex<Vec<String>>,
    /// Whom power losses take (all modes when empty).
    pub power_loss_modes: Vec<PowerLossMode>,
    /// Nodes that did not keep the rules of a full disk or a failed fsync (`disk.rs`).
    pub disk_findings: std::sync::Mutex<Vec<String>>,
    /// Where the audit trail is exported after every fault (`None`: the trail is off), and
    /// what those exports found: (verified, findings).
    pub audit_dir: Option<std::path::PathBuf>,
    pub audit_checks: std::sync::Mutex<(usize, Vec<String>)>,
}

/// How far the clock nemesis moves the leader's clock: past every deletion window (7-30 days).
pub const LEAP_SECS: i64 = 40 * 24 * 3600;

impl Nemesis {
    /// Starts `fault` in one of its modes, chosen at random, and records it.
    pub async fn start(&self, fault: Fault) -> Result<Active> {
        let ids = self.nodes.lock().await.ids();
        let leader = self.leader().await;
        let active = match fault {
            Fault::Partition => self.partition(&ids, leader)?,
            Fault::Kill => self.kill(&ids, leader).await,
            Fault::Pause => self.pause(&ids, leader).await,
            Fault::Clock => self.skew_clocks(&ids, leader).await?,
            Fault::Membership => self.remove_member(&ids, leader).await?,
            Fault::Netem => slow_links(&ids)?,
            Fault::Wipe => self.wipe(&ids, leader).await?,
            Fault::PowerLoss => self.power_loss(&ids, leader).await,
            Fault::DiskFull => self.fill_disk(&ids, leader).await,
            Fault::FsyncFail => self.fail_fsyncs(&ids, leader).await,
            Fault::TransferLeader => self.transfer_leader(&ids, leader).await,
        };
        self.recorder.nemesis(
            fault.name(),
            Phase::Start,
            active.nodes.clone(),
            active.detail.clone(),
            active.majority_healthy,
        );
        Ok(active)
    }

    /// Undoes `active` and records its stop.
    pub async fn stop(&self, active: Active) -> Result<()> {
        match active.undo {
            Undo::Heal => partition::heal(&self.nodes.lock().await.ids()),
            Undo::Restart(ids) => {
                let mut nodes = self.nodes.lock().await;
                for id in ids {
                    nodes.start(id)?;
                }
            }
            Undo::Resume(ids) => {
                let mut nodes = self.nodes.lock().await;
                for id in ids {
                    nodes.resume(id);
                }
            }
            Undo::ResetClocks(ids, strobe) => {
                if let Some(task) = strobe {
                    task.abort();
                    let _ = task.await;
                }
                let nodes = self.nodes.lock().await;
                for id in ids {
                    nodes.set_clock_offset(id, 0)?;
                }
            }
            Undo::ReAdd(id) => self.add_member(id).await?,
            Undo::ClearNetem(ids) => {
                for id in ids {
                    let _ = hosts::exec_in(id, "tc", &["qdisc", "del", "dev", "eth0", "root"]);
                }
            }
            Undo::Replace { victim, killed } => self.replace(victim, &killed).await?,
            Undo::FreeSpace(victim) => self.free_space(victim).await,
            Undo::FsyncHeals { victim, eio_before } => self.heal_fsyncs(victim, eio_before).await?,
            Undo::Nothing => {}
        }
        self.recorder.nemesis(
            active.fault.name(),
            Phase::Stop,
            active.nodes,
            active.detail,
            true,
        );
        Ok(())
    }

    async fn leader(&self) -> Option<u64> {
        let ids = self.nodes.lock().await.ids();
        find_leader(&ids).await
    }

    fn partition(&self, ids: &[u64], leader: Option<u64>) -> Result<Active> {
        let mut rng = rand::thread_rng();
        let mode = partition::choose_mode(&self.partition_modes, ids.len(), &mut rng);
        let cut = partition::plan(mode, ids, leader, &mut rng);
        partition::apply(&cut.cuts)?;
        Ok(Active {
            fault: Fault::Partition,
            nodes: cut.affected,
            detail: cut.detail,
            majority_healthy: true,
            undo: Undo::Heal,
        })
    }

    async fn kill(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let (victims, what) = kill_plan(ids, leader, &mut rand::thread_rng());
        let mut nodes = self.nodes.lock().await;
        for &id in &victims {
            nodes.kill(id);
        }
        Active {
            fault: Fault::Kill,
            majority_healthy: victims.len() <= (ids.len() - 1) / 2,
            detail: format!("kill -9 {what}: {victims:?}"),
            nodes: victims.clone(),
            undo: Undo::Restart(victims),
        }
    }

    async fn pause(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let mut rng = rand::thread_rng();
        let victim = match leader {
            Some(l) if rng.gen_bool(0.5) => l,
            _ => *ids.choose(&mut rng).expect("nodes"),
        };
        self.nodes.lock().await.pause(victim);
        Active {
            fault: Fault::Pause,
            nodes: vec![victim],
            detail: format!("SIGSTOP node {victim}"),
            majority_healthy: true,
            undo: Undo::Resume(vec![victim]),
        }
    }

    async fn skew_clocks(&self, ids: &[u64], leader: Option<u64>) -> Result<Active> {
        let n = (self.clock_faults).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let (Some(leader), true) = (leader, n.is_multiple_of(2)) {
            // A leap: the leader's clock jumps 40 days ahead or behind (alternately) and
            // stays there for the fault's duration; it may well go on leading.
            let offset = if n.is_multiple_of(4) {
                LEAP_SECS
            } else {
                -LEAP_SECS
            };
            self.nodes.lock().await.set_clock_offset(leader, offset)?;
            return Ok(Active {
                fault: Fault::Clock,
                nodes: vec![leader],
                detail: format!("leap leader {leader}'s clock {:+} days", offset / 86_400),
                majority_healthy: true,
                undo: Undo::ResetClocks(vec![leader], None),
            });
        }
        let mut rng = rand::thread_rng();
        let mut shuffled = ids.to_vec();
        shuffled.shuffle(&mut rng);
        let victims = shuffled[..rng.gen_range(1..=ids.len().div_ceil(2))].to_vec();
        let nodes = self.nodes.lock().await;
        if rng.gen_bool(0.3) {
            // Strobe: one node's clock jumps between two offsets every couple of seconds.
            let victim = victims[0];
            let offset = rng.gen_range(5..=90);
            let shared = self.nodes.clone();
            let task = tokio::spawn(async move {
                for flip in 0u64.. {
                    let sign = if flip % 2 == 0 { 1 } else { -1 };
                    let _ = shared.lock().await.set_clock_offset(victim, sign * offset);
                    tokio::time::sleep(Duration::from_millis(2000)).await;
                }
            });
            return Ok(Active {
                fault: Fault::Clock,
                nodes: vec![victim],
                detail: format!("strobe node {victim} between +{offset}s and -{offset}s"),
                majority_healthy: true,
                undo: Undo::ResetClocks(vec![victim], Some(task)),
            });
        }
        let mut detail = vec![];
        for &id in &victims {
            let offset = rng.gen_range(2..=120) * if rng.gen_bool(0.5) { 1 } else { -1 };
            nodes.set_clock_offset(id, offset)?;
            detail.push(format!("{id}: {offset:+}s"));
        }
        Ok(Active {
            fault: Fault::Clock,
            nodes: victims.clone(),
            detail: format!("skew clocks {}", detail.join(", ")),
            majority_healthy: true,
            undo: Undo::ResetClocks(victims, None),
        })
    }

    async fn remove_member(&self, ids: &[u64], leader: Option<u64>) -> Result<Active> {
        let candidates: Vec<u64> = ids.iter().copied().filter(|&i| Some(i) != leader).collect();
        let victim = *candidates
            .choose(&mut rand::thread_rng())
            .expect("a non-leader");
        let outcome = self
            .clients
            .admin("RemoveNode", &json!({ "NodeId": victim }))
            .await;
        Ok(Active {
            fault: Fault::Membership,
            nodes: vec![victim],
            detail: format!("remove node {victim}: {}", describe(&outcome)),
            majority_healthy: true,
            undo: Undo::ReAdd(victim),
        })
    }

    /// Moves the lead to another voter under load, as an operator does before maintenance
    /// (the admin API's TransferLeadership, etcd's `move-leader`): the leader hands over and
    /// the target answers once it leads, or 503 if it has not within 5 s. A majority stays
    /// healthy throughout; the brief handover is what the checkers see.
    async fn transfer_leader(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let candidates: Vec<u64> = ids.iter().copied().filter(|&i| Some(i) != leader).collect();
        let target = *candidates
            .choose(&mut rand::thread_rng())
            .expect("a voter besides the leader");
        let outcome = self
            .clients
            .admin("TransferLeadership", &json!({ "NodeId": target }))
            .await;
        let from = leader.map_or("an unknown leader".to_owned(), |l| format!("node {l}"));
        Active {
            fault: Fault::TransferLeader,
            nodes: vec![target],
            detail: format!(
                "move the lead from {from} to node {target}: {}",
                describe(&outcome)
            ),
            majority_healthy: true,
            undo: Undo::Nothing,
        }
    }

    /// Adds `id` back as a voter; retries until the cluster confirms it (a node left out would
    /// silently shrink the cluster for the rest of the run).
    async fn add_member(&self, id: u64) -> Result<()> {
        let input = json!({ "NodeId": id, "Address": format!("{}:{PEER_PORT}", hosts::name(id)) });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let outcome = self.clients.admin("AddNode", &input).await;
            if matches!(outcome, Outcome::Answered { answer: Ok(_), .. }) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("node {id} could not be re-added: {}", describe(&outcome));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Whom the kill nemesis kills: a majority one time in five, else the leader or a random node
/// (the leader when none is known), equally often.
fn kill_plan(ids: &[u64], leader: Option<u64>, rng: &mut impl Rng) -> (Vec<u64>, &'static str) {
    let mut shuffled = ids.to_vec();
    shuffled.shuffle(rng);
    let roll: f64 = rng.gen();
    if roll < 0.2 && ids.len() >= 3 {
        (shuffled[..ids.len() / 2 + 1].to_vec(), "a majority")
    } else if roll < 0.6 {
        (vec![leader.unwrap_or(shuffled[0])], "the leader")
    } else {
        (vec![shuffled[0]], "a node")
    }
}

/// The leader most answering nodes name, if any does (from their `/readyz`).
pub async fn find_leader(ids: &[u64]) -> Option<u64> {
    trent_client::tls::install_default_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .ok()?;
    let mut votes: Vec<u64> = vec![];
    for &id in ids {
        let url = format!("{}/readyz", Nodes::api(id));
        let Ok(response) = http.get(url).send().await else {
            continue;
        };
        let Ok(body) = response.json::<serde_json::Value>().await else {
            continue;
        };
        if let Some(leader) = body["leader"].as_u64() {
            votes.push(leader);
        }
    }
    votes.sort_unstable();
    let mut best: Option<(u64, usize)> = None;
    for chunk in votes.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(_, n)| chunk.len() > n) {
            best = Some((chunk[0], chunk.len()));
        }
    }
    best.map(|(leader, _)| leader)
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered { answer: Ok(_), .. } => "ok".into(),
        Outcome::Answered {
            answer: Err(code), ..
        } => code.clone(),
        Outcome::NotApplied { error, .. } => format!("not applied: {error}"),
        Outcome::Unknown { error, .. } => format!("unknown: {error}"),
    }
}

fn slow_links(ids: &[u64]) -> Result<Active> {
    let mut rng = rand::thread_rng();
    let mut shuffled = ids.to_vec();
    shuffled.shuffle(&mut rng);
    let victims = shuffled[..rng.gen_range(1..=2.min(ids.len()))].to_vec();
    let delay = rng.gen_range(20..=100);
    let mut how = String::new();
    for &id in &victims {
        how = slow_link(id, delay)?;
    }
    Ok(Active {
        fault: Fault::Netem,
        nodes: victims.clone(),
        detail: format!("{how} on {victims:?}"),
        majority_healthy: true,
        undo: Undo::ClearNetem(victims),
    })
}

/// Slows node `id`'s link: netem delay and loss where the kernel has netem, else a token
/// bucket (tbf) that queues whatever exceeds a thin rate (kernels built without sch_netem).
fn slow_link(id: u64, delay_ms: u32) -> Result<String> {
    let (delay, jitter) = (format!("{delay_ms}ms"), format!("{}ms", delay_ms / 2));
    let netem = [
        "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", &delay, &jitter, "loss", "1%",
    ];
    if hosts::exec_in(id, "tc", &netem).is_ok() {
        return Ok(format!("netem delay {delay} ±{jitter}, 1% loss"));
    }
    let rate = format!("{}kbit", 8 * 1024 / delay_ms.max(1) * 16);
    let tbf = [
        "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", &rate, "burst", "16kbit",
        "latency", "400ms",
    ];
    hosts::exec_in(id, "tc", &tbf)?;
    Ok(format!(
        "tbf rate {rate}, 400 ms queue (no netem in this kernel)"
    ))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn kills_take_a_majority_the_leader_or_a_node_in_the_planned_shares() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..1000 {
            let (victims, what) = kill_plan(&[1, 2, 3, 4, 5], Some(3), &mut rng);
            match what {
                "a majority" => assert_eq!(victims.len(), 3),
                "the leader" => assert_eq!(victims, vec![3]),
                _ => assert_eq!(victims.len(), 1),
            }
            *counts.entry(what).or_insert(0) += 1;
        }
        assert!((150..250).contains(&counts["a majority"]), "{counts:?}");
        assert!((330..470).contains(&counts["the leader"]), "{counts:?}");
        assert!((330..470).contains(&counts["a node"]), "{counts:?}");
    }
}
