//! `acknowledged-writes`: every acknowledged change of state is still there after the faults.
//!
//! The disk nemeses (power loss above all) can only be caught by what the cluster holds at the
//! end, so this checker compares the reads made after the faults healed (`run::final_reads`)
//! with the writes acknowledged before them:
//!
//! - each key-state register and each alias: the last read of the register, invoked after
//!   every acknowledged write to it completed, must show a value some write could have left:
//!   the result of an acknowledged write that no later acknowledged write certainly follows,
//!   or of a write whose outcome is unknown (it may have taken effect at any time), or the
//!   initial value when no write was acknowledged. Anything else means an acknowledged write
//!   was lost (or a value appeared from nowhere).
//! - each deletion-schedule key: an acknowledged ScheduleKeyDeletion leaves the key pending
//!   deletion (or deleted) in the final DescribeKey; `Enabled` there is a lost schedule.
//!
//! CreateKey and ciphertexts have checkers of their own (`durability.rs`). This check never
//! reports a loss that did not happen; the linearizability checkers, which see the same final
//! reads, are the complete (and slower) version of it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::history::{AliasAction, Completed, KeyAction, KeyState, Kind, Op};

use super::{fmt_op, Verdict};

/// A register's value: a key's state, or the key an alias names (`None`: no such alias).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Key(KeyState),
    Alias(Option<String>),
}

/// A write to one register: the value it leaves when it takes effect.
struct Write<'a> {
    op: &'a Completed,
    value: Value,
    /// Acknowledged as applied (an `Ok` without a business error).
    acknowledged: bool,
}

/// A read of one register and the value it saw.
struct Read<'a> {
    op: &'a Completed,
    value: Value,
}

#[derive(Default)]
struct Register<'a> {
    writes: Vec<Write<'a>>,
    reads: Vec<Read<'a>>,
}

pub fn check_acknowledged_writes(ops: &[Completed]) -> Verdict {
    let registers = registers_of(ops);
    let mut anomalies = vec![];
    let (mut checked, mut unchecked) = (0, 0);
    for (name, register) in &registers {
        match judge(name, register) {
            Judged::Unchecked => unchecked += 1,
            Judged::Survived => checked += 1,
            Judged::Lost(anomaly) => {
                checked += 1;
                anomalies.push(anomaly);
            }
        }
    }
    let (schedules, schedule_anomalies) = check_schedules(ops);
    anomalies.extend(schedule_anomalies);
    let summary = if anomalies.is_empty() {
        format!(
            "every acknowledged write survived: {checked} registers read after their last \
             acknowledged write, {schedules} acknowledged deletion schedules"
        )
    } else {
        format!("{} acknowledged write(s) lost", anomalies.len())
    };
    let stats = json!({
        "registers_checked": checked, "registers_without_final_read": unchecked,
        "deletion_schedules": schedules,
    });
    // A run without final reads proves nothing either way.
    let undecided = checked == 0 && schedules == 0;
    Verdict::from_anomalies("acknowledged-writes", anomalies, undecided, summary, stats)
}

enum Judged {
    /// No read came after every acknowledged write.
    Unchecked,
    Survived,
    Lost(String),
}

fn judge(name: &str, register: &Register) -> Judged {
    // The last read invoked once every acknowledged write had completed.
    let settled = register
        .writes
        .iter()
        .filter(|w| w.acknowledged)
        .filter_map(|w| w.op.complete)
        .max()
        .unwrap_or(0);
    let Some(last) = register
        .reads
        .iter()
        .filter(|r| r.op.invoke > settled)
        .max_by_key(|r| r.op.invoke)
    else {
        return Judged::Unchecked;
    };
    let allowed = allowed_values(name, register);
    if allowed.contains(&last.value) {
        return Judged::Survived;
    }
    let latest = register
        .writes
        .iter()
        .filter(|w| w.acknowledged)
        .max_by_key(|w| w.op.complete)
        .map_or("none".to_string(), |w| fmt_op(w.op));
    Judged::Lost(format!(
        "{name}: {} saw {:?}, which no write could have left (possible: {allowed:?}); the last \
         acknowledged write: {latest}",
        fmt_op(last.op),
        last.value
    ))
}

