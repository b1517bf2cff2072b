//! `early-deletion`: no key is deleted before its deletion date by the majority's clocks.
//!
//! The deletion-schedule workload stamps each ScheduleKeyDeletion and DescribeKey with the
//! harness's wall clock, which is the majority's (the clock nemesis skews at most half the
//! nodes). A key scheduled at `at` with a `days` window may be deleted from `at + days`
//! on, by that clock; the earliest such date over every schedule that may have taken effect
//! (acknowledged, or of unknown outcome) is the key's due date. Flagged:
//! - a DescribeKey that found the key gone (`NotFoundException`) when invoked before its due
//!   date, or of a key no schedule could have reached;
//! - an acknowledged DeletionDate more than [`SLACK_MS`] before `at + days`: the date was set
//!   by a clock far behind the majority's, and the key would be deleted early later.

use std::collections::HashMap;

use serde_json::json;

use crate::history::{Completed, Kind, Op};

use super::{fmt_op, Verdict};

const DAY_MS: u64 = 24 * 3600 * 1000;
/// How far an answered deletion date may lag the harness's: round trips and the tolerance a
/// leader's clock is allowed around the majority's.
pub const SLACK_MS: u64 = 60_000;

pub fn check_early_deletion(ops: &[Completed]) -> Verdict {
    let mut due: HashMap<&str, u64> = HashMap::new();
    let mut anomalies = vec![];
    let mut schedules = 0;
    for c in ops {
        let Op::ScheduleDeletion {
            key,
            days,
            at_ms,
            deletion_date,
        } = &c.op
        else {
            continue;
        };
        let majority_date = at_ms + *days as u64 * DAY_MS;
        let took_effect = match (c.kind, deletion_date) {
            (Kind::Ok, Some(Ok(date))) => {
                schedules += 1;
                if date + SLACK_MS < majority_date {
                    anomalies.push(format!(
                        "key {key}: {} answered a deletion date {:.1} days before the \
                         majority's ({majority_date} ms)",
                        fmt_op(c),
                        (majority_date - date) as f64 / DAY_MS as f64
                    ));
                }
                true
            }
            (Kind::Ok, _) | (Kind::Fail, _) => false,
            (Kind::Info | Kind::Invoke, _) => true,
        };
        if took_effect {
            let d = due.entry(key).or_insert(u64::MAX);
            *d = (*d).min(majority_date);
        }
    }
    let mut reads = 0;
    let mut gone = 0;
    for c in ops.iter().filter(|c| c.kind == Kind::Ok) {
        let Op::DeletionRead {
            key,
            at_ms,
            state: Some(Err(code)),
            ..
        } = &c.op
        else {
            if matches!(c.op, Op::DeletionRead { .. }) {
                reads += 1;
            }
            continue;
        };
        reads += 1;
        if code != "NotFoundException" {
            continue;
        }
        gone += 1;
        match due.get(key.as_str()) {
            Some(&date) if date <= *at_ms => {}
            Some(&date) => anomalies.push(format!(
                "key {key}: {} found it deleted {:.1} days before its deletion date by the \
                 majority's clocks",
                fmt_op(c),
                (date - at_ms) as f64 / DAY_MS as f64
            )),
            None => anomalies.push(format!(
                "key {key}: {} found it deleted, but no deletion of it was scheduled",
                fmt_op(c)
            )),
        }
    }
    let summary = if anomalies.is_empty() {
        format!("{schedules} deletions scheduled, {reads} reads, no key deleted before its date")
    } else {
        format!("{} deletions or deletion dates came early", anomalies.len())
    };
    Verdict::from_anomalies(
        "early-deletion",
        anomalies,
        false,
        summary,
        json!({ "scheduled": schedules, "reads": reads, "gone": gone }),
    )
}
