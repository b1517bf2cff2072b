//! The disk nemeses, on the nodes' fault file systems (`crate::disks`):
//!
//! - `power-loss`: one node, the leader, a majority or every node loses power: kill -9, then
//!   everything it wrote and did not sync is gone; the nodes restart at the stop.
//! - `disk-full`: a node's file system answers ENOSPC to anything that needs space. The node
//!   must stay up, refuse writes with a clear error, corrupt nothing, and serve again once
//!   space returns (it is not restarted).
//! - `fsync-fail`: a node's fsyncs answer EIO, and what they should have made durable is not
//!   (Linux's "fsyncgate" behaviour: the pages are marked clean anyway). The node must stop
//!   rather than go on with a log it cannot trust. At the stop the disk heals, the node loses
//!   power (whatever it kept only in memory is gone) and restarts from what is durable.
//!
//! A node that breaks the rules of `disk-full` or `fsync-fail` is a finding of the
//! `disk-faults` verdict; what power loss costs shows in the data checkers.

use std::time::Duration;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{Active, Fault, Nemesis, Undo};
use crate::nodes::Nodes;

/// Whom a power loss takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PowerLossMode {
    Node,
    Leader,
    Majority,
    All,
}

/// How long a node may take to serve again after its disk has space again.
const RECOVERY_PATIENCE: Duration = Duration::from_secs(30);
/// How long a node whose fsync failed may take to stop.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

impl Nemesis {
    pub(super) async fn power_loss(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let mode = choose_mode(&self.power_loss_modes, &mut rand::thread_rng());
        let victims = power_loss_victims(mode, ids, leader, &mut rand::thread_rng());
        let mut nodes = self.nodes.lock().await;
        let mut lost = vec![];
        for &id in &victims {
            nodes.kill(id);
        }
        // Only once every victim is dead: a power cut takes them at one instant.
        for &id in &victims {
            let dropped = nodes.disks().expect("faulty disks").power_loss(id);
            lost.push(format!(
                "{id}: {} B, {} entries",
                dropped.bytes, dropped.entries
            ));
        }
        Active {
            fault: Fault::PowerLoss,
            majority_healthy: victims.len() <= (ids.len() - 1) / 2,
            detail: format!(
                "power loss of {} {victims:?}; unsynced data dropped ({})",
                mode_name(mode),
                lost.join("; ")
            ),
            nodes: victims.clone(),
            undo: Undo::Restart(victims),
        }
    }

    pub(super) async fn fill_disk(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let victim = leader_or_any(ids, leader);
        let nodes = self.nodes.lock().await;
        nodes.disks().expect("faulty disks").set_full(victim, true);
        Active {
            fault: Fault::DiskFull,
            nodes: vec![victim],
            detail: format!("node {victim}'s disk is full (ENOSPC)"),
            majority_healthy: true,
            undo: Undo::FreeSpace(victim),
        }
    }

    /// Space returns; the node must serve again by itself.
    pub(super) async fn free_space(&self, victim: u64) {
        {
            let nodes = self.nodes.lock().await;
            let disks = nodes.disks().expect("faulty disks");
            disks.set_full(victim, false);
        }
        if !ready_within(victim, RECOVERY_PATIENCE).await {
            self.note_disk_finding(format!(
                "node {victim} did not serve again within {}s after its disk had space again",
                RECOVERY_PATIENCE.as_secs()
            ));
        }
    }

    pub(super) async fn fail_fsyncs(&self, ids: &[u64], leader: Option<u64>) -> Active {
        let victim = leader_or_any(ids, leader);
        let nodes = self.nodes.lock().await;
        let disks = nodes.disks().expect("faulty disks");
        let eio_before = disks.counters(victim).eio;
        disks.set_fsync_fails(victim, true);
        Active {
            fault: Fault::FsyncFail,
            nodes: vec![victim],
            detail: format!("node {victim}'s fsyncs fail (EIO)"),
            majority_healthy: true,
            undo: Undo::FsyncHeals { victim, eio_before },
        }
    }

