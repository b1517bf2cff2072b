//! A generic linearizability search over one register's history, after Wing & Gong and
//! Lowe (the algorithm of Knossos' `linear` and of Porcupine), bounded by a step budget.
//!
//! Guarantees:
//! - `Linearizable` only when a total order of the operations was found that respects real
//!   time and the model (every operation with a known outcome produced exactly its
//!   recorded output);
//! - `NotLinearizable` only when the search was exhaustive;
//! - `Unknown` when the step budget ran out first: never a guess.
//!
//! Operations with an unknown outcome (`ret: None`) may take effect at any point after
//! their call, with whatever output the model gives, or never.
//!
//! Two prunings keep it tractable beyond a handful of concurrent processes, both exact (they
//! skip only configurations that another one dominates): pure operations (`Model::is_pure`)
//! whose output matches are linearized at once without a choice point, and of several pending
//! operations of unknown outcome with the same input only the earliest is tried.

mod list;

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Nanos;

use list::{BitSet, Events, NIL};

/// A sequential specification: a deterministic state machine.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Eq + Debug;
    type Output: Clone + Eq + Debug;

    fn init(&self) -> Self::State;

    /// The output and next state of applying `input` to `state`.
    fn step(&self, state: &Self::State, input: &Self::Input) -> (Self::Output, Self::State);

    /// Inputs that never change the state: with an unknown outcome they constrain nothing,
    /// so the search may drop them.
    fn is_read_only(&self, _input: &Self::Input) -> bool {
        false
    }

    /// Operations that change no state whenever they give this output (reads, and writes
    /// answering an error). The search linearizes such an operation as soon as its output
    /// matches, without branching: placing it any later gains nothing.
    fn is_pure(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }
}

/// One operation on the register: called at `call`, returned at `ret` with `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub call: Nanos,
    /// `None`: the outcome is unknown; the operation may take effect any time after `call`,
    /// or never.
    pub ret: Option<Nanos>,
    pub input: I,
    /// `None` (always with `ret: None`): any output is acceptable.
    pub output: Option<O>,
}

/// What the search concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<S> {
    Linearizable {
        steps: u64,
    },
    /// `op` (an index into the operations) could not be linearized after the longest
    /// linearizable prefix found (`prefix_len` operations, leaving the register in `state`).
    NotLinearizable {
        op: usize,
        prefix_len: usize,
        state: S,
        steps: u64,
    },
    Unknown {
        steps: u64,
    },
}

/// The deepest point where the search got stuck, for the report.
struct Stuck<S> {
    op: usize,
    depth: usize,
    state: S,
}

/// A linearized operation on the search path.
struct Step<S> {
    /// Its call node.
    call: usize,
    /// The state before it.
    previous: S,
    /// Linearized without a choice (a pure operation): backtracking goes past it.
    forced: bool,
}

