//! Rotation commands: schedules, versions, limits and what a deleted key or backup leaves.

use trent_model::*;

use crate::tests::{id, key_record, Harness};
use crate::*;

fn material(version: u32) -> WrappedMaterial {
    WrappedMaterial {
        version,
        created: 0,
        blob: vec![version as u8; 60],
    }
}

fn rotate(version: u32, kind: RotationType) -> Command {
    Command::RotateKey {
        key_id: id(1),
        material: material(version),
        kind,
        max_on_demand: Some(ON_DEMAND_ROTATION_LIMIT),
    }
}

fn schedule(days: Option<u32>) -> Command {
    Command::SetKeyRotation {
        key_id: id(1),
        period_days: days,
    }
}

#[test]
fn on_demand_rotations_add_versions_up_to_the_limit() {
    let mut h = Harness::with_key(1);
    for version in 2..=ON_DEMAND_ROTATION_LIMIT + 1 {
        h.run(rotate(version, RotationType::OnDemand)).unwrap();
    }
    let key = h.state.key(&id(1)).unwrap();
    assert_eq!(key.material.len() as u32, ON_DEMAND_ROTATION_LIMIT + 1);
    assert_eq!(key.material.last().unwrap().created, h.now());
    let limit = h.kind(rotate(ON_DEMAND_ROTATION_LIMIT + 2, RotationType::OnDemand));
    assert_eq!(limit, ErrorKind::LimitExceeded);
    assert_eq!(
        h.state.key_rotation(&id(1)).unwrap().on_demand_count(),
        ON_DEMAND_ROTATION_LIMIT
    );
}

#[test]
fn only_the_next_version_is_taken() {
    let mut h = Harness::with_key(1);
    assert_eq!(
        h.kind(rotate(3, RotationType::OnDemand)),
        ErrorKind::Conflict
    );
    assert_eq!(
        h.kind(rotate(1, RotationType::OnDemand)),
        ErrorKind::Conflict
    );
    h.run(rotate(2, RotationType::OnDemand)).unwrap();
    // The loser of a race wrapped the same version: refused, the winner's material stays.
    assert_eq!(
        h.kind(rotate(2, RotationType::OnDemand)),
        ErrorKind::Conflict
    );
    let key = h.state.key(&id(1)).unwrap();
    assert_eq!(key.material.len(), 2);
    assert_eq!(key.material[1].blob, material(2).blob);
}

#[test]
fn automatic_rotation_applies_only_when_due_and_reschedules() {
    let mut h = Harness::with_key(1);
    // Not enabled: refused.
    assert_eq!(
        h.kind(rotate(2, RotationType::Automatic)),
        ErrorKind::InvalidState
    );
    h.run(schedule(Some(90))).unwrap();
    let due = h
        .state
        .key_rotation(&id(1))
        .unwrap()
        .automatic
        .unwrap()
        .next;
    assert_eq!(due, h.now() + 90 * DAY_MS);
    assert!(h.state.keys_due_for_rotation(due - 1).is_empty());
    assert_eq!(h.state.keys_due_for_rotation(due), vec![id(1)]);
    // Early (a stale or skewed proposal): refused by the stamp.
    assert_eq!(
        h.kind(rotate(2, RotationType::Automatic)),
        ErrorKind::InvalidState
    );
    h.advance(90 * DAY_MS);
    h.run(rotate(2, RotationType::Automatic)).unwrap();
    let record = h.state.key_rotation(&id(1)).unwrap();
    assert_eq!(record.automatic.unwrap().next, h.now() + 90 * DAY_MS);
    assert_eq!(record.rotations[0].kind, RotationType::Automatic);
    assert_eq!(record.on_demand_count(), 0);
    // On-demand rotations leave the schedule alone.
    let next = record.automatic.unwrap().next;
    h.run(rotate(3, RotationType::OnDemand)).unwrap();
    assert_eq!(
        h.state
            .key_rotation(&id(1))
            .unwrap()
            .automatic
            .unwrap()
            .next,
        next
    );
    // Disabled: no schedule, not due, history kept.
    h.run(schedule(None)).unwrap();
    let record = h.state.key_rotation(&id(1)).unwrap();
    assert!(record.automatic.is_none());
    assert_eq!(record.rotations.len(), 2);
    assert!(h.state.keys_due_for_rotation(u64::MAX).is_empty());
}

#[test]
fn a_disabled_key_is_not_due_and_refuses_changes() {
    let mut h = Harness::with_key(1);
    h.run(schedule(Some(90))).unwrap();
    h.run(Command::DisableKey { key_id: id(1) }).unwrap();
    assert!(h.state.keys_due_for_rotation(u64::MAX).is_empty());
    assert_eq!(h.kind(schedule(Some(100))), ErrorKind::Disabled);
    assert_eq!(
        h.kind(rotate(2, RotationType::OnDemand)),
        ErrorKind::Disabled
    );
    h.run(Command::EnableKey { key_id: id(1) }).unwrap();
    // Enabled again after its date: due at once.
    assert_eq!(h.state.keys_due_for_rotation(u64::MAX), vec![id(1)]);
}

#[test]
fn keys_that_do_not_rotate_are_refused_without_a_record() {
    let mut h = Harness::new();
    let mut rsa = key_record(1);
    rsa.metadata.key_spec = KeySpec::Rsa2048;
    h.run(Command::CreateKey {
        record: rsa,
        max_keys_per_account: None,
    })
    .unwrap();
    assert_eq!(h.kind(schedule(Some(90))), ErrorKind::UnsupportedOperation);
    assert_eq!(
        h.kind(rotate(2, RotationType::OnDemand)),
        ErrorKind::UnsupportedOperation
    );
    assert!(h.state.key_rotation(&id(1)).is_none());
    assert_eq!(
        h.kind(Command::SetKeyRotation {
            key_id: id(9),
            period_days: None
        }),
        ErrorKind::NotFound
    );
}

#[test]
fn a_deleted_key_takes_its_rotation_record_along() {
    let mut h = Harness::with_key(1);
    h.run(rotate(2, RotationType::OnDemand)).unwrap();
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: h.now() + 10,
        pending_window_days: 7,
    })
    .unwrap();
    h.advance(10);
    h.run(Command::DeleteKey { key_id: id(1) }).unwrap();
    assert!(h.state.key_rotation(&id(1)).is_none());
    assert!(!h
        .state
        .records()
        .any(|(k, _)| RecordKey::decode(&k).unwrap() == RecordKey::KeyRotation(id(1))));
}

#[test]
fn rotation_records_travel_in_backups_and_orphans_are_refused() {
    let mut h = Harness::with_key(1);
    h.run(schedule(Some(365))).unwrap();
    h.run(rotate(2, RotationType::OnDemand)).unwrap();
    let records = h.state.backup_records();
    assert!(records
        .iter()
        .any(|r| RecordKey::decode(&r.key).unwrap() == RecordKey::KeyRotation(id(1))));
    let restored = State::from_backup_records(h.state.backup_records(), true).unwrap();
    assert_eq!(restored.key_rotation(&id(1)), h.state.key_rotation(&id(1)));
    assert_eq!(restored.key(&id(1)).unwrap().material.len(), 2);
    let without_key: Vec<_> = records
        .into_iter()
        .filter(|r| RecordKey::decode(&r.key).unwrap() != RecordKey::Key(id(1)))
        .collect();
    let err = State::from_backup_records(without_key, true).unwrap_err();
    assert!(err.reason.contains("rotation or import record"), "{err}");
}