    /// The node must have stopped if an fsync of it failed; then it loses power (the pages
    /// the failed fsync left clean are gone) and restarts on a healed disk.
    pub(super) async fn heal_fsyncs(&self, victim: u64, eio_before: u64) -> Result<()> {
        let failed = {
            let nodes = self.nodes.lock().await;
            nodes.disks().expect("faulty disks").counters(victim).eio - eio_before
        };
        if failed > 0 && !self.stopped_within(victim, STOP_PATIENCE).await {
            self.note_disk_finding(format!(
                "node {victim} went on running after {failed} failed fsync(s)"
            ));
        }
        let mut nodes = self.nodes.lock().await;
        nodes.kill(victim);
        let disks = nodes.disks().expect("faulty disks");
        disks.set_fsync_fails(victim, false);
        disks.power_loss(victim);
        nodes.start(victim)
    }

    /// Whether `id`'s process exits by itself within `patience`.
    async fn stopped_within(&self, id: u64, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if self.nodes.lock().await.reap(id).is_some() {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn note_disk_finding(&self, finding: String) {
        tracing::error!(%finding, "disk nemesis finding");
        self.disk_findings.lock().unwrap().push(finding);
    }
}

/// One of `allowed`, or of all four modes when none is named.
fn choose_mode(allowed: &[PowerLossMode], rng: &mut impl Rng) -> PowerLossMode {
    const ALL: [PowerLossMode; 4] = [
        PowerLossMode::Node,
        PowerLossMode::Leader,
        PowerLossMode::Majority,
        PowerLossMode::All,
    ];
    let from = if allowed.is_empty() {
        &ALL[..]
    } else {
        allowed
    };
    *from.choose(rng).expect("a mode")
}

fn power_loss_victims(
    mode: PowerLossMode,
    ids: &[u64],
    leader: Option<u64>,
    rng: &mut impl Rng,
) -> Vec<u64> {
    let mut shuffled = ids.to_vec();
    shuffled.shuffle(rng);
    match mode {
        PowerLossMode::Node => vec![shuffled[0]],
        PowerLossMode::Leader => vec![leader.unwrap_or(shuffled[0])],
        PowerLossMode::Majority => shuffled[..ids.len() / 2 + 1].to_vec(),
        PowerLossMode::All => ids.to_vec(),
    }
}

fn mode_name(mode: PowerLossMode) -> &'static str {
    match mode {
        PowerLossMode::Node => "a node",
        PowerLossMode::Leader => "the leader",
        PowerLossMode::Majority => "a majority",
        PowerLossMode::All => "every node",
    }
}

/// The leader half the time (when known), else any node.
fn leader_or_any(ids: &[u64], leader: Option<u64>) -> u64 {
    let mut rng = rand::thread_rng();
    match leader {
        Some(l) if rng.gen_bool(0.5) => l,
        _ => *ids.choose(&mut rng).expect("nodes"),
    }
}

/// Whether node `id`'s `/readyz` answers 200 within `patience`.
async fn ready_within(id: u64, patience: Duration) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
    else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < deadline {
        let url = format!("{}/readyz", Nodes::api(id));
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn without_named_modes_every_mode_is_chosen() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let chosen: std::collections::HashSet<String> = (0..100)
            .map(|_| format!("{:?}", choose_mode(&[], &mut rng)))
            .collect();
        assert_eq!(chosen.len(), 4, "{chosen:?}");
        assert_eq!(
            choose_mode(&[PowerLossMode::All], &mut rng),
            PowerLossMode::All
        );
    }

    #[test]
    fn power_loss_takes_one_node_the_leader_a_majority_or_every_node() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let ids = [1, 2, 3, 4, 5];
        let one = power_loss_victims(PowerLossMode::Node, &ids, Some(2), &mut rng);
        assert_eq!(one.len(), 1);
        let leader = power_loss_victims(PowerLossMode::Leader, &ids, Some(2), &mut rng);
        assert_eq!(leader, [2]);
        let majority = power_loss_victims(PowerLossMode::Majority, &ids, Some(2), &mut rng);
        assert_eq!(majority.len(), 3);
        let all = power_loss_victims(PowerLossMode::All, &ids, None, &mut rng);
        assert_eq!(all, ids);
    }
}
