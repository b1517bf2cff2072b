use crate::check::availability::fault_intervals;
use crate::check::testkit::*;
use crate::check::{CheckConfig, Validity};
use crate::history::KeyState::Enabled;

use super::{assert_anomaly, assert_validity, verdict, verdict_with};

/// Ten reads before the fault, ten during it (answered or timed out), ten after.
fn history(during_ok: usize, healthy: bool) -> History {
    let mut h = History::new();
    h.fault(1000, Some(1500), "partition", &[3], healthy);
    for i in 0..30u64 {
        let t = 500 + i * 50;
        let read = key_read("k1", Some(Ok(Enabled)));
        if (1000..1500).contains(&t) && (t - 1000) / 50 >= during_ok as u64 {
            h.info(i as usize, t, Some(t + 40), key_read("k1", None));
        } else {
            h.ok(i as usize, t, t + 10, read);
        }
    }
    h
}

#[test]
fn an_availability_drop_while_a_majority_is_healthy_is_invalid() {
    let v = verdict(&history(2, true), "availability");
    assert_anomaly(&v, &["below the goal 99.00%"]);
    assert_anomaly(&v, &["partition on nodes [3]", "2/10 operations succeeded"]);
    assert_eq!(v.stats["majority_healthy"]["ok"], 22);
    assert_eq!(v.stats["per_fault"]["partition"]["all"]["ops"], 10);
}

#[test]
fn with_goal_zero_availability_is_reported_only() {
    let report_only = CheckConfig {
        availability_goal: 0.0,
        ..CheckConfig::default()
    };
    let v = verdict_with(&history(2, true), "availability", &report_only);
    assert_validity(&v, Validity::Valid);
    assert!(v.summary.contains("report only"), "{}", v.summary);
}

#[test]
fn operations_while_no_majority_is_healthy_do_not_count() {
    let v = verdict(&history(0, false), "availability");
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["majority_healthy"]["ops"], 20);
    assert_eq!(v.stats["overall"]["ok"], 20);
    assert_eq!(
        v.stats["per_fault"]["partition"]["majority_healthy"]["ops"],
        0
    );
}

#[test]
fn final_phase_reads_do_not_count() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_read("k1", Some(Ok(Enabled))));
    h.info(2, 100, None, decrypt("ct", None));
    h.fail(3, 100, 110, list_keys(true, &[]));
    let v = verdict(&h, "availability");
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["overall"]["ops"], 1);
}

#[test]
fn no_operations_is_valid_with_a_note() {
    let v = verdict(&History::new(), "availability");
    assert_validity(&v, Validity::Valid);
    assert!(v.summary.contains("nothing to measure"), "{}", v.summary);
}

#[test]
fn stops_pair_with_starts_of_the_same_fault_and_nodes() {
    let mut h = History::new();
    h.fault(0, None, "kill", &[1], false);
    h.fault(10, None, "kill", &[2], true);
    h.fault(20, None, "pause", &[2], true);
    let mut entries = h.build();
    let mut stop = |t: u64, fault: &str, node: u64| {
        let mut e = match entries[0].clone() {
            crate::history::Entry::Nemesis(e) => e,
            _ => unreachable!(),
        };
        (e.time, e.fault, e.nodes, e.phase) =
            (ms(t), fault.into(), vec![node], crate::history::Phase::Stop);
        entries.push(crate::history::Entry::Nemesis(e));
    };
    stop(30, "kill", 2);
    stop(40, "kill", 7);
    let intervals = fault_intervals(&entries);
    let stops: Vec<_> = intervals
        .iter()
        .map(|i| (i.fault.as_str(), i.nodes[0], i.stop))
        .collect();
    assert_eq!(
        stops,
        [
            ("kill", 1, Some(ms(40))),
            ("kill", 2, Some(ms(30))),
            ("pause", 2, None)
        ]
    );
}
