//! Forwarded requests delivered twice, the second copy late (the `forward-late-duplicate`
//! fail point: what a peer connection that lived through a partition did with its backlog,
//! jepsen/RESULTS.md). A write refused by the leader's checks stays refused, so the late
//! copies change nothing and every checker passes. With refusals left unrecorded (the
//! `refusals-unrecorded` fail point: the code before the fix) some late copy takes effect
//! after its call was answered with a refusal, and the checkers must say so.

use crate::*;

/// A quarter of forwarded requests arrive again a second later. No nemesis: the interval is
/// longer than the run, so only the duplicates disturb it.
const LATE_COPIES: &str = "forward-late-duplicate=25%return(1000)";

fn run_with(failpoints: &str) -> Run {
    run_three_nodes(&[
        "--nemesis",
        "partition",
        "--interval",
        "100",
        "--time-limit",
        "30",
        "--failpoints",
        failpoints,
    ])
}

fn invalid_checkers(out: &std::path::Path) -> Vec<String> {
    verdicts(out)
        .into_iter()
        .filter(|(_, validity)| validity != "valid")
        .map(|(checker, _)| checker)
        .collect()
}

#[test]
fn late_duplicates_of_forwarded_requests_change_nothing() {
    let run = run_with(LATE_COPIES);
    let log = std::fs::read_to_string(run.out.join("n1/trentd.log")).unwrap_or_default();
    assert!(
        log.contains("FAILPOINTS armed"),
        "trentd was built without the `failpoints` feature: run this through \
         `cargo test --workspace`, which builds the test trentd with it"
    );
    let invalid = invalid_checkers(&run.out);
    assert!(
        run.code == 0 && invalid.is_empty(),
        "exit {}; not valid: {invalid:?} (see {})",
        run.code,
        run.out.display()
    );
}

#[test]
fn late_duplicates_of_unrecorded_refusals_are_caught() {
    let run = run_with(&format!("{LATE_COPIES};refusals-unrecorded=return"));
    let invalid = invalid_checkers(&run.out);
    assert_eq!(run.code, 1, "the harness must fail this run: {invalid:?}");
    assert!(
        invalid
            .iter()
            .any(|c| ["key-state", "alias", "use-after-disable"].contains(&c.as_str())),
        "no checker flagged the late writes: {invalid:?}"
    );
}
