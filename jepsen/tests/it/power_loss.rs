//! Issue 20: the disk nemeses end to end. The smoke run (part of the test command) takes
//! power from every node at once, fills a disk and fails a node's fsyncs; every checker must
//! pass. The same power loss against nodes that skip the log's sync (a test-only fail point)
//! must be flagged: acknowledged writes are lost.

use crate::*;

/// The data checkers a lost write shows in.
const DATA_CHECKERS: [&str; 3] = [
    "acknowledged-writes",
    "creation-set",
    "ciphertext-durability",
];

#[test]
fn power_loss_of_every_node_a_full_disk_and_failing_fsyncs_lose_nothing() {
    // Four faults of 5 s, each after 3 s of health, fit in 36 s: every nemesis acts.
    let run = run_three_nodes(&[
        "--nemesis",
        "power-loss,disk-full,fsync-fail",
        "--power-loss-mode",
        "all",
        "--time-limit",
        "36",
        "--interval",
        "3",
        "--fault-duration",
        "5",
    ]);
    let (out, code) = (&run.out, run.code);
    let verdicts = verdicts(out);
    assert_eq!(
        code,
        0,
        "a checker failed: {verdicts:?} (see {})",
        out.display()
    );
    assert_valid(&verdicts, &DATA_CHECKERS);
    assert_valid(&verdicts, &["disk-faults", "node-crashes", "audit-trail"]);
    // Signatures made before the power losses still verify after them, through trent and
    // with the public key it answers afterwards.
    assert_valid(&verdicts, &["signatures"]);
    assert_faults_started(out, &["power-loss", "disk-full", "fsync-fail"]);
    let faults = history_lines(out, "nemesis");
    let every_node = faults.iter().any(|f| {
        f["fault"] == "power-loss"
            && f["phase"] == "start"
            && f["detail"].as_str().unwrap_or("").contains("every node")
    });
    assert!(every_node, "no power loss of every node: {faults:?}");
}

#[test]
fn without_the_log_sync_the_harness_flags_lost_acknowledged_writes() {
    let run = run_three_nodes(&[
        "--nemesis",
        "power-loss",
        "--power-loss-mode",
        "all",
        "--time-limit",
        "16",
        "--interval",
        "3",
        "--fault-duration",
        "4",
        "--failpoints",
        "log-sync-skip=return",
    ]);
    let verdicts = verdicts(&run.out);
    assert_eq!(run.code, 1, "the lost writes went unnoticed: {verdicts:?}");
    assert!(
        verdicts.iter().any(
            |(checker, validity)| DATA_CHECKERS.contains(&checker.as_str())
                && validity == "invalid"
        ),
        "no data checker flagged the loss: {verdicts:?}"
    );
}
