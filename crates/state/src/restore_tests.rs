//! Backup blobs and restore through apply(): round trips, atomic swap, determinism, refusals.

use std::collections::BTreeMap;

use trent_model::*;
use uuid::Uuid;

use crate::backup::{self, BackupBytes, BackupError, BackupHeader};
use crate::tests::{account, key_record};
use crate::*;

const OTHER_ACCOUNT: &str = "444455556666";

/// A replica: the state plus the record store it persists through `touched`, as the storage
/// layer does. Every step checks that the store rebuilds exactly the state, which proves that
/// `touched` named every record a command changed (the restore swap touches many).
struct Replica {
    state: State,
    store: BTreeMap<Vec<u8>, Vec<u8>>,
    time: Millis,
    next_id: u128,
}

impl Replica {
    fn new() -> Replica {
        let mut replica = Replica {
            state: State::default(),
            store: BTreeMap::new(),
            time: 1_000,
            next_id: 0,
        };
        replica
            .run(Command::CreateAccessKey {
                record: access_key("TKIAOPERATORROOT0001", account(), None),
                max_access_keys_per_user: None,
            })
            .unwrap();
        replica
    }

    fn run(&mut self, command: Command) -> Response {
        self.next_id += 1;
        self.time += 1;
        let request = Request {
            id: RequestId(Uuid::from_u128(self.next_id)),
            time: self.time,
            command,
        };
        let mut touched = vec![];
        let response = self.state.apply(&request, &mut touched);
        for key in touched {
            match self.state.record(&key) {
                Some(value) => self.store.insert(key.encode(), value),
                None => self.store.remove(&key.encode()),
            };
        }
        let rebuilt = State::restore(self.store.clone()).unwrap();
        assert_eq!(
            rebuilt, self.state,
            "the persisted records differ from the state"
        );
        response
    }

    fn entities(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.state.backup_records()
    }
}

fn access_key(id: &str, account: AccountId, user: Option<&str>) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.into(),
        owner: Principal {
            account,
            user: user.map(|u| u.parse().unwrap()),
        },
        wrapped_secret: vec![9; 40],
        created: 1,
    }
}

/// A source cluster with two keys, an alias, a user with an access key, and another
/// account's root key.
fn source() -> Replica {
    let mut r = Replica::new();
    for n in [1, 2] {
        r.run(Command::CreateKey {
            record: key_record(n),
            max_keys_per_account: None,
        })
        .unwrap();
    }
    r.run(Command::CreateAlias {
        account: account(),
        name: "alias/app".parse().unwrap(),
        target: KeyId(Uuid::from_u128(2)),
        max_aliases_per_key: None,
    })
    .unwrap();
    r.run(Command::CreateUser {
        account: account(),
        name: "alice".parse().unwrap(),
        max_users_per_account: None,
    })
    .unwrap();
    for record in [
        access_key("TKIAALICE00000000001", account(), Some("alice")),
        access_key("TKIAOTHERROOT0000001", OTHER_ACCOUNT.parse().unwrap(), None),
    ] {
        r.run(Command::CreateAccessKey {
            record,
            max_access_keys_per_user: None,
        })
        .unwrap();
    }
    r
}

fn blob_of(r: &Replica) -> Vec<u8> {
    let records = r.entities();
    let header = BackupHeader {
        cluster: "src".into(),
        created: r.time,
        term: 3,
        last_applied_index: Some(42),
        domain_key_fingerprint: "00".repeat(32),
        records: records.len() as u64,
        keys: 2,
        aliases: 1,
        users: 1,
        access_keys: 3,
    };
    backup::finish(backup::encode_body(&header, &records), &[5; 32])
}

/// Stages `blob` in `parts` parts; answers the last part's response.
fn stage(r: &mut Replica, restore_id: Uuid, blob: &[u8], parts: u32) -> Response {
    let size = blob.len().div_ceil(parts as usize);
    let mut last = Ok(Outcome::Done);
    for (i, chunk) in blob.chunks(size).enumerate() {
        last = r.run(part(restore_id, i as u32, parts, chunk));
    }
    last
}

fn part(restore_id: Uuid, part: u32, parts: u32, data: &[u8]) -> Command {
    Command::RestorePart {
        restore_id,
        part,
        parts,
        data: BackupBytes(data.to_vec()),
        operator: account(),
    }
}

fn commit(restore_id: Uuid) -> Command {
    Command::RestoreCommit {
        restore_id,
        operator: account(),
    }
}

