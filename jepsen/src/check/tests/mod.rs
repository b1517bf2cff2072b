//! The checkers against hand-made histories: each anomaly they exist to catch, and the
//! concurrent-but-correct histories they must accept.

mod authz;
mod availability;
mod deletion;
mod durability;
mod linearizability;
mod random;
mod safety;
mod signing;

use super::testkit::History;
use super::{check_all, CheckConfig, Validity, Verdict};

/// The named checker's verdict over `h`, with the default configuration.
fn verdict(h: &History, checker: &str) -> Verdict {
    verdict_with(h, checker, &CheckConfig::default())
}

fn verdict_with(h: &History, checker: &str, config: &CheckConfig) -> Verdict {
    check_all(&h.build(), config)
        .into_iter()
        .find(|v| v.checker == checker)
        .unwrap_or_else(|| panic!("no checker {checker}"))
}

#[track_caller]
fn assert_validity(v: &Verdict, expected: Validity) {
    assert_eq!(
        v.validity, expected,
        "{}: {}\n{:#?}",
        v.checker, v.summary, v.anomalies
    );
}

/// Asserts the verdict is Invalid and some anomaly mentions every one of `needles`.
#[track_caller]
fn assert_anomaly(v: &Verdict, needles: &[&str]) {
    assert_validity(v, Validity::Invalid);
    assert!(
        v.anomalies
            .iter()
            .any(|a| needles.iter().all(|n| a.contains(n))),
        "no anomaly mentions all of {needles:?}: {:#?}",
        v.anomalies
    );
}

#[test]
fn check_all_runs_every_checker_in_a_stable_order() {
    let names: Vec<String> = check_all(&[], &CheckConfig::default())
        .into_iter()
        .map(|v| v.checker)
        .collect();
    assert_eq!(
        names,
        [
            "key-state",
            "alias",
            "creation-set",
            "ciphertext-durability",
            "acknowledged-writes",
            "use-after-disable",
            "early-deletion",
            "authorization",
            "signatures",
            "availability"
        ]
    );
}

#[test]
fn verdicts_serialize_with_lowercase_validity() {
    let v = &check_all(&[], &CheckConfig::default())[0];
    let json = serde_json::to_value(v).unwrap();
    assert_eq!(json["validity"], "valid");
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back.validity, Validity::Valid);
}
