//! `availability`: the fraction of client operations that succeeded among those invoked
//! while a majority of the cluster was healthy (no fault active, or every active fault
//! leaving a connected majority of running voters: `majority_healthy`).
//!
//! An operation counts as a success when the service answered it (`Ok`, business errors
//! included); `Fail` and `Info` count against. The final-phase reads (Decrypt, the final
//! ListKeys and GetPublicKeys) are left out: they run after the faults healed and are the checks, not the load.
//! Figures per fault type and overall are in the stats; the verdict compares the healthy
//! figure with the goal (goal 0: report only).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::history::{Completed, Entry, Kind, Nanos, Op, Phase};

use super::{fmt_time, Verdict};

/// A fault from its Start to its Stop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultInterval {
    pub fault: String,
    pub nodes: Vec<u64>,
    pub detail: String,
    pub start: Nanos,
    /// `None`: still active when the history ends.
    pub stop: Option<Nanos>,
    /// As the Start event said.
    pub majority_healthy: bool,
}

impl FaultInterval {
    pub fn is_active_at(&self, t: Nanos) -> bool {
        self.start <= t && self.stop.is_none_or(|stop| t < stop)
    }
}

/// Pairs each Stop with the earliest open Start of the same fault on the same nodes, or
/// failing that of the same fault; a Stop matching nothing is ignored.
pub fn fault_intervals(entries: &[Entry]) -> Vec<FaultInterval> {
    let mut intervals: Vec<FaultInterval> = vec![];
    for entry in entries {
        let Entry::Nemesis(e) = entry else { continue };
        match e.phase {
            Phase::Start => intervals.push(FaultInterval {
                fault: e.fault.clone(),
                nodes: e.nodes.clone(),
                detail: e.detail.clone(),
                start: e.time,
                stop: None,
                majority_healthy: e.majority_healthy,
            }),
            Phase::Stop => {
                let open = |i: &&mut FaultInterval| i.stop.is_none() && i.fault == e.fault;
                let same_nodes = intervals
                    .iter_mut()
                    .filter(open)
                    .position(|i| i.nodes == e.nodes);
                let index = same_nodes.unwrap_or(0);
                if let Some(i) = intervals.iter_mut().filter(open).nth(index) {
                    i.stop = Some(e.time);
                }
            }
        }
    }
    intervals
}

/// Operations invoked and answered.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Tally {
    ops: usize,
    ok: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.ops += 1;
        self.ok += usize::from(ok);
    }
    fn ratio(&self) -> Option<f64> {
        (self.ops > 0).then(|| self.ok as f64 / self.ops as f64)
    }
    fn json(&self) -> serde_json::Value {
        json!({ "ops": self.ops, "ok": self.ok, "availability": self.ratio() })
    }
}

fn is_load(c: &Completed) -> bool {
    !matches!(
        c.op,
        Op::Decrypt { .. }
            | Op::ListKeys {
                final_read: true,
                ..
            }
            | Op::GetPublicKey {
                final_read: true,
                ..
            }
    )
}

pub fn check_availability(entries: &[Entry], ops: &[Completed], goal: f64) -> Verdict {
    let faults = fault_intervals(entries);
    let (mut overall, mut healthy, mut no_fault) =
        (Tally::default(), Tally::default(), Tally::default());
    let mut per_fault: BTreeMap<&str, (Tally, Tally)> = BTreeMap::new();
    let mut per_interval = vec![Tally::default(); faults.len()];
    for c in ops.iter().filter(|c| is_load(c)) {
        let ok = c.kind == Kind::Ok;
        let active: Vec<usize> = (0..faults.len())
            .filter(|&i| faults[i].is_active_at(c.invoke))
            .collect();
        let is_healthy = active.iter().all(|&i| faults[i].majority_healthy);
        overall.add(ok);
        if active.is_empty() {
            no_fault.add(ok);
        }
        if is_healthy {
            healthy.add(ok);
            active.iter().for_each(|&i| per_interval[i].add(ok));
        }
        let mut types: Vec<&str> = active.iter().map(|&i| faults[i].fault.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        for t in types {
            let (all, while_healthy) = per_fault.entry(t).or_default();
            all.add(ok);
            if is_healthy {
                while_healthy.add(ok);
            }
        }
    }
    let per_fault_json: serde_json::Map<String, serde_json::Value> = per_fault
        .iter()
        .map(|(t, (all, h))| {
            (
                t.to_string(),
                json!({ "all": all.json(), "majority_healthy": h.json() }),
            )
        })
        .collect();
    let stats = json!({
        "goal": goal, "majority_healthy": healthy.json(), "overall": overall.json(),
        "no_fault": no_fault.json(), "per_fault": per_fault_json,
    });
    let percent = |r: f64| format!("{:.2}%", r * 100.0);
    let Some(ratio) = healthy.ratio() else {
        let summary = "no operations while a majority was healthy: nothing to measure".to_string();
        return Verdict::from_anomalies("availability", vec![], false, summary, stats);
    };
    let mut summary = format!(
        "{} of {} operations succeeded while a majority was healthy ({}; overall {})",
        healthy.ok,
        healthy.ops,
        percent(ratio),
        percent(overall.ratio().unwrap_or(0.0))
    );
    let mut anomalies = vec![];
    if goal <= 0.0 {
        summary.push_str("; report only");
    } else if ratio < goal {
        summary.push_str(&format!("; goal {}", percent(goal)));
        anomalies.push(format!(
            "availability {} is below the goal {}",
            percent(ratio),
            percent(goal)
        ));
        anomalies.extend(worst_intervals(&faults, &per_interval, goal));
        if no_fault.ratio().is_some_and(|r| r < goal) {
            anomalies.push(format!(
                "with no fault active: {}/{} operations succeeded ({})",
                no_fault.ok,
                no_fault.ops,
                percent(no_fault.ratio().unwrap_or(0.0))
            ));
        }
    }
    Verdict::from_anomalies("availability", anomalies, false, summary, stats)
}

/// The healthy-majority fault intervals whose operations fell short of the goal, worst first.
fn worst_intervals(faults: &[FaultInterval], tallies: &[Tally], goal: f64) -> Vec<String> {
    let mut short: Vec<(f64, usize)> = tallies
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.ratio().filter(|r| *r < goal).map(|r| (r, i)))
        .collect();
    short.sort_by(|a, b| a.0.total_cmp(&b.0));
    short
        .into_iter()
        .map(|(ratio, i)| {
            let f = &faults[i];
            let stop = f.stop.map_or("the end".into(), fmt_time);
            format!(
                "{} on nodes {:?} ({}) from {} to {stop}, majority healthy: {}/{} operations succeeded ({:.2}%)",
                f.fault,
                f.nodes,
                f.detail,
                fmt_time(f.start),
                tallies[i].ok,
                tallies[i].ops,
                ratio * 100.0
            )
        })
        .collect()
}