#[test]
fn a_blob_round_trips_and_holds_only_entities() {
    let src = source();
    let blob = blob_of(&src);
    let parsed = backup::parse(&blob).unwrap();
    assert_eq!(parsed.header.records, src.entities().len() as u64);
    assert_eq!(parsed.records, src.entities());
    assert_eq!(parsed.seal, &[5; 32]);
    assert_eq!(parsed.sealed.len(), blob.len() - 36);
    assert_eq!(
        backup::peek_header(&blob[..400]).unwrap(),
        Some(parsed.header.clone())
    );
    assert_eq!(backup::peek_header(&blob[..20]).unwrap(), None);
    let restored = State::from_backup_records(parsed.records).unwrap();
    assert_eq!(restored.key_count(&account()), 2);
    assert_eq!(restored.clock(), 0, "bookkeeping records stay behind");
    let mut with_clock = src.entities();
    with_clock.push((
        RecordKey::Clock.encode(),
        bincode::serialize(&5u64).unwrap(),
    ));
    assert!(State::from_backup_records(with_clock).is_err());
}

#[test]
fn every_truncation_and_bit_flip_is_refused_without_panicking() {
    let blob = blob_of(&source());
    for len in 0..blob.len() {
        assert!(backup::parse(&blob[..len]).is_err(), "truncated to {len}");
    }
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x10;
        assert!(backup::parse(&bad).is_err(), "flipped byte {i}");
    }
    assert_eq!(
        backup::parse(b"PK\x03\x04 a zip file").err(),
        Some(BackupError::NotABackup)
    );
    let mut future = blob.clone();
    future[9] = 2;
    assert_eq!(backup::parse(&future).err(), Some(BackupError::Format(2)));
    let mut damaged = blob.clone();
    let middle = blob.len() / 2;
    damaged[middle] ^= 1;
    assert_eq!(backup::parse(&damaged).err(), Some(BackupError::Checksum));
}

#[test]
fn a_staged_backup_is_swapped_in_atomically_at_commit() {
    let src = source();
    let blob = blob_of(&src);
    let mut dst = Replica::new();
    let restore_id = Uuid::from_u128(77);
    stage(&mut dst, restore_id, &blob, 3).unwrap();
    assert_eq!(
        dst.state.key_count(&account()),
        0,
        "nothing visible before commit"
    );
    assert_eq!(dst.state.staged_backup(restore_id), Some(blob.clone()));
    dst.run(commit(restore_id)).unwrap();

    assert_eq!(dst.state.key_count(&account()), 2);
    let alias = dst.state.alias(&account(), &"alias/app".parse().unwrap());
    assert_eq!(alias.unwrap().target, KeyId(Uuid::from_u128(2)));
    assert!(dst
        .state
        .user(&account(), &"alice".parse().unwrap())
        .is_some());
    for id in [
        "TKIAOPERATORROOT0001",
        "TKIAALICE00000000001",
        "TKIAOTHERROOT0000001",
    ] {
        assert!(dst.state.access_key(id).is_some(), "{id}");
    }
    assert_eq!(dst.state.staged_backup(restore_id), None);
    assert!(dst.state.restore.is_none() && dst.state.restore_parts.is_empty());
    let (mut got, mut expected) = (dst.entities(), src.entities());
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "the same entities as the source");
    assert!(dst.state.restore_blocker(&account()).is_some());
}

#[test]
fn the_fresh_clusters_operator_keys_win_over_the_backups() {
    let mut src = source();
    let mut theirs = access_key("TKIAOPERATORROOT0001", account(), None);
    theirs.wrapped_secret = vec![1; 40];
    src.state
        .access_keys
        .insert(theirs.access_key_id.clone(), theirs);
    let mut dst = Replica::new();
    stage(&mut dst, Uuid::from_u128(1), &blob_of(&src), 1).unwrap();
    dst.run(commit(Uuid::from_u128(1))).unwrap();
    let kept = dst.state.access_key("TKIAOPERATORROOT0001").unwrap();
    assert_eq!(kept.wrapped_secret, vec![9; 40]);
}

#[test]
fn replicas_applying_the_same_restore_agree() {
    let blob = blob_of(&source());
    let (mut a, mut b) = (Replica::new(), Replica::new());
    for r in [&mut a, &mut b] {
        stage(r, Uuid::from_u128(5), &blob, 4).unwrap();
        r.run(commit(Uuid::from_u128(5))).unwrap();
    }
    assert_eq!(a.state, b.state);
    assert_eq!(a.store, b.store);
}