/// Searches for a linearization of `ops` from the model's initial state, within `step_limit`
/// steps (one step per list entry examined).
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    step_limit: u64,
) -> Outcome<M::State> {
    Search::new(model, ops).run(step_limit)
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Input, M::Output>],
    events: Events,
    state: M::State,
    linearized: BitSet,
    /// Configurations (linearized set, state) already reached: each is explored once.
    cache: HashSet<(Box<[u64]>, M::State)>,
    path: Vec<Step<M::State>>,
    /// Operations with a known outcome not linearized yet: done at zero.
    remaining: usize,
    steps: u64,
    stuck: Option<Stuck<M::State>>,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [Operation<M::Input, M::Output>]) -> Self {
        let keep: Vec<bool> = ops
            .iter()
            .map(|op| op.ret.is_some() || !model.is_read_only(&op.input))
            .collect();
        Search {
            model,
            ops,
            events: Events::new(ops, &keep),
            state: model.init(),
            linearized: BitSet::new(ops.len()),
            cache: HashSet::new(),
            path: vec![],
            remaining: ops.iter().filter(|op| op.ret.is_some()).count(),
            steps: 0,
            stuck: None,
        }
    }

    fn run(mut self, step_limit: u64) -> Outcome<M::State> {
        let mut entry = self.events.first();
        let mut fresh = true;
        loop {
            if self.remaining == 0 {
                return Outcome::Linearizable { steps: self.steps };
            }
            if self.steps > step_limit {
                return Outcome::Unknown { steps: self.steps };
            }
            if std::mem::take(&mut fresh) {
                if let Some((pure, next)) = self.matching_pure_op() {
                    if self.lift(pure, next, true) {
                        (entry, fresh) = (self.events.first(), true);
                        continue;
                    }
                    // Explored before, and failed: so does this configuration.
                    match self.backtrack() {
                        Some(resume) => entry = resume,
                        None => return self.failed(),
                    }
                    continue;
                }
            }
            self.steps += 1;
            if entry != NIL && self.events.nodes[entry].is_call {
                if let Some(next) = self.try_step(entry) {
                    if self.lift(entry, next, false) {
                        (entry, fresh) = (self.events.first(), true);
                        continue;
                    }
                }
                entry = self.events.nodes[entry].next;
                continue;
            }
            // A return (or the end): its operation had to take effect by now and could not.
            self.note_stuck(entry);
            match self.backtrack() {
                Some(resume) => entry = resume,
                None => return self.failed(),
            }
        }
    }

    /// The next state if the operation called at `entry` may take effect now.
    fn try_step(&self, entry: usize) -> Option<M::State> {
        if self.is_redundant_info(entry) {
            return None;
        }
        let op = &self.ops[self.events.nodes[entry].op];
        let (output, next) = self.model.step(&self.state, &op.input);
        op.output
            .as_ref()
            .is_none_or(|o| *o == output)
            .then_some(next)
    }

    /// A pending pure operation whose output matches the current state.
    fn matching_pure_op(&mut self) -> Option<(usize, M::State)> {
        let mut n = self.events.first();
        while n != NIL && self.events.nodes[n].is_call {
            self.steps += 1;
            let op = &self.ops[self.events.nodes[n].op];
            if let Some(output) = &op.output {
                let (answer, next) = self.model.step(&self.state, &op.input);
                if answer == *output && self.model.is_pure(&op.input, output) {
                    return Some((n, next));
                }
            }
            n = self.events.nodes[n].next;
        }
        None
    }

    /// Linearizes the operation called at `entry`, unless that configuration was reached
    /// before.
    fn lift(&mut self, entry: usize, next: M::State, forced: bool) -> bool {
        let op = self.events.nodes[entry].op;
        let mut linearized = self.linearized.clone();
        linearized.set(op);
        if !self.cache.insert((linearized.key(), next.clone())) {
            return false;
        }
        let previous = std::mem::replace(&mut self.state, next);
        self.path.push(Step {
            call: entry,
            previous,
            forced,
        });
        self.linearized = linearized;
        self.events.lift(entry);
        self.remaining -= usize::from(self.ops[op].ret.is_some());
        true
    }

    /// Undoes linearizations back to the latest choice; returns where to look for the next
    /// alternative, or `None` when there is none left.
    fn backtrack(&mut self) -> Option<usize> {
        while let Some(Step {
            call,
            previous,
            forced,
        }) = self.path.pop()
        {
            let op = self.events.nodes[call].op;
            self.state = previous;
            self.linearized.clear(op);
            self.events.unlift(call);
            self.remaining += usize::from(self.ops[op].ret.is_some());
            if !forced {
                return Some(self.events.nodes[call].next);
            }
        }
        None
    }

    fn note_stuck(&mut self, entry: usize) {
        let depth = self.path.len();
        if entry != NIL && self.stuck.as_ref().is_none_or(|s| depth > s.depth) {
            let op = self.events.nodes[entry].op;
            self.stuck = Some(Stuck {
                op,
                depth,
                state: self.state.clone(),
            });
        }
    }

    fn failed(self) -> Outcome<M::State> {
        let stuck = self.stuck.expect("a failed search met a return");
        Outcome::NotLinearizable {
            op: stuck.op,
            prefix_len: stuck.depth,
            state: stuck.state,
            steps: self.steps,
        }
    }

    /// Two pending operations of unknown outcome with the same input are interchangeable:
    /// trying the earlier one is enough. Without this, each timed-out write doubles the
    /// search space.
    fn is_redundant_info(&self, entry: usize) -> bool {
        let op = &self.ops[self.events.nodes[entry].op];
        if op.ret.is_some() {
            return false;
        }
        let mut n = self.events.first();
        while n != entry && n != NIL {
            let other = &self.ops[self.events.nodes[n].op];
            if self.events.nodes[n].is_call && other.ret.is_none() && other.input == op.input {
                return true;
            }
            n = self.events.nodes[n].next;
        }
        false
    }
}
