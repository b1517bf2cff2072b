//! The harness must catch a real bug: with the read barrier switched off by a fail point
//! (the test build of trentd has the `failpoints` feature), an isolated old leader answers
//! reads from stale state, and the checkers must say so. The audit trail is off for this run:
//! with it on, no read is answered before its event commits through Raft, which an isolated
//! old leader cannot do, so the trail itself keeps stale reads from being answered (a second
//! barrier) and there would be nothing for the checkers to catch.

use crate::*;

/// Stale reads show only when a read reaches the isolated old leader while it still
/// thinks it leads, which a loaded machine may not bring about in one run: up to three
/// runs, the first that catches them passes. Correct code never is caught.
#[test]
fn a_broken_read_barrier_is_caught() {
    let mut missed = vec![];
    for _ in 0..3 {
        let run = run_three_nodes(&[
            "--nemesis",
            "partition",
            "--partition-mode",
            "isolate-leader",
            "--time-limit",
            "34",
            "--interval",
            "3",
            "--fault-duration",
            "8",
            "--failpoints",
            "read-barrier-skip=return",
            "--trentd-arg=--audit-trail=false",
        ]);
        let (out, code) = (&run.out, run.code);
        let log = std::fs::read_to_string(out.join("n1/trentd.log")).unwrap_or_default();
        assert!(
            log.contains("FAILPOINTS armed"),
            "trentd was built without the `failpoints` feature: run this through \
             `cargo test --workspace`, which builds the test trentd with it"
        );
        let verdicts = verdicts(out);
        let caught = verdicts.iter().any(|(checker, validity)| {
            [
                "key-state",
                "alias",
                "use-after-disable",
                "creation-set",
                "authorization",
            ]
            .contains(&checker.as_str())
                && validity == "invalid"
        });
        if code == 1 && caught {
            return;
        }
        missed.push(format!("exit {code}: {verdicts:?} ({})", out.display()));
    }
    panic!("no checker flagged the stale reads in 3 runs: {missed:#?}");
}
