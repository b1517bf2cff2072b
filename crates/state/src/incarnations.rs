//! Which data dir each member holds its log in: the *incarnation* (a random id a node draws
//! when its data dir is created) recorded per node id. A node that finds its id recorded
//! with another incarnation has lost the log and the votes its earlier data dir promised (its
//! disk was wiped or replaced), so it must not vote (the cluster crate's `incarnation.rs`).
//!
//! A record is written once and never overwritten by an ordinary request: the first
//! incarnation the leader reports for a node wins, and a later different one is answered
//! with the recorded one. Only `replace` (AddNode, after the node caught up as a learner)
//! records a new incarnation over an old one.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::{Outcome, RecordKey, Response, State};

/// Recorded incarnations by node id.
pub(crate) type Incarnations = BTreeMap<u64, Uuid>;

impl State {
    /// The incarnation recorded for `node`, if any.
    pub fn incarnation(&self, node: u64) -> Option<Uuid> {
        self.incarnations.get(&node).copied()
    }

    /// Records `incarnation` for `node` unless another one is recorded and `replace` is
    /// false; answers the incarnation recorded afterwards.
    pub(crate) fn record_incarnation(
        &mut self,
        node: u64,
        incarnation: Uuid,
        replace: bool,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        match self.incarnations.get(&node) {
            Some(&recorded) if recorded == incarnation || !replace => {
                Ok(Outcome::Incarnation(recorded))
            }
            _ => {
                self.incarnations.insert(node, incarnation);
                touched.push(RecordKey::Incarnation(node));
                Ok(Outcome::Incarnation(incarnation))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Request, RequestId};

    fn record(state: &mut State, node: u64, incarnation: Uuid, replace: bool) -> Response {
        let request = Request {
            id: RequestId(Uuid::new_v4()),
            time: 1,
            command: Command::RecordIncarnation {
                node,
                incarnation,
                replace,
            },
        };
        let mut touched = vec![];
        let response = state.apply(&request, &mut touched);
        assert!(touched.iter().all(|k| !k.is_entity()));
        response
    }

    #[test]
    fn the_first_incarnation_wins_until_replaced() {
        let (first, wiped, replaced) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut state = State::default();
        assert_eq!(state.incarnation(3), None);
        assert_eq!(
            record(&mut state, 3, first, false),
            Ok(Outcome::Incarnation(first))
        );
        // A wiped node's new incarnation is answered with the recorded one, unchanged.
        assert_eq!(
            record(&mut state, 3, wiped, false),
            Ok(Outcome::Incarnation(first))
        );
        assert_eq!(state.incarnation(3), Some(first));
        // AddNode replaces it.
        assert_eq!(
            record(&mut state, 3, replaced, true),
            Ok(Outcome::Incarnation(replaced))
        );
        assert_eq!(state.incarnation(3), Some(replaced));
        // Other nodes are independent.
        assert_eq!(state.incarnation(1), None);
    }

    #[test]
    fn incarnations_survive_records_and_stay_out_of_backups() {
        let mut state = State::default();
        let id = Uuid::new_v4();
        record(&mut state, 2, id, false).unwrap();
        let restored = State::restore(state.records()).unwrap();
        assert_eq!(restored.incarnation(2), Some(id));
        assert_eq!(restored, state);
        assert!(state.backup_records().is_empty());
    }
}