#[test]
fn a_cluster_that_is_not_fresh_refuses_and_keeps_its_state() {
    let blob = blob_of(&source());
    let mut dst = source();
    let before = dst.state.clone();
    let err = dst.run(part(Uuid::from_u128(1), 0, 1, &blob)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidState);
    assert!(
        err.message.contains("2 key(s), 1 alias, 1 user"),
        "{}",
        err.message
    );
    assert_eq!(dst.state.keys, before.keys);
    assert_eq!(dst.state.restore, None);

    // A key created between the last part and the commit also stops the commit.
    let mut dst = Replica::new();
    stage(&mut dst, Uuid::from_u128(2), &blob, 2).unwrap();
    dst.run(Command::CreateKey {
        record: key_record(9),
        max_keys_per_account: None,
    })
    .unwrap();
    let err = dst.run(commit(Uuid::from_u128(2))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidState);
    assert_eq!(dst.state.key_count(&account()), 1);
}

#[test]
fn parts_must_arrive_in_order_and_retries_are_harmless() {
    let blob = blob_of(&source());
    let mut dst = Replica::new();
    let id = Uuid::from_u128(3);
    let (a, b) = blob.split_at(blob.len() / 2);
    let kind = |r: Response| r.unwrap_err().kind;
    assert_eq!(kind(dst.run(part(id, 1, 2, b))), ErrorKind::InvalidState);
    dst.run(part(id, 0, 2, a)).unwrap();
    dst.run(part(id, 0, 2, a)).unwrap();
    assert_eq!(kind(dst.run(part(id, 0, 2, b))), ErrorKind::InvalidState);
    assert_eq!(kind(dst.run(commit(id))), ErrorKind::InvalidState);
    assert_eq!(kind(dst.run(part(id, 1, 3, b))), ErrorKind::InvalidState);
    assert_eq!(kind(dst.run(part(id, 2, 2, b))), ErrorKind::Validation);
    assert_eq!(kind(dst.run(part(id, 0, 0, b))), ErrorKind::Validation);
    assert_eq!(kind(dst.run(part(id, 1, 2, &[]))), ErrorKind::Validation);
    let big = vec![0; MAX_PART_BYTES + 1];
    assert_eq!(kind(dst.run(part(id, 1, 2, &big))), ErrorKind::Validation);
    dst.run(part(id, 1, 2, b)).unwrap();
    dst.run(commit(id)).unwrap();
    assert_eq!(dst.state.key_count(&account()), 2);
}

#[test]
fn a_new_restore_replaces_an_abandoned_one_and_abort_drops_it() {
    let blob = blob_of(&source());
    let mut dst = Replica::new();
    dst.run(part(Uuid::from_u128(1), 0, 2, &blob[..10]))
        .unwrap();
    stage(&mut dst, Uuid::from_u128(2), &blob, 2).unwrap();
    assert_eq!(
        dst.run(commit(Uuid::from_u128(1))).unwrap_err().kind,
        ErrorKind::InvalidState
    );
    dst.run(Command::RestoreAbort {
        restore_id: Uuid::from_u128(1),
    })
    .unwrap();
    assert!(
        dst.state.staged_backup(Uuid::from_u128(2)).is_some(),
        "another id: kept"
    );
    dst.run(Command::RestoreAbort {
        restore_id: Uuid::from_u128(2),
    })
    .unwrap();
    assert!(dst.state.restore.is_none() && dst.state.restore_parts.is_empty());
}

#[test]
fn a_corrupt_staged_blob_is_refused_at_commit_and_changes_nothing() {
    let mut blob = blob_of(&source());
    let last = blob.len() - 40;
    blob[last] ^= 1;
    let mut dst = Replica::new();
    stage(&mut dst, Uuid::from_u128(4), &blob, 2).unwrap();
    let before = dst.state.clone();
    let err = dst.run(commit(Uuid::from_u128(4))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation);
    assert!(err.message.contains("checksum"), "{}", err.message);
    assert_eq!(dst.state.keys, before.keys);
    assert_eq!(dst.state.access_keys, before.access_keys);
}

#[test]
fn backup_bytes_never_show_their_contents() {
    let bytes = BackupBytes(b"wrapped-secret".to_vec());
    assert_eq!(format!("{bytes:?}"), "<14 bytes>");
    let command = part(Uuid::nil(), 0, 1, b"wrapped-secret");
    assert!(!format!("{command:?}").contains("119, 114"));
}
