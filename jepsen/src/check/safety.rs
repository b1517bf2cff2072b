//! `use-after-disable`: once DisableKey or ScheduleKeyDeletion is acknowledged, no request
//! invoked afterwards may encrypt under the key, unless an EnableKey could have taken effect
//! in between.
//!
//! A use U (KeyUse, Encrypt or GenerateDataKey answered with success) on key K is flagged
//! when some acknowledged disabling write W on K has `W.complete < U.invoke` and no EnableKey
//! E on K that may have taken effect (acknowledged `Ok(())`, or of unknown outcome) has
//! `E.invoke < U.complete` and `E.complete > W.invoke` (or never completed). It is enough to
//! test the W invoked last: any E that excuses it excuses every earlier one.
//!
//! This is narrower than key-state linearizability (it ignores reads and the order of
//! concurrent writes) but it names the node that served the forbidden request, and it covers
//! the durability workload's Encrypt and GenerateDataKey too.

use std::collections::HashMap;

use serde_json::json;

use crate::history::{Completed, KeyAction, Kind, Nanos, Op};

use super::models::known_error;
use super::{fmt_op, fmt_time, Verdict};

/// The writes on one key that matter here.
#[derive(Default)]
struct KeyWrites<'a> {
    disables: Vec<&'a Completed>,
    /// When each EnableKey that may have taken effect may have: from its invocation to its
    /// acknowledgement, or forever when its outcome is unknown.
    enables: Vec<(Nanos, Option<Nanos>)>,
}

pub fn check_use_after_disable(ops: &[Completed]) -> Verdict {
    let mut writes: HashMap<&str, KeyWrites> = HashMap::new();
    for c in ops {
        if let Op::KeyWrite {
            key,
            action,
            result,
        } = &c.op
        {
            let entry = writes.entry(key).or_default();
            match action {
                KeyAction::Disable | KeyAction::ScheduleDeletion if acknowledged(c, result) => {
                    entry.disables.push(c)
                }
                KeyAction::Enable => entry.enables.extend(enable_window(c, result)),
                _ => {}
            }
        }
    }
    let mut anomalies = vec![];
    let mut uses = 0;
    for (key, u) in ops.iter().filter_map(successful_use) {
        uses += 1;
        let Some(w) = writes.get(key) else { continue };
        let Some(disable) = last_disable_before(&w.disables, u.invoke) else {
            continue;
        };
        if !w.enables.iter().any(|e| excuses(e, disable, u)) {
            let node = u
                .node
                .map_or("an unknown node".into(), |n| format!("node {n}"));
            anomalies.push(format!(
                "key {key}: {node} served {} although {} was acknowledged at {} and no EnableKey \
                 could have taken effect since",
                fmt_op(u),
                fmt_op(disable),
                fmt_time(disable.complete.unwrap_or_default())
            ));
        }
    }
    let disables: usize = writes.values().map(|w| w.disables.len()).sum();
    let summary = if anomalies.is_empty() {
        format!(
            "{uses} successful uses, none after an acknowledged disable ({disables} acknowledged)"
        )
    } else {
        format!(
            "{} of {uses} successful uses came after an acknowledged disable",
            anomalies.len()
        )
    };
    let stats = json!({ "successful_uses": uses, "acknowledged_disables": disables, "keys_written": writes.len() });
    Verdict::from_anomalies("use-after-disable", anomalies, false, summary, stats)
}

fn acknowledged(c: &Completed, result: &Option<Result<(), String>>) -> bool {
    c.kind == Kind::Ok && c.complete.is_some() && matches!(result, Some(Ok(())))
}

/// When an EnableKey may have taken effect: acknowledged, between invocation and
/// acknowledgement; of unknown outcome (an Info, or an Ok answered with an error the model
/// cannot give), any time after its invocation; refused or failed, never.
fn enable_window(
    c: &Completed,
    result: &Option<Result<(), String>>,
) -> Option<(Nanos, Option<Nanos>)> {
    match (c.kind, result) {
        (Kind::Ok, Some(Ok(()))) => Some((c.invoke, c.complete)),
        (Kind::Ok, Some(Err(code))) if known_error(code).is_some() => None,
        (Kind::Ok | Kind::Info, _) => Some((c.invoke, None)),
        (Kind::Fail | Kind::Invoke, _) => None,
    }
}

/// A request that encrypted under a key, with the key.
fn successful_use(c: &Completed) -> Option<(&str, &Completed)> {
    if c.kind != Kind::Ok {
        return None;
    }
    match &c.op {
        Op::KeyUse {
            key,
            result: Some(Ok(())),
        }
        | Op::Encrypt {
            key,
            ciphertext: Some(Ok(_)),
            ..
        }
        | Op::GenerateDataKey {
            key,
            data_key: Some(Ok(_)),
            ..
        } => Some((key, c)),
        _ => None,
    }
}

/// The acknowledged disabling write invoked last among those acknowledged before `t`.
fn last_disable_before<'a>(disables: &[&'a Completed], t: Nanos) -> Option<&'a Completed> {
    disables
        .iter()
        .filter(|w| w.complete.is_some_and(|done| done < t))
        .max_by_key(|w| w.invoke)
        .copied()
}

fn excuses(&(invoke, end): &(Nanos, Option<Nanos>), disable: &Completed, used: &Completed) -> bool {
    let before_use_ended = used.complete.is_none_or(|done| invoke < done);
    let after_disable_began = end.is_none_or(|done| done > disable.invoke);
    before_use_ended && after_disable_began
}
