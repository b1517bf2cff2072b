//! The bookkeeping of the search: the history as a doubly linked list of call and return
//! events that operations are lifted out of and put back into (dancing links), and the set
//! of linearized operations.

use crate::history::Nanos;

use super::Operation;

pub(super) const NIL: usize = usize::MAX;
pub(super) const HEAD: usize = 0;

/// A call or return event in the doubly linked list the search lifts entries out of.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub op: usize,
    pub is_call: bool,
    /// For a call, its return node (NIL when the outcome is unknown).
    pub ret: usize,
    pub prev: usize,
    pub next: usize,
}

/// The history as a linked list of call/return nodes in time order, node 0 a sentinel.
pub(super) struct Events {
    pub nodes: Vec<Node>,
}

impl Events {
    /// Orders events by time; at equal times calls come first, so that operations touching
    /// at an instant count as concurrent (the permissive reading: no false anomaly).
    pub fn new<I, O>(ops: &[Operation<I, O>], keep: &[bool]) -> Self {
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

    pub fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    pub fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    pub fn first(&self) -> usize {
        self.nodes[HEAD].next
    }
}

/// The set of linearized operations, as cache key trimmed of trailing zero words (the
/// operations not reached yet) to keep the cache small.
#[derive(Clone)]
pub(super) struct BitSet(Vec<u64>);

impl BitSet {
    pub fn new(len: usize) -> Self {
        BitSet(vec![0; len.div_ceil(64)])
    }
    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    pub fn key(&self) -> Box<[u64]> {
        let len = self.0.iter().rposition(|w| *w != 0).map_or(0, |p| p + 1);
        self.0[..len].into()
    }
}
