//! Import commands: versions and fingerprints, tokens, expiry, deletion and backups.

use trent_model::*;

use crate::tests::{id, key_record, Harness};
use crate::*;

/// A harness holding key 1, EXTERNAL, with no material yet.
pub(crate) fn external() -> Harness {
    let mut h = Harness::new();
    let mut record = key_record(1);
    record.metadata.origin = Origin::External;
    record.metadata.key_state = KeyState::PendingImport;
    record.material.clear();
    h.run(Command::CreateKey {
        record,
        max_keys_per_account: None,
    })
    .unwrap();
    h
}

fn import(fingerprint: u8, token: u8, valid_to: Option<Millis>) -> Command {
    Command::ImportKeyMaterial(MaterialImport {
        key_id: id(1),
        material: WrappedMaterial {
            version: 1,
            created: 0,
            blob: vec![fingerprint; 60],
        },
        fingerprint: [fingerprint; 32],
        token: UsedToken {
            id: [token; 16],
            valid_to: u64::MAX / 2,
        },
        valid_to,
        description: Some("first".into()),
    })
}

fn state_of(h: &Harness) -> KeyState {
    h.state.key(&id(1)).unwrap().metadata.key_state
}

#[test]
fn an_import_enables_the_key_and_a_token_is_spent_once() {
    let mut h = external();
    assert!(h.state.key(&id(1)).unwrap().material.is_empty());
    h.run(import(7, 1, None)).unwrap();
    assert_eq!(state_of(&h), KeyState::Enabled);
    assert_eq!(h.state.key(&id(1)).unwrap().material[0].blob, vec![7; 60]);
    assert_eq!(h.kind(import(7, 1, None)), ErrorKind::InvalidImportToken);
    // The same material again, with a fresh token: fine (a re-import).
    h.run(import(7, 2, None)).unwrap();
    // Other material: refused, the first stays.
    assert_eq!(h.kind(import(8, 3, None)), ErrorKind::IncorrectKeyMaterial);
    assert_eq!(h.state.key(&id(1)).unwrap().material[0].blob, vec![7; 60]);
}

#[test]
fn an_expired_token_is_refused_by_the_request_time() {
    let mut h = external();
    let mut command = import(7, 1, None);
    if let Command::ImportKeyMaterial(import) = &mut command {
        import.token.valid_to = h.now();
    }
    assert_eq!(h.kind(command), ErrorKind::ExpiredImportToken);
    assert_eq!(state_of(&h), KeyState::PendingImport);
}

#[test]
fn expiry_and_deletion_take_the_material_out_until_the_same_comes_back() {
    let mut h = external();
    let expiry = h.now() + 1_000;
    h.run(import(7, 1, Some(expiry))).unwrap();
    assert_eq!(
        h.state.keys_with_expired_material(expiry - 1),
        Vec::<KeyId>::new()
    );
    assert_eq!(h.state.keys_with_expired_material(expiry), vec![id(1)]);
    // Early: refused.
    let early = h.kind(Command::ExpireKeyMaterial { key_id: id(1) });
    assert_eq!(early, ErrorKind::InvalidState);
    h.advance(1_000);
    h.run(Command::ExpireKeyMaterial { key_id: id(1) }).unwrap();
    assert_eq!(state_of(&h), KeyState::PendingImport);
    assert!(
        h.state.key(&id(1)).unwrap().material.is_empty(),
        "the blob is gone"
    );
    assert!(h.state.keys_with_expired_material(u64::MAX).is_empty());
    // Other material cannot take its place; the same can.
    assert_eq!(h.kind(import(8, 2, None)), ErrorKind::IncorrectKeyMaterial);
    h.run(import(7, 3, None)).unwrap();
    assert_eq!(state_of(&h), KeyState::Enabled);
    h.run(Command::DeleteImportedKeyMaterial { key_id: id(1) })
        .unwrap();
    assert_eq!(state_of(&h), KeyState::PendingImport);
    assert!(h.state.key(&id(1)).unwrap().material.is_empty());
    let record = h.state.key_import(&id(1)).unwrap();
    assert!(!record.imported());
    assert_eq!(record.materials[0].description.as_deref(), Some("first"));
}

#[test]
fn only_external_keys_import_and_a_key_pending_deletion_keeps_its_state() {
    let mut h = Harness::with_key(1);
    assert_eq!(h.kind(import(7, 1, None)), ErrorKind::UnsupportedOperation);
    assert_eq!(
        h.kind(Command::DeleteImportedKeyMaterial { key_id: id(1) }),
        ErrorKind::UnsupportedOperation
    );
    let mut h = external();
    h.run(import(7, 1, None)).unwrap();
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: h.now() + 10,
        pending_window_days: 7,
    })
    .unwrap();
    assert_eq!(h.kind(import(7, 2, None)), ErrorKind::InvalidState);
    h.run(Command::DeleteImportedKeyMaterial { key_id: id(1) })
        .unwrap();
    assert_eq!(state_of(&h), KeyState::PendingDeletion);
    h.advance(10);
    h.run(Command::DeleteKey { key_id: id(1) }).unwrap();
    assert!(h.state.key_import(&id(1)).is_none());
}

#[test]
fn import_records_travel_in_backups() {
    let mut h = external();
    h.run(import(7, 1, Some(u64::MAX / 4))).unwrap();
    let restored = State::from_backup_records(h.state.backup_records(), true).unwrap();
    assert_eq!(restored.key_import(&id(1)), h.state.key_import(&id(1)));
    let without_key: Vec<_> = h
        .state
        .backup_records()
        .into_iter()
        .filter(|r| RecordKey::decode(&r.key).unwrap() != RecordKey::Key(id(1)))
        .collect();
    let err = State::from_backup_records(without_key, true).unwrap_err();
    assert!(err.reason.contains("import record"), "{err}");
}

#[test]
fn an_import_command_keeps_the_log_encoding_of_command_set_3() {
    // Command set 3 wrote ImportKeyMaterial as a struct variant: its index (the 34th
    // command), then its fields in order. The newtype variant must write the same bytes, or
    // a log written by that build would not decode.
    let command = import(7, 1, Some(5));
    let Command::ImportKeyMaterial(i) = &command else {
        unreachable!()
    };
    let bytes = bincode::serialize(&command).unwrap();
    let fields = (
        i.key_id,
        &i.material,
        i.fingerprint,
        i.token,
        i.valid_to,
        &i.description,
    );
    assert_eq!(bytes[..4], 33u32.to_le_bytes());
    assert_eq!(bytes[4..], bincode::serialize(&fields).unwrap());
}
