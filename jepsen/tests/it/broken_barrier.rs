//! The harness must catch a real bug: with the read barrier switched off by a fail point
//! (the test build of trentd has the `failpoints` feature), an isolated old leader answers
//! reads from stale state, and the checkers must say so. The audit trail is off for this run:
//! with it on, no read is answered before its event commits through Raft, which an isolated
//! old leader cannot do, so the trail itself keeps stale reads from being answered (a second
//! barrier) and there would be nothing for the checkers to catch.

use crate::*;

#[test]
fn a_broken_read_barrier_is_caught() {
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
    assert_eq!(code, 1, "the harness must fail this run: {verdicts:?}");
    let caught: Vec<&(String, String)> = verdicts
        .iter()
        .filter(|(checker, validity)| {
            [
                "key-state",
                "alias",
                "use-after-disable",
                "creation-set",
                "authorization",
            ]
            .contains(&checker.as_str())
                && validity == "invalid"
        })
        .collect();
    assert!(
        !caught.is_empty(),
        "no checker flagged the stale reads: {verdicts:?}"
    );
}
