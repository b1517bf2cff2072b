//! The partition nemesis's shapes: which node drops what from whom. Planning is pure (and
//! tested below); [`apply`] turns a plan into iptables DROP rules inside the receiving nodes'
//! namespaces, and [`heal`] flushes them.

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::hosts;

/// The shapes the partition nemesis cuts the network into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartitionMode {
    /// The leader from everyone else, both ways.
    IsolateLeader,
    /// A random minority from the majority.
    Halves,
    /// One node hears no one (its packets still leave).
    OneWay,
    /// Two halves joined only through one node (5+ nodes).
    Bridge,
    /// Each node reaches only its two ring neighbours (5+ nodes).
    Ring,
}

/// A planned partition: `(node, from)` means node drops what arrives from `from`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cuts: Vec<(u64, u64)>,
    pub affected: Vec<u64>,
    pub detail: String,
}

/// One of `allowed` (all that fit `nodes` when empty), at random.
pub fn choose_mode(allowed: &[PartitionMode], nodes: usize, rng: &mut impl Rng) -> PartitionMode {
    let mut modes = allowed.to_vec();
    if modes.is_empty() {
        modes = vec![
            PartitionMode::IsolateLeader,
            PartitionMode::Halves,
            PartitionMode::OneWay,
        ];
        if nodes >= 5 {
            modes.extend([PartitionMode::Bridge, PartitionMode::Ring]);
        }
    }
    *modes.choose(rng).expect("at least one partition mode")
}

/// The cuts for `mode` over `ids` (a random node stands in for an unknown leader).
pub fn plan(mode: PartitionMode, ids: &[u64], leader: Option<u64>, rng: &mut impl Rng) -> Plan {
    let mut shuffled = ids.to_vec();
    shuffled.shuffle(rng);
    match mode {
        PartitionMode::IsolateLeader => {
            let victim = leader.unwrap_or(shuffled[0]);
            let rest: Vec<u64> = ids.iter().copied().filter(|&i| i != victim).collect();
            Plan {
                cuts: both_ways(&[victim], &rest),
                affected: vec![victim],
                detail: format!("isolate leader {victim} from {rest:?}"),
            }
        }
        PartitionMode::Halves => {
            let (minority, majority) = shuffled.split_at((ids.len() - 1) / 2);
            Plan {
                cuts: both_ways(minority, majority),
                affected: minority.to_vec(),
                detail: format!("halves {minority:?} | {majority:?}"),
            }
        }
        PartitionMode::OneWay => {
            let victim = shuffled[0];
            Plan {
                cuts: ids
                    .iter()
                    .filter(|&&i| i != victim)
                    .map(|&from| (victim, from))
                    .collect(),
                affected: vec![victim],
                detail: format!("{victim} hears no one (one-way)"),
            }
        }
        PartitionMode::Bridge if ids.len() >= 5 => {
            let (a, rest) = shuffled.split_at(2);
            let (bridge, b) = rest.split_at(1);
            Plan {
                cuts: both_ways(a, b),
                affected: ids.to_vec(),
                detail: format!("bridge {a:?} - {bridge:?} - {b:?}"),
            }
        }
        PartitionMode::Bridge | PartitionMode::Ring => ring(&shuffled),
    }
}

fn ring(order: &[u64]) -> Plan {
    let n = order.len();
    let mut cuts = vec![];
    for i in 0..n {
        for j in 0..n {
            let adjacent = (i + 1) % n == j || (j + 1) % n == i;
            if i != j && !adjacent {
                cuts.push((order[i], order[j]));
            }
        }
    }
    Plan {
        cuts,
        affected: order.to_vec(),
        detail: format!("ring {order:?}"),
    }
}

/// Installs the plan's DROP rules.
pub fn apply(cuts: &[(u64, u64)]) -> Result<()> {
    for &(node, from) in cuts {
        let source = hosts::ip(from);
        hosts::exec_in(
            node,
            "iptables",
            &["-w", "-A", "INPUT", "-s", &source, "-j", "DROP"],
        )?;
    }
    Ok(())
}

/// Removes every partition rule (the nodes' INPUT chains hold nothing else).
pub fn heal(ids: &[u64]) {
    for &id in ids {
        let _ = hosts::exec_in(id, "iptables", &["-w", "-F", "INPUT"]);
    }
}

fn both_ways(a: &[u64], b: &[u64]) -> Vec<(u64, u64)> {
    let mut cuts = vec![];
    for &x in a {
        for &y in b {
            cuts.push((x, y));
            cuts.push((y, x));
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const IDS: [u64; 5] = [1, 2, 3, 4, 5];

    /// Who can reach whom (both ways) under `cuts`.
    fn links(cuts: &[(u64, u64)]) -> BTreeSet<(u64, u64)> {
        let cut: BTreeSet<(u64, u64)> = cuts.iter().copied().collect();
        let mut up = BTreeSet::new();
        for &a in &IDS {
            for &b in &IDS {
                if a < b && !cut.contains(&(a, b)) && !cut.contains(&(b, a)) {
                    up.insert((a, b));
                }
            }
        }
        up
    }

    fn plan_of(mode: PartitionMode, leader: Option<u64>) -> Plan {
        plan(mode, &IDS, leader, &mut rand::thread_rng())
    }

    #[test]
    fn isolating_the_leader_cuts_exactly_its_links() {
        let p = plan_of(PartitionMode::IsolateLeader, Some(3));
        let up = links(&p.cuts);
        assert!(up.iter().all(|&(a, b)| a != 3 && b != 3));
        assert_eq!(up.len(), 6, "the other four stay fully connected");
        assert_eq!(p.affected, vec![3]);
    }

    #[test]
    fn halves_leave_a_connected_majority() {
        let p = plan_of(PartitionMode::Halves, None);
        assert_eq!(p.affected.len(), 2);
        let up = links(&p.cuts);
        assert_eq!(up.len(), 1 + 3, "a pair and a triangle");
    }

    #[test]
    fn a_bridge_node_reaches_everyone_and_the_sides_reach_only_it() {
        let p = plan_of(PartitionMode::Bridge, None);
        let up = links(&p.cuts);
        let bridge = IDS
            .iter()
            .copied()
            .find(|&n| up.iter().filter(|&&(a, b)| a == n || b == n).count() == 4)
            .expect("one node keeps all its links");
        assert_eq!(up.len(), 4 + 2, "the bridge's four links and one per side");
        assert!(IDS.contains(&bridge));
    }

    #[test]
    fn a_ring_keeps_each_node_two_neighbours() {
        let up = links(&plan_of(PartitionMode::Ring, None).cuts);
        assert_eq!(up.len(), 5);
        for n in IDS {
            assert_eq!(up.iter().filter(|&&(a, b)| a == n || b == n).count(), 2);
        }
    }

    #[test]
    fn one_way_drops_only_what_the_victim_receives() {
        let p = plan_of(PartitionMode::OneWay, None);
        let victim = p.affected[0];
        assert_eq!(p.cuts.len(), 4);
        assert!(p
            .cuts
            .iter()
            .all(|&(node, from)| node == victim && from != victim));
    }

    #[test]
    fn small_clusters_are_never_given_shapes_that_need_five_nodes() {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let mode = choose_mode(&[], 3, &mut rng);
            assert!(!matches!(mode, PartitionMode::Bridge | PartitionMode::Ring));
        }
        assert_eq!(
            choose_mode(&[PartitionMode::Ring], 3, &mut rng),
            PartitionMode::Ring
        );
    }
}
