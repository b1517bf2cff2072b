//! A medium-size history generated from a sequential register: overlapping operations of
//! five processes, each taking effect at a random instant inside its interval (some with an
//! unknown outcome, half of those never taking effect). It is linearizable by construction;
//! the search must say so, quickly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::check::linearizable::Model;
use crate::check::models::{KeyInput, KeyStateModel, Reply};
use crate::check::testkit::*;
use crate::check::Validity;
use crate::history::{KeyAction, Op};

use super::{assert_validity, verdict};

/// One generated operation: its interval, when it takes effect, and whether its outcome is
/// recorded (`Some(took_effect)` for an unknown outcome).
struct Planned {
    process: usize,
    invoke: u64,
    effect: u64,
    done: u64,
    input: KeyInput,
    unknown: Option<bool>,
}

fn plan(rng: &mut StdRng, processes: usize, per_process: usize) -> Vec<Planned> {
    let inputs = [
        KeyInput::Read,
        KeyInput::Use,
        KeyInput::Write(KeyAction::Enable),
        KeyInput::Write(KeyAction::Disable),
        KeyInput::Write(KeyAction::ScheduleDeletion),
        KeyInput::Write(KeyAction::CancelDeletion),
    ];
    let mut planned = vec![];
    for process in 0..processes {
        let mut t = rng.gen_range(0..10);
        for _ in 0..per_process {
            let invoke = t + rng.gen_range(0..5);
            let effect = invoke + rng.gen_range(1..20);
            let done = effect + rng.gen_range(1..20);
            let input = inputs[rng.gen_range(0..inputs.len())];
            let unknown = (matches!(input, KeyInput::Write(_)) && rng.gen_bool(0.05))
                .then(|| rng.gen_bool(0.5));
            planned.push(Planned {
                process,
                invoke,
                effect,
                done,
                input,
                unknown,
            });
            t = done;
        }
    }
    planned
}

/// Applies the operations in the order they take effect and records each as an op.
fn record(planned: &mut [Planned]) -> History {
    // Distinct effect instants: ties broken by process, inside every interval.
    planned.sort_by_key(|p| (p.effect, p.process));
    let model = KeyStateModel;
    let mut state = model.init();
    let mut h = History::new();
    for p in planned.iter() {
        let (reply, next) = model.step(&state, &p.input);
        if p.unknown != Some(false) {
            state = next;
        }
        let (invoke, done) = (p.invoke * 10, p.done * 10);
        let process = p.process;
        match p.unknown {
            Some(_) => h.info(process, invoke, Some(done), op(&p.input, None)),
            None => h.ok(process, invoke, done, op(&p.input, Some(reply))),
        };
    }
    h
}

fn op(input: &KeyInput, reply: Option<Reply<crate::history::KeyState>>) -> Op {
    let unit = |r: &Reply<_>| match r {
        Reply::Error(code) => Err(code.to_string()),
        _ => Ok(()),
    };
    match input {
        KeyInput::Write(action) => key_write("k", *action, reply.as_ref().map(unit)),
        KeyInput::Use => key_use("k", reply.as_ref().map(unit)),
        KeyInput::Read => key_read(
            "k",
            reply.map(|r| match r {
                Reply::Value(s) => Ok(s),
                other => panic!("a read answered {other:?}"),
            }),
        ),
    }
}

#[test]
fn a_random_valid_history_of_300_ops_is_linearizable_quickly() {
    for seed in 0..5 {
        let mut rng = StdRng::seed_from_u64(seed);
        let h = record(&mut plan(&mut rng, 5, 60));
        let v = verdict(&h, "key-state");
        assert_validity(&v, Validity::Valid);
        assert_eq!(v.stats["operations"], 300);
        let steps = v.stats["max_search_steps"].as_u64().unwrap();
        assert!(steps < 100_000, "seed {seed}: {steps} steps");
    }
}
