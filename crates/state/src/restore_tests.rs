//! Backup blobs and restore through apply(): round trips, atomic swap, determinism, refusals.

use std::collections::BTreeMap;

use trent_model::*;
use uuid::Uuid;

use crate::backup::{self, BackupBytes, BackupError, BackupHeader, Record};
use crate::tests::{account, key_record};
use crate::*;

const OTHER_ACCOUNT: &str = "444455556666";

/// The HSM's part in tests: a seal is a checksum of purpose and data. Only the shape of the
/// check matters here; the real seal is an HMAC under the domain key (trent-hsm).
struct TestSeal;

impl TestSeal {
    fn seal(purpose: &[u8], data: &[u8]) -> [u8; 32] {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(purpose);
        hasher.update(data);
        let crc = hasher.finalize().to_be_bytes();
        let mut seal = [0u8; 32];
        for chunk in seal.chunks_exact_mut(4) {
            chunk.copy_from_slice(&crc);
        }
        seal
    }
}

impl SealCheck for TestSeal {
    fn verify_seal(&self, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool {
        seal == TestSeal::seal(purpose, data)
    }
}

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
        let response = self.state.apply_checked(&request, &mut touched, &TestSeal);
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

    fn entities(&self) -> Vec<Record> {
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
    sealed_blob(r, &r.entities())
}

/// A backup of `records` with a seal that verifies (as if made by the domain key's holder).
fn sealed_blob(r: &Replica, records: &[Record]) -> Vec<u8> {
    let body = backup::encode_body(&header_of(r, records.len()), records);
    let seal = TestSeal::seal(backup::SEAL_PURPOSE, &body);
    backup::finish(body, &seal)
}

fn header_of(r: &Replica, records: usize) -> BackupHeader {
    BackupHeader {
        cluster: "src".into(),
        created: r.time,
        created_at: None,
        term: 3,
        last_applied_index: Some(42),
        domain_key_fingerprint: "00".repeat(32),
        records: records as u64,
        keys: 2,
        aliases: 1,
        users: 1,
        access_keys: 3,
        user_policies: true,
    }
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
    assert!(parsed.records.iter().any(|r| r.owner == OTHER_ACCOUNT));
    assert!(parsed.records.iter().all(|r| r.owner.len() == 12));
    assert_eq!(parsed.format, backup::FORMAT);
    assert!(TestSeal.verify_seal(backup::SEAL_PURPOSE, parsed.sealed, parsed.seal));
    assert_eq!(parsed.sealed.len(), blob.len() - 36);
    assert_eq!(
        backup::peek_header(&blob[..400]).unwrap(),
        Some(parsed.header.clone())
    );
    assert_eq!(backup::peek_header(&blob[..20]).unwrap(), None);
    let restored = State::from_backup_records(parsed.records, true).unwrap();
    assert_eq!(restored.key_count(&account()), 2);
    assert_eq!(restored.clock(), 0, "bookkeeping records stay behind");
    let mut with_clock = src.entities();
    with_clock.push(Record {
        owner: account().to_string(),
        key: RecordKey::Clock.encode(),
        value: bincode::serialize(&5u64).unwrap(),
    });
    assert!(State::from_backup_records(with_clock, true).is_err());
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
    future[9] = 3;
    assert_eq!(backup::parse(&future).err(), Some(BackupError::Format(3)));
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
fn users_inline_policies_are_restored_with_their_users() {
    let mut src = source();
    let document = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#;
    src.run(Command::PutUserPolicy {
        account: account(),
        user: "alice".parse().unwrap(),
        name: "enc".into(),
        document: document.into(),
    })
    .unwrap();
    let blob = blob_of(&src);
    let mut dst = Replica::new();
    dst.run(Command::BeginUserPolicies).unwrap();
    let restore_id = Uuid::from_u128(78);
    stage(&mut dst, restore_id, &blob, 2).unwrap();
    dst.run(commit(restore_id)).unwrap();
    let alice = "alice".parse().unwrap();
    assert_eq!(
        dst.state.user_policy(&account(), &alice, "enc"),
        Some(document)
    );
    let alice = Principal {
        account: account(),
        user: Some(alice),
    };
    assert_eq!(dst.state.identity_policies(&alice).count(), 1);
    let (mut got, mut expected) = (dst.entities(), src.entities());
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "the same entities as the source");
}

#[test]
fn users_of_a_backup_from_before_user_policies_keep_their_access() {
    // An older build's backup: no UserPolicies in its header, no policies in its records.
    let src = source();
    let records = src.entities();
    let header = BackupHeader {
        user_policies: false,
        ..header_of(&src, records.len())
    };
    let body = backup::encode_body(&header, &records);
    assert!(!String::from_utf8_lossy(&body).contains("UserPolicies"));
    let blob = backup::finish(body.clone(), &TestSeal::seal(backup::SEAL_PURPOSE, &body));
    let alice: UserName = "alice".parse().unwrap();
    // Restored into a cluster in the user policies era: alice gets the migration policy.
    let mut dst = Replica::new();
    dst.run(Command::BeginUserPolicies).unwrap();
    stage(&mut dst, Uuid::from_u128(79), &blob, 1).unwrap();
    dst.run(commit(Uuid::from_u128(79))).unwrap();
    let names: Vec<_> = dst.state.user_policy_names(&account(), &alice).collect();
    assert_eq!(names, [MIGRATED_POLICY_NAME]);
    // Into one before it: nothing yet; the era's migration will give it.
    let mut old = Replica::new();
    stage(&mut old, Uuid::from_u128(80), &blob, 1).unwrap();
    old.run(commit(Uuid::from_u128(80))).unwrap();
    assert!(!old.state.has_user_policies(&account(), &alice));
    old.run(Command::BeginUserPolicies).unwrap();
    assert!(old.state.has_user_policies(&account(), &alice));
    // A current backup (UserPolicies: true) is restored as it is.
    let mut new = Replica::new();
    new.run(Command::BeginUserPolicies).unwrap();
    stage(&mut new, Uuid::from_u128(81), &blob_of(&src), 1).unwrap();
    new.run(commit(Uuid::from_u128(81))).unwrap();
    assert!(!new.state.has_user_policies(&account(), &alice));
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

/// Stages `blob` whole and commits it, as a proposal that skipped the service's check would.
fn commit_directly(dst: &mut Replica, blob: &[u8]) -> Error {
    stage(dst, Uuid::from_u128(8), blob, 2).unwrap();
    let before = dst.state.clone();
    let err = dst.run(commit(Uuid::from_u128(8))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation, "{}", err.message);
    assert_eq!(dst.state.keys, before.keys);
    assert_eq!(dst.state.aliases, before.aliases);
    assert_eq!(dst.state.users, before.users);
    assert_eq!(dst.state.access_keys, before.access_keys);
    assert_eq!(dst.state.restore, before.restore);
    assert_eq!(dst.state.restore_parts, before.restore_parts);
    err
}

#[test]
fn a_commit_whose_seal_does_not_verify_is_refused_in_apply_and_changes_nothing() {
    let src = source();
    let body = backup::encode_body(&header_of(&src, src.entities().len()), &src.entities());
    let mut forged = backup::finish(body.clone(), &[5; 32]);
    let mut dst = Replica::new();
    let err = commit_directly(&mut dst, &forged);
    assert!(err.message.contains("seal"), "{}", err.message);

    // A seal made for the format-1 purpose does not pass for format 2 either.
    forged = backup::finish(body.clone(), &TestSeal::seal(backup::SEAL_PURPOSE_1, &body));
    let mut dst = Replica::new();
    assert!(commit_directly(&mut dst, &forged).message.contains("seal"));

    // Without an HSM (plain `apply`) no seal verifies, so no restore ever commits.
    let mut state = Replica::new().state;
    let request = |n: u128, command| Request {
        id: RequestId(Uuid::from_u128(1000 + n)),
        time: 5_000,
        command,
    };
    let blob = blob_of(&src);
    state
        .apply(
            &request(0, part(Uuid::from_u128(9), 0, 1, &blob)),
            &mut vec![],
        )
        .unwrap();
    let err = state
        .apply(&request(1, commit(Uuid::from_u128(9))), &mut vec![])
        .unwrap_err();
    assert!(err.message.contains("seal"), "{}", err.message);
    assert_eq!(state.key_count(&account()), 0);
}

#[test]
fn a_record_filed_under_another_account_is_refused_even_with_a_good_seal() {
    let src = source();
    // Alice's user record filed under the other account: the label is inside the seal, and
    // the seal verifies, but the label is not the record's own account.
    let mut moved = src.entities();
    let alice = moved
        .iter_mut()
        .find(|r| r.key == RecordKey::User(account(), "alice".parse().unwrap()).encode())
        .unwrap();
    alice.owner = OTHER_ACCOUNT.into();
    let mut dst = Replica::new();
    let err = commit_directly(&mut dst, &sealed_blob(&src, &moved));
    assert!(
        err.message.contains("belongs to account 111122223333"),
        "{}",
        err.message
    );

    // The record itself re-keyed to the other account (label to match): its key and value
    // disagree, refused.
    let mut rekeyed = src.entities();
    let alias = rekeyed
        .iter_mut()
        .find(|r| r.key == RecordKey::Alias(account(), "alias/app".parse().unwrap()).encode())
        .unwrap();
    alias.key =
        RecordKey::Alias(OTHER_ACCOUNT.parse().unwrap(), "alias/app".parse().unwrap()).encode();
    alias.owner = OTHER_ACCOUNT.into();
    let mut dst = Replica::new();
    let err = commit_directly(&mut dst, &sealed_blob(&src, &rekeyed));
    assert!(
        err.message.contains("different accounts"),
        "{}",
        err.message
    );
}

#[test]
fn a_format_1_backup_still_restores() {
    let src = source();
    let records = src.entities();
    let header = serde_json::to_vec(&header_of(&src, records.len())).unwrap();
    let mut body = b"TRENTBAK".to_vec();
    body.extend_from_slice(&backup::FORMAT_1.to_be_bytes());
    body.extend_from_slice(&(header.len() as u32).to_be_bytes());
    body.extend_from_slice(&header);
    for record in &records {
        for field in [&record.key, &record.value] {
            body.extend_from_slice(&(field.len() as u32).to_be_bytes());
            body.extend_from_slice(field);
        }
    }
    let seal = TestSeal::seal(backup::SEAL_PURPOSE_1, &body);
    let blob = backup::finish(body, &seal);
    let parsed = backup::parse(&blob).unwrap();
    assert_eq!(parsed.format, backup::FORMAT_1);
    assert!(parsed.records.iter().all(|r| r.owner.is_empty()));
    let mut dst = Replica::new();
    stage(&mut dst, Uuid::from_u128(6), &blob, 2).unwrap();
    dst.run(commit(Uuid::from_u128(6))).unwrap();
    assert_eq!(dst.state.key_count(&account()), 2);
}

#[test]
fn a_staging_replaced_after_the_services_check_is_refused_at_commit() {
    // The race apply's own check closes: the leader checks the complete genuine staging and
    // proposes the commit; before it applies, a part 0 of the same restore id with another
    // part count restages a forged blob (its alias moved to another account, seal kept).
    let src = source();
    let genuine = blob_of(&src);
    let mut moved = src.entities();
    for record in &mut moved {
        if record.key == RecordKey::Alias(account(), "alias/app".parse().unwrap()).encode() {
            let mut alias: AliasRecord = bincode::deserialize(&record.value).unwrap();
            alias.account = OTHER_ACCOUNT.parse().unwrap();
            record.key = RecordKey::Alias(alias.account.clone(), alias.name.clone()).encode();
            record.value = bincode::serialize(&alias).unwrap();
            record.owner = OTHER_ACCOUNT.into();
        }
    }
    let body = backup::encode_body(&header_of(&src, moved.len()), &moved);
    let seal = backup::parse(&genuine).unwrap().seal.to_vec();
    let forged = backup::finish(body, &seal.try_into().unwrap());

    let mut dst = Replica::new();
    let id = Uuid::from_u128(12);
    stage(&mut dst, id, &genuine, 2).unwrap();
    assert_eq!(dst.state.staged_backup(id), Some(genuine));
    dst.run(part(id, 0, 1, &forged)).unwrap();
    let err = dst.run(commit(id)).unwrap_err();
    assert!(err.message.contains("seal"), "{}", err.message);
    assert!(dst
        .state
        .alias(
            &OTHER_ACCOUNT.parse().unwrap(),
            &"alias/app".parse().unwrap()
        )
        .is_none());
    assert_eq!(dst.state.key_count(&account()), 0);
}
