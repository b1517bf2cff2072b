//! The `key-state` and `alias` checkers: split the history into one register per key id /
//! alias name, turn each operation into a model operation, and search each register for a
//! linearization (`linearizable::check`).
//!
//! How outcomes map: `Ok` operations must be linearized with their exact answer; `Info`
//! operations and `Ok` ones whose answer is not one the model can give (e.g. a stray
//! `ServiceUnavailable`) have an unknown outcome; `Fail` operations took no effect
//! and are dropped.

use std::collections::BTreeMap;

use serde_json::json;

use crate::history::{Answer, Completed, Kind, Op};

use super::linearizable::{self, Model, Operation, Outcome};
use super::models::{alias_input, AliasModel, KeyInput, KeyStateModel, Reply};
use super::models::{ALREADY_EXISTS, DISABLED, INVALID_STATE, NOT_FOUND};
use super::{fmt_op, Verdict};

type Register<'a, M> = Vec<(
    &'a Completed,
    Operation<<M as Model>::Input, <M as Model>::Output>,
)>;

/// Key-state linearizability over KeyWrite / KeyRead / KeyUse, one register per key.
pub fn check_key_states(ops: &[Completed], step_limit: u64) -> Verdict {
    let mut registers: BTreeMap<&str, Register<KeyStateModel>> = BTreeMap::new();
    let known = [INVALID_STATE, DISABLED];
    for c in ops.iter().filter(|c| c.kind != Kind::Fail) {
        let (key, input, output) = match &c.op {
            Op::KeyWrite {
                key,
                action,
                result,
            } => (
                key,
                KeyInput::Write(*action),
                reply(result, &known, |_| Reply::Done),
            ),
            Op::KeyRead { key, state } => (
                key,
                KeyInput::Read,
                reply(state, &known, |s| Reply::Value(*s)),
            ),
            Op::KeyUse { key, result } => {
                (key, KeyInput::Use, reply(result, &known, |_| Reply::Done))
            }
            _ => continue,
        };
        registers
            .entry(key)
            .or_default()
            .push((c, operation(c, input, output)));
    }
    check_registers(
        "key-state",
        ("key", "keys"),
        &KeyStateModel,
        registers,
        step_limit,
        |s| format!("{s:?}"),
    )
}

/// Alias linearizability over AliasWrite / AliasRead, one register per alias name.
pub fn check_aliases(ops: &[Completed], step_limit: u64) -> Verdict {
    let mut registers: BTreeMap<&str, Register<AliasModel>> = BTreeMap::new();
    let known = [ALREADY_EXISTS, NOT_FOUND];
    for c in ops.iter().filter(|c| c.kind != Kind::Fail) {
        let (alias, input, output) = match &c.op {
            Op::AliasWrite {
                alias,
                action,
                target,
                result,
            } => {
                let Some(input) = alias_input(*action, target.as_deref()) else {
                    continue;
                };
                (alias, input, reply(result, &known, |_| Reply::Done))
            }
            Op::AliasRead { alias, target } => (
                alias,
                super::models::AliasInput::Read,
                reply(target, &known, |k| Reply::Value(k.clone())),
            ),
            _ => continue,
        };
        registers
            .entry(alias)
            .or_default()
            .push((c, operation(c, input, output)));
    }
    let show = |s: &Option<String>| {
        s.as_ref()
            .map_or("absent".into(), |k| format!("-> key {k}"))
    };
    check_registers(
        "alias",
        ("alias", "aliases"),
        &AliasModel,
        registers,
        step_limit,
        show,
    )
}

/// The model's reply for a recorded answer, `None` when the answer is missing or an error
/// the model cannot give (then the outcome counts as unknown).
fn reply<T, V>(
    answer: &Option<Answer<T>>,
    known: &[&'static str],
    ok: impl Fn(&T) -> Reply<V>,
) -> Option<Reply<V>> {
    match answer.as_ref()? {
        Ok(v) => Some(ok(v)),
        Err(code) => known.iter().find(|k| **k == code).map(|k| Reply::Error(k)),
    }
}

fn operation<I, O>(c: &Completed, input: I, output: Option<O>) -> Operation<I, O> {
    match (c.kind, c.complete, output) {
        (Kind::Ok, Some(ret), Some(output)) => Operation {
            call: c.invoke,
            ret: Some(ret),
            input,
            output: Some(output),
        },
        _ => Operation {
            call: c.invoke,
            ret: None,
            input,
            output: None,
        },
    }
}

/// Searches every register and folds the outcomes into one verdict.
fn check_registers<M: Model>(
    checker: &str,
    (noun, nouns): (&str, &str),
    model: &M,
    registers: BTreeMap<&str, Register<M>>,
    step_limit: u64,
    show_state: impl Fn(&M::State) -> String,
) -> Verdict {
    let mut anomalies = vec![];
    let (mut unknown, mut invalid) = (vec![], vec![]);
    let (mut total_ops, mut info_ops, mut total_steps, mut max_steps) = (0, 0, 0u64, 0u64);
    for (name, register) in &registers {
        let ops: Vec<_> = register.iter().map(|(_, op)| op.clone()).collect();
        total_ops += ops.len();
        info_ops += ops.iter().filter(|op| op.ret.is_none()).count();
        let outcome = linearizable::check(model, &ops, step_limit);
        let steps = match &outcome {
            Outcome::Linearizable { steps } => *steps,
            Outcome::Unknown { steps } => {
                unknown.push(name.to_string());
                *steps
            }
            Outcome::NotLinearizable {
                op,
                prefix_len,
                state,
                steps,
            } => {
                invalid.push(name.to_string());
                anomalies.push(format!(
                    "{noun} {name}: no linearization of its {} operations; the longest linearizable \
                     prefix ({prefix_len} operations) leaves it {} and then cannot admit {}",
                    ops.len(),
                    show_state(state),
                    fmt_op(register[*op].0)
                ));
                *steps
            }
        };
        total_steps += steps;
        max_steps = max_steps.max(steps);
    }
    let n = registers.len();
    let summary = if !invalid.is_empty() {
        format!("{} of {n} {nouns} not linearizable", invalid.len())
    } else if !unknown.is_empty() {
        format!(
            "{} of {n} {nouns} undecided within {step_limit} search steps each",
            unknown.len()
        )
    } else {
        {
            let what = if n == 1 { noun } else { nouns };
            format!("{n} {what}, {total_ops} operations: linearizable")
        }
    };
    let stats = json!({
        "registers": n, "operations": total_ops, "unknown_outcome_operations": info_ops,
        "search_steps": total_steps, "max_search_steps": max_steps, "step_limit": step_limit,
        "not_linearizable": invalid, "undecided": unknown,
    });
    Verdict::from_anomalies(checker, anomalies, !unknown.is_empty(), summary, stats)
}