/// What the register may hold after every write: see the module docs.
fn allowed_values(name: &str, register: &Register) -> BTreeSet<Value> {
    let acknowledged: Vec<&Write> = register.writes.iter().filter(|w| w.acknowledged).collect();
    let mut allowed: BTreeSet<Value> = acknowledged
        .iter()
        .filter(|w| {
            let done = w.op.complete.unwrap_or(u64::MAX);
            !acknowledged.iter().any(|later| later.op.invoke > done)
        })
        .map(|w| w.value.clone())
        .collect();
    allowed.extend(
        register
            .writes
            .iter()
            .filter(|w| w.op.kind == Kind::Info)
            .map(|w| w.value.clone()),
    );
    if acknowledged.is_empty() {
        allowed.insert(initial(name));
    }
    allowed
}

/// Register keys start enabled; aliases start absent.
fn initial(name: &str) -> Value {
    if name.starts_with("alias/") {
        Value::Alias(None)
    } else {
        Value::Key(KeyState::Enabled)
    }
}

fn registers_of(ops: &[Completed]) -> BTreeMap<String, Register<'_>> {
    let mut registers: BTreeMap<String, Register> = BTreeMap::new();
    for c in ops {
        if c.kind == Kind::Fail {
            continue;
        }
        match &c.op {
            Op::KeyWrite {
                key,
                action,
                result,
            } => registers
                .entry(key.clone())
                .or_default()
                .writes
                .push(Write {
                    op: c,
                    value: Value::Key(key_state_after(*action)),
                    acknowledged: c.kind == Kind::Ok && matches!(result, Some(Ok(()))),
                }),
            Op::KeyRead {
                key,
                state: Some(Ok(state)),
            } if c.kind == Kind::Ok => registers.entry(key.clone()).or_default().reads.push(Read {
                op: c,
                value: Value::Key(*state),
            }),
            Op::AliasWrite {
                alias,
                action,
                target,
                result,
            } => registers
                .entry(alias.clone())
                .or_default()
                .writes
                .push(Write {
                    op: c,
                    value: Value::Alias(match action {
                        AliasAction::Delete => None,
                        _ => target.clone(),
                    }),
                    acknowledged: c.kind == Kind::Ok && matches!(result, Some(Ok(()))),
                }),
            Op::AliasRead {
                alias,
                target: Some(answer),
            } if c.kind == Kind::Ok => {
                let value = match answer {
                    Ok(key) => Some(key.clone()),
                    Err(code) if code == "NotFoundException" => None,
                    Err(_) => continue,
                };
                registers
                    .entry(alias.clone())
                    .or_default()
                    .reads
                    .push(Read {
                        op: c,
                        value: Value::Alias(value),
                    })
            }
            _ => {}
        }
    }
    registers
}

/// The state a key-state write leaves when it is applied (CancelKeyDeletion leaves the key
/// disabled, as in AWS).
fn key_state_after(action: KeyAction) -> KeyState {
    match action {
        KeyAction::Enable => KeyState::Enabled,
        KeyAction::Disable | KeyAction::CancelDeletion => KeyState::Disabled,
        KeyAction::ScheduleDeletion => KeyState::PendingDeletion,
    }
}

