//! Rotation of imported key material: new material waits as the key's pending material until
//! RotateToImported makes it current; every version must be imported for the key to be usable.

use trent_model::*;

use crate::import_tests::external;
use crate::tests::{id, Harness};
use crate::*;

/// An EXTERNAL key with material 7 imported as version 1.
fn imported() -> Harness {
    let mut h = external();
    h.run(import(1, 7, 1, None)).unwrap();
    h
}

fn material(version: u32, fingerprint: u8) -> WrappedMaterial {
    WrappedMaterial {
        version,
        created: 0,
        blob: vec![fingerprint; 60],
    }
}

fn token(token: u8) -> UsedToken {
    UsedToken {
        id: [token; 16],
        valid_to: u64::MAX / 2,
    }
}

/// Re-imports (or first imports) `fingerprint` as `version`.
fn import(version: u32, fingerprint: u8, t: u8, valid_to: Option<Millis>) -> Command {
    Command::ImportKeyMaterial(MaterialImport {
        description: None,
        ..new_import(version, fingerprint, t, valid_to)
    })
}

/// New material for a rotation, as `version`.
fn import_new(version: u32, fingerprint: u8, t: u8, valid_to: Option<Millis>) -> Command {
    Command::ImportPendingMaterial(new_import(version, fingerprint, t, valid_to))
}

fn new_import(version: u32, fingerprint: u8, t: u8, valid_to: Option<Millis>) -> MaterialImport {
    MaterialImport {
        key_id: id(1),
        material: material(version, fingerprint),
        fingerprint: [fingerprint; 32],
        token: token(t),
        valid_to,
        description: Some("next".into()),
    }
}

fn rotate() -> Command {
    Command::RotateToImported {
        key_id: id(1),
        max_on_demand: 2,
    }
}

fn versions_in_key(h: &Harness) -> Vec<u32> {
    let key = h.state.key(&id(1)).unwrap();
    key.material.iter().map(|m| m.version).collect()
}

fn state_of(h: &Harness) -> KeyState {
    h.state.key(&id(1)).unwrap().metadata.key_state
}

#[test]
fn new_material_waits_until_the_rotation_makes_it_current() {
    let mut h = imported();
    assert_eq!(h.kind(rotate()), ErrorKind::InvalidState, "nothing waits");
    let answer = h.run(import_new(2, 8, 2, None)).unwrap();
    assert!(matches!(answer, Outcome::Material(_, 2)), "{answer:?}");
    // Waiting: not in the key, not one of its versions.
    assert_eq!(versions_in_key(&h), vec![1]);
    assert_eq!(h.state.key_import(&id(1)).unwrap().current(), Some(1));
    assert_eq!(
        h.state.pending_material(&id(1)).unwrap().material.version,
        2
    );
    // One waits at a time; the token is spent.
    assert_eq!(h.kind(import_new(2, 9, 3, None)), ErrorKind::InvalidState);
    assert_eq!(
        h.kind(import_new(2, 8, 2, None)),
        ErrorKind::InvalidImportToken
    );
    h.run(rotate()).unwrap();
    assert_eq!(versions_in_key(&h), vec![1, 2]);
    assert!(h.state.pending_material(&id(1)).is_none());
    let record = h.state.key_import(&id(1)).unwrap();
    assert_eq!(record.current(), Some(2));
    assert_eq!(
        record.version(2).unwrap().description.as_deref(),
        Some("next")
    );
    let rotation = h
        .state
        .key_rotation(&id(1))
        .unwrap()
        .rotation_of(2)
        .unwrap();
    assert_eq!(rotation.kind, RotationType::OnDemand);
    assert_eq!(state_of(&h), KeyState::Enabled);
    // Material the key has is not new; the next is version 3.
    assert_eq!(
        h.kind(import_new(3, 7, 4, None)),
        ErrorKind::IncorrectKeyMaterial
    );
    assert_eq!(h.kind(import_new(2, 9, 5, None)), ErrorKind::Conflict);
    h.run(import_new(3, 9, 6, None)).unwrap();
    h.run(rotate()).unwrap();
    // The on-demand limit counts these rotations too (2 in this test).
    h.run(import_new(4, 10, 7, None)).unwrap();
    assert_eq!(h.kind(rotate()), ErrorKind::LimitExceeded);
}

#[test]
fn a_key_without_material_or_not_enabled_does_not_rotate() {
    let mut h = imported();
    h.run(Command::DeleteImportedKeyMaterial { key_id: id(1) })
        .unwrap();
    h.run(import(1, 7, 2, None)).unwrap();
    h.run(Command::DisableKey { key_id: id(1) }).unwrap();
    h.run(import_new(2, 8, 3, None)).unwrap();
    assert_eq!(h.kind(rotate()), ErrorKind::Disabled);
    assert_eq!(versions_in_key(&h), vec![1]);
    assert_eq!(
        external().kind(import_new(1, 8, 1, None)),
        ErrorKind::InvalidState,
        "new material for a rotation needs material to rotate from"
    );
}

