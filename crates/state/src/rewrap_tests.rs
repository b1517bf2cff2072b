//! The domain key's migration commands: the switch moves only from the value it names, a
//! rewrap replaces only the blob it names, and both survive a restore from records.

use uuid::Uuid;

use crate::tests::{id, key_record};
use crate::*;

fn apply(state: &mut State, n: u128, command: Command) -> (Response, Vec<RecordKey>) {
    let mut touched = vec![];
    let request = Request {
        id: RequestId(Uuid::from_u128(5000 + n)),
        time: 10 + n as u64,
        command,
    };
    (state.apply(&request, &mut touched), touched)
}

fn identity(key_check: u8) -> Command {
    Command::SetClusterIdentity {
        identity: ClusterIdentity {
            id: Uuid::from_u128(1),
            key_check: vec![key_check; 32],
        },
    }
}

fn switch(from: u8, to: u8) -> Command {
    Command::SwitchDomainKey {
        from: vec![from; 32],
        to: vec![to; 32],
        retired_audit_key: vec![from; 91],
    }
}

#[test]
fn the_switch_moves_only_from_the_recorded_key() {
    let mut state = State::default();
    let (refused, _) = apply(&mut state, 1, switch(1, 2));
    assert!(refused.is_err(), "no identity recorded yet");
    apply(&mut state, 2, identity(1)).0.unwrap();
    let (stale, touched) = apply(&mut state, 3, switch(9, 2));
    assert!(stale.is_err() && !touched.contains(&RecordKey::ClusterIdentity));
    let (done, touched) = apply(&mut state, 4, switch(1, 2));
    assert!(done.is_ok() && touched.contains(&RecordKey::ClusterIdentity));
    assert_eq!(state.cluster_identity().unwrap().key_check, vec![2; 32]);
    let (again, touched) = apply(&mut state, 5, switch(1, 2));
    assert!(again.is_ok() && !touched.contains(&RecordKey::ClusterIdentity));
    assert_eq!(state.retired_audit_keys(), [vec![1; 91]]);
    let restored = State::restore(state.records()).unwrap();
    assert_eq!(restored.cluster_identity().unwrap().key_check, vec![2; 32]);
    assert_eq!(restored.retired_audit_keys(), [vec![1; 91]]);
}

#[test]
fn a_rewrap_replaces_only_the_blob_it_names() {
    let mut state = State::default();
    let record = key_record(7);
    let old = record.material[0].blob.clone();
    apply(
        &mut state,
        1,
        Command::CreateKey {
            record,
            max_keys_per_account: None,
        },
    )
    .0
    .unwrap();
    let outgoing = |blob: &[u8]| blob == old.as_slice();
    assert_eq!(state.count_outgoing(&outgoing).material, 1);
    assert_eq!(state.outgoing_blobs(&outgoing, 10).len(), 1);
    let rewrap = |from: &[u8], to: &[u8]| Command::RewrapBlobs {
        rewraps: vec![Rewrap::Material {
            key_id: id(7),
            version: 1,
            old: from.to_vec(),
            new: to.to_vec(),
        }],
    };
    // A rewrap of a blob the key no longer holds (stale) changes nothing.
    let (done, touched) = apply(&mut state, 2, rewrap(b"other", b"new"));
    assert!(done.is_ok() && touched.iter().all(|t| *t != RecordKey::Key(id(7))));
    assert_eq!(state.key(&id(7)).unwrap().material[0].blob, old);
    let (done, touched) = apply(&mut state, 3, rewrap(&old, b"new"));
    assert!(done.is_ok() && touched.contains(&RecordKey::Key(id(7))));
    assert_eq!(state.key(&id(7)).unwrap().material[0].blob, b"new");
    assert_eq!(state.count_outgoing(&outgoing), OutgoingCount::default());
    let restored = State::restore(state.records()).unwrap();
    assert_eq!(restored.key(&id(7)).unwrap().material[0].blob, b"new");
}
