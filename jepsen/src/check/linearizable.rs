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

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Nanos;

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

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// A call or return event in the doubly linked list the search lifts entries out of.
#[derive(Debug, Clone)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call, its return node (NIL when the outcome is unknown).
    ret: usize,
    prev: usize,
    next: usize,
}

/// The history as a linked list of call/return nodes in time order, node 0 a sentinel.
struct Events {
    nodes: Vec<Node>,
}

impl Events {
    /// Orders events by time; at equal times calls come first, so that operations touching
    /// at an instant count as concurrent (the permissive reading: no false anomaly).
    fn new<I, O>(ops: &[Operation<I, O>], keep: &[bool]) -> Self {
        let mut events: Vec<(Nanos, bool, usize)> = vec![];
        for (i, op) in ops.iter().enumerate().filter(|(i, _)| keep[*i]) {
            events.push((op.call, true, i));
            if let Some(ret) = op.ret {
                events.push((ret.max(op.call), false, i));
            }
        }
        events.sort_by_key(|&(time, is_call, op)| (time, !is_call, op));
        let sentinel = Node {
            op: NIL,
            is_call: false,
            ret: NIL,
            prev: NIL,
            next: NIL,
        };
        let mut nodes = vec![sentinel];
        let mut call_node = vec![NIL; ops.len()];
        for (_, is_call, op) in events {
            let idx = nodes.len();
            nodes[idx - 1].next = idx;
            nodes.push(Node {
                op,
                is_call,
                ret: NIL,
                prev: idx - 1,
                next: NIL,
            });
            if is_call {
                call_node[op] = idx;
            } else {
                nodes[call_node[op]].ret = idx;
            }
        }
        Events { nodes }
    }

    fn unlink(&mut self, n: usize) {
        let Node { prev, next, .. } = self.nodes[n];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    /// Dancing links: valid because relinking happens in the reverse order of unlinking.
    fn relink(&mut self, n: usize) {
        let Node { prev, next, .. } = self.nodes[n];
        self.nodes[prev].next = n;
        if next != NIL {
            self.nodes[next].prev = n;
        }
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn first(&self) -> usize {
        self.nodes[HEAD].next
    }
}

/// The set of linearized operations, as cache key trimmed of trailing zero words (the
/// operations not reached yet) to keep the cache small.
#[derive(Clone)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(len: usize) -> Self {
        BitSet(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn key(&self) -> Box<[u64]> {
        let len = self.0.iter().rposition(|w| *w != 0).map_or(0, |p| p + 1);
        self.0[..len].into()
    }
}

/// The deepest point where the search got stuck, for the report.
struct Stuck<S> {
    op: usize,
    depth: usize,
    state: S,
}

/// Searches for a linearization of `ops` from the model's initial state, within `step_limit`
/// steps (one step per list entry examined).
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    step_limit: u64,
) -> Outcome<M::State> {
    let keep: Vec<bool> = ops
        .iter()
        .map(|op| op.ret.is_some() || !model.is_read_only(&op.input))
        .collect();
    let mut events = Events::new(ops, &keep);
    let mut remaining = ops
        .iter()
        .zip(&keep)
        .filter(|(op, k)| **k && op.ret.is_some())
        .count();
    let mut linearized = BitSet::new(ops.len());
    let mut cache: HashSet<(Box<[u64]>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = vec![];
    let mut state = model.init();
    let mut stuck: Option<Stuck<M::State>> = None;
    let mut entry = events.first();
    let mut steps = 0u64;
    loop {
        if remaining == 0 {
            return Outcome::Linearizable { steps };
        }
        steps += 1;
        if steps > step_limit {
            return Outcome::Unknown { steps };
        }
        if entry != NIL && events.nodes[entry].is_call {
            let op = events.nodes[entry].op;
            if !is_redundant_info(&events, ops, entry) {
                let (output, next_state) = model.step(&state, &ops[op].input);
                if ops[op].output.as_ref().is_none_or(|o| *o == output) {
                    let mut next_linearized = linearized.clone();
                    next_linearized.set(op);
                    if cache.insert((next_linearized.key(), next_state.clone())) {
                        stack.push((entry, std::mem::replace(&mut state, next_state)));
                        linearized = next_linearized;
                        events.lift(entry);
                        remaining -= usize::from(ops[op].ret.is_some());
                        entry = events.first();
                        continue;
                    }
                }
            }
            entry = events.nodes[entry].next;
            continue;
        }
        // A return (or the end): its operation had to take effect by now and could not.
        if entry != NIL && stuck.as_ref().is_none_or(|s| stack.len() > s.depth) {
            stuck = Some(Stuck {
                op: events.nodes[entry].op,
                depth: stack.len(),
                state: state.clone(),
            });
        }
        let Some((call, previous)) = stack.pop() else {
            let stuck = stuck.expect("a failed search met a return");
            return Outcome::NotLinearizable {
                op: stuck.op,
                prefix_len: stuck.depth,
                state: stuck.state,
                steps,
            };
        };
        let op = events.nodes[call].op;
        state = previous;
        linearized.clear(op);
        events.unlift(call);
        remaining += usize::from(ops[op].ret.is_some());
        entry = events.nodes[call].next;
    }
}

/// Two pending operations of unknown outcome with the same input are interchangeable: trying
/// the earlier one is enough. Without this, each timed-out write doubles the search space.
fn is_redundant_info<I: Eq, O>(events: &Events, ops: &[Operation<I, O>], entry: usize) -> bool {
    let op = &ops[events.nodes[entry].op];
    if op.ret.is_some() {
        return false;
    }
    let mut n = events.first();
    while n != entry && n != NIL {
        let other = &ops[events.nodes[n].op];
        if events.nodes[n].is_call && other.ret.is_none() && other.input == op.input {
            return true;
        }
        n = events.nodes[n].next;
    }
    false
}