#[test]
fn every_version_must_be_imported_for_the_key_to_be_usable() {
    let mut h = imported();
    h.run(import_new(2, 8, 2, None)).unwrap();
    h.run(rotate()).unwrap();
    // Deleting the old version: the key waits for it.
    let answer = h
        .run(Command::DeleteImportedVersion {
            key_id: id(1),
            version: 1,
        })
        .unwrap();
    assert!(matches!(answer, Outcome::Material(_, 1)), "{answer:?}");
    assert_eq!(state_of(&h), KeyState::PendingImport);
    assert_eq!(versions_in_key(&h), vec![2]);
    // Other material is not version 1's; version 1's is, and the key is usable again.
    assert_eq!(
        h.kind(import(1, 9, 3, None)),
        ErrorKind::IncorrectKeyMaterial
    );
    let answer = h.run(import(1, 7, 4, None)).unwrap();
    assert!(matches!(answer, Outcome::Key(_)), "{answer:?}");
    assert_eq!(state_of(&h), KeyState::Enabled);
    assert_eq!(versions_in_key(&h), vec![1, 2]);
    // Both out, one back: still waiting.
    h.run(Command::DeleteImportedKeyMaterial { key_id: id(1) })
        .unwrap();
    assert!(versions_in_key(&h).is_empty());
    let answer = h.run(import(2, 8, 5, None)).unwrap();
    assert!(matches!(answer, Outcome::Material(_, 2)), "{answer:?}");
    assert_eq!(state_of(&h), KeyState::PendingImport);
    h.run(import(1, 7, 6, None)).unwrap();
    assert_eq!(state_of(&h), KeyState::Enabled);
    // A version the key never had.
    let unknown = Command::DeleteImportedVersion {
        key_id: id(1),
        version: 5,
    };
    assert_eq!(h.kind(unknown), ErrorKind::IncorrectKeyMaterial);
}

#[test]
fn pending_material_is_deleted_or_expires_alone() {
    let mut h = imported();
    let expiry = h.now() + 1_000;
    h.run(import_new(2, 8, 2, Some(expiry))).unwrap();
    h.run(Command::DeleteImportedVersion {
        key_id: id(1),
        version: 2,
    })
    .unwrap();
    assert!(h.state.pending_material(&id(1)).is_none());
    assert_eq!(state_of(&h), KeyState::Enabled, "the key is untouched");
    // Other material may take its place; it expires alone.
    h.run(import_new(2, 9, 3, Some(expiry))).unwrap();
    assert_eq!(h.state.keys_with_expired_material(expiry), vec![id(1)]);
    h.advance(1_000);
    h.run(Command::ExpireKeyMaterial { key_id: id(1) }).unwrap();
    assert!(h.state.pending_material(&id(1)).is_none());
    assert_eq!(state_of(&h), KeyState::Enabled);
    assert_eq!(versions_in_key(&h), vec![1]);
    assert!(h.state.keys_with_expired_material(u64::MAX).is_empty());
}

#[test]
fn an_expiring_version_takes_out_only_itself() {
    let mut h = imported();
    let expiry = h.now() + 1_000;
    h.run(import_new(2, 8, 2, Some(expiry))).unwrap();
    h.run(rotate()).unwrap();
    h.advance(1_000);
    h.run(Command::ExpireKeyMaterial { key_id: id(1) }).unwrap();
    assert_eq!(versions_in_key(&h), vec![1]);
    assert_eq!(state_of(&h), KeyState::PendingImport);
    let early = h.kind(Command::ExpireKeyMaterial { key_id: id(1) });
    assert_eq!(early, ErrorKind::InvalidState, "nothing more is due");
}

#[test]
fn pending_material_travels_in_backups_and_goes_with_its_key() {
    let mut h = imported();
    h.run(import_new(2, 8, 2, None)).unwrap();
    let restored = State::from_backup_records(h.state.backup_records(), true).unwrap();
    assert_eq!(
        restored.pending_material(&id(1)),
        h.state.pending_material(&id(1))
    );
    let without_key: Vec<_> = h
        .state
        .backup_records()
        .into_iter()
        .filter(|r| RecordKey::decode(&r.key).unwrap() != RecordKey::Key(id(1)))
        .collect();
    let err = State::from_backup_records(without_key, true).unwrap_err();
    assert!(err.reason.contains("import record"), "{err}");
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: h.now() + 10,
        pending_window_days: 7,
    })
    .unwrap();
    h.advance(10);
    h.run(Command::DeleteKey { key_id: id(1) }).unwrap();
    assert!(h.state.pending_material(&id(1)).is_none());
}