/// Acknowledged deletion schedules and the final reads that lost them.
fn check_schedules(ops: &[Completed]) -> (usize, Vec<String>) {
    let scheduled: BTreeMap<&str, &Completed> = ops
        .iter()
        .filter_map(|c| match &c.op {
            Op::ScheduleDeletion {
                key,
                deletion_date: Some(Ok(_)),
                ..
            } if c.kind == Kind::Ok => Some((key.as_str(), c)),
            _ => None,
        })
        .collect();
    let mut anomalies = vec![];
    for c in ops {
        let Op::DeletionRead {
            key,
            final_read: true,
            state: Some(Ok(KeyState::Enabled | KeyState::Disabled)),
            ..
        } = &c.op
        else {
            continue;
        };
        if let Some(schedule) = scheduled.get(key.as_str()) {
            anomalies.push(format!(
                "lost deletion schedule: {} after {}",
                fmt_op(c),
                fmt_op(schedule)
            ));
        }
    }
    (scheduled.len(), anomalies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::History;
    use crate::check::Validity;
    use crate::history::completed;

    fn write(key: &str, action: KeyAction, ok: bool) -> Op {
        Op::KeyWrite {
            key: key.into(),
            action,
            result: Some(if ok {
                Ok(())
            } else {
                Err("KMSInvalidStateException".into())
            }),
        }
    }

    fn read(key: &str, state: KeyState) -> Op {
        Op::KeyRead {
            key: key.into(),
            state: Some(Ok(state)),
        }
    }

    fn verdict(h: &History) -> Verdict {
        check_acknowledged_writes(&completed(&h.build()))
    }

    #[test]
    fn a_final_read_that_lost_the_last_acknowledged_write_is_flagged() {
        let mut h = History::new();
        h.ok(1, 0, 10, write("k", KeyAction::Disable, true)).ok(
            1,
            20,
            30,
            read("k", KeyState::Enabled),
        );
        let v = verdict(&h);
        assert_eq!(v.validity, Validity::Invalid, "{v:?}");
        assert!(v.anomalies[0].contains("DisableKey"), "{v:?}");
    }

    #[test]
    fn a_write_of_unknown_outcome_or_a_concurrent_one_explains_the_final_value() {
        let mut h = History::new();
        // Two acknowledged writes overlap: either may be last.
        h.ok(1, 0, 10, write("k", KeyAction::Disable, true))
            .ok(2, 5, 15, write("k", KeyAction::Enable, true))
            // A refused write changes nothing.
            .ok(3, 16, 17, write("k", KeyAction::CancelDeletion, false))
            .ok(1, 20, 30, read("k", KeyState::Disabled));
        assert_eq!(verdict(&h).validity, Validity::Valid);
        let mut h = History::new();
        h.ok(1, 0, 10, write("k", KeyAction::Disable, true))
            .info(2, 12, None, write("k", KeyAction::ScheduleDeletion, true))
            .ok(1, 20, 30, read("k", KeyState::PendingDeletion));
        assert_eq!(verdict(&h).validity, Validity::Valid);
    }

    #[test]
    fn an_alias_deleted_for_good_must_stay_deleted_and_a_created_one_must_stay() {
        let alias = |action, target: Option<&str>| Op::AliasWrite {
            alias: "alias/a".into(),
            action,
            target: target.map(String::from),
            result: Some(Ok(())),
        };
        let seen = |target: Result<&str, &str>| Op::AliasRead {
            alias: "alias/a".into(),
            target: Some(target.map(String::from).map_err(String::from)),
        };
        let mut h = History::new();
        h.ok(1, 0, 10, alias(AliasAction::Create, Some("k1"))).ok(
            1,
            20,
            30,
            seen(Err("NotFoundException")),
        );
        assert_eq!(verdict(&h).validity, Validity::Invalid);
        let mut h = History::new();
        h.ok(1, 0, 10, alias(AliasAction::Create, Some("k1")))
            .ok(1, 11, 12, alias(AliasAction::Delete, None))
            .ok(1, 20, 30, seen(Err("NotFoundException")));
        assert_eq!(verdict(&h).validity, Validity::Valid);
    }

    #[test]
    fn an_acknowledged_deletion_schedule_missing_from_the_final_read_is_flagged() {
        let mut h = History::new();
        h.ok(
            1,
            0,
            10,
            Op::ScheduleDeletion {
                key: "d".into(),
                days: 7,
                at_ms: 0,
                deletion_date: Some(Ok(1)),
            },
        )
        .ok(
            1,
            20,
            30,
            Op::DeletionRead {
                key: "d".into(),
                at_ms: 0,
                final_read: true,
                state: Some(Ok(KeyState::Enabled)),
            },
        );
        let v = verdict(&h);
        assert_eq!(v.validity, Validity::Invalid, "{v:?}");
        assert!(v.anomalies[0].contains("lost deletion schedule"), "{v:?}");
    }

    #[test]
    fn without_any_final_read_the_verdict_is_unknown() {
        let mut h = History::new();
        h.ok(1, 0, 10, write("k", KeyAction::Disable, true));
        assert_eq!(verdict(&h).validity, Validity::Unknown);
    }
}
