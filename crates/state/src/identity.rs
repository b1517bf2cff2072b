//! The cluster's identity: a random id chosen once, when the cluster is formed (or, for a
//! cluster formed before ids existed, at its first start with them), and the key-check
//! value of the domain key the cluster runs under.
//!
//! It is replicated like any record, so every member's data dir and every snapshot holds it,
//! and it is set once: a later [`crate::Command::SetClusterIdentity`] (a second leader that
//! proposed one before it saw the first) changes nothing. Peers compare ids on every message
//! and nodes compare key-check values with their own (the cluster crate's `cluster_id.rs`);
//! a backup restore keeps the cluster's own identity (it is not an entity record).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Outcome, RecordKey, Response, State};

/// Which cluster this is, and which domain key it runs under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// Chosen at random by the leader that recorded it.
    pub id: Uuid,
    /// The domain key's key-check value (`trent_hsm::Hsm::key_check_value`): opaque here;
    /// it cannot be turned back into the key.
    pub key_check: Vec<u8>,
}

impl State {
    /// The cluster's identity, once recorded.
    pub fn cluster_identity(&self) -> Option<&ClusterIdentity> {
        self.identity.as_ref()
    }

    /// Records `identity` unless one is recorded already (then nothing changes).
    pub(crate) fn set_identity(
        &mut self,
        identity: &ClusterIdentity,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        if self.identity.is_none() {
            self.identity = Some(identity.clone());
            touched.push(RecordKey::ClusterIdentity);
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Request, RequestId};

    fn set(state: &mut State, id: u128) -> Vec<RecordKey> {
        let mut touched = vec![];
        let request = Request {
            id: RequestId(Uuid::from_u128(1000 + id)),
            time: 1,
            command: Command::SetClusterIdentity {
                identity: ClusterIdentity {
                    id: Uuid::from_u128(id),
                    key_check: vec![id as u8; 32],
                },
            },
        };
        state.apply(&request, &mut touched).unwrap();
        touched
    }

    #[test]
    fn the_first_identity_stays_and_survives_a_restore_from_records() {
        let mut state = State::default();
        assert!(state.cluster_identity().is_none());
        assert!(set(&mut state, 7).contains(&RecordKey::ClusterIdentity));
        assert!(!set(&mut state, 8).contains(&RecordKey::ClusterIdentity));
        assert_eq!(state.cluster_identity().unwrap().id, Uuid::from_u128(7));
        let restored = State::restore(state.records()).unwrap();
        assert_eq!(restored.cluster_identity(), state.cluster_identity());
    }
}
