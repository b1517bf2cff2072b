//! Key policies and grants in the state: apply, records, deletion, backups.

use trent_model::*;

use crate::tests::{account, id, key_record, Harness};
use crate::*;

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

fn grant(key: u128, n: u8, grantee: &str) -> GrantRecord {
    GrantRecord {
        key_id: id(key),
        account: account(),
        grant_id: format!("{n:02x}").repeat(32),
        name: None,
        grantee: grantee.into(),
        retiring: Some("arn:aws:iam::111122223333:user/ret".into()),
        operations: vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
        constraints: None,
        issuing_account: "arn:aws:iam::111122223333:root".into(),
        created: 5,
    }
}

#[test]
fn a_key_policy_is_kept_as_written_and_compiled() {
    let mut h = Harness::with_key(1);
    assert!(h.state.key_policy(&id(1)).is_none(), "default policy");
    h.run(Command::PutKeyPolicy {
        key_id: id(1),
        policy: POLICY.into(),
    })
    .unwrap();
    let stored = h.state.key_policy(&id(1)).unwrap();
    assert_eq!(stored.text, POLICY);
    assert_eq!(
        stored.compiled,
        trent_policy::Policy::parse(POLICY).unwrap()
    );
    // A policy that does not compile changes nothing.
    let kind = h.kind(Command::PutKeyPolicy {
        key_id: id(1),
        policy: "{".into(),
    });
    assert_eq!(kind, ErrorKind::MalformedPolicyDocument);
    assert_eq!(h.state.key_policy(&id(1)).unwrap().text, POLICY);
    assert_eq!(
        h.kind(Command::PutKeyPolicy {
            key_id: id(9),
            policy: POLICY.into(),
        }),
        ErrorKind::NotFound
    );
}

#[test]
fn a_key_created_with_a_policy_has_it_from_its_first_entry() {
    let mut h = Harness::new();
    h.run(Command::CreateKeyWithPolicy {
        record: key_record(2),
        max_keys_per_account: None,
        policy: POLICY.into(),
    })
    .unwrap();
    assert_eq!(h.state.key_policy(&id(2)).unwrap().text, POLICY);
    // A bad policy creates no key.
    let kind = h.kind(Command::CreateKeyWithPolicy {
        record: key_record(3),
        max_keys_per_account: None,
        policy: "[]".into(),
    });
    assert_eq!(kind, ErrorKind::MalformedPolicyDocument);
    assert!(h.state.key(&id(3)).is_none());
}

#[test]
fn grants_are_found_by_grantee_and_removed_for_good() {
    let mut h = Harness::with_key(1);
    let alice = "arn:aws:iam::111122223333:user/alice";
    let out = h
        .run(Command::CreateGrant {
            grant: grant(1, 1, alice),
            max_grants_per_key: None,
        })
        .unwrap();
    assert_eq!(out, Outcome::Grant(grant_token(id(1), &"01".repeat(32))));
    h.run(Command::CreateGrant {
        grant: grant(1, 2, "arn:aws:iam::111122223333:user/bob"),
        max_grants_per_key: None,
    })
    .unwrap();
    let grantees = [alice];
    let mine: Vec<_> = h.state.grants_for(&id(1), &grantees).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].grant_id, "01".repeat(32));
    assert_eq!(h.state.grants(&id(1), None).count(), 2);
    let after = "01".repeat(32);
    assert_eq!(h.state.grants(&id(1), Some(&after)).count(), 1);
    let retirer = ["arn:aws:iam::111122223333:user/ret"];
    assert_eq!(h.state.grants_retirable_by(&retirer).count(), 2);

    h.run(Command::RemoveGrant {
        key_id: id(1),
        grant_id: "01".repeat(32),
    })
    .unwrap();
    assert_eq!(h.state.grants_for(&id(1), &grantees).count(), 0);
    assert_eq!(
        h.kind(Command::RemoveGrant {
            key_id: id(1),
            grant_id: "01".repeat(32),
        }),
        ErrorKind::NotFound
    );
}

#[test]
fn a_named_grant_asked_twice_is_one_grant_and_the_limit_holds() {
    let mut h = Harness::with_key(1);
    let mut first = grant(1, 1, "111122223333");
    first.name = Some("n".into());
    let mut again = grant(1, 2, "111122223333");
    again.name = Some("n".into());
    h.run(Command::CreateGrant {
        grant: first,
        max_grants_per_key: Some(2),
    })
    .unwrap();
    let out = h
        .run(Command::CreateGrant {
            grant: again,
            max_grants_per_key: Some(2),
        })
        .unwrap();
    assert_eq!(
        out,
        Outcome::Grant(grant_token(id(1), &"01".repeat(32))),
        "the first grant"
    );
    h.run(Command::CreateGrant {
        grant: grant(1, 3, "111122223333"),
        max_grants_per_key: Some(2),
    })
    .unwrap();
    let kind = h.kind(Command::CreateGrant {
        grant: grant(1, 4, "111122223333"),
        max_grants_per_key: Some(2),
    });
    assert_eq!(kind, ErrorKind::LimitExceeded);
}

#[test]
fn deleting_a_key_takes_its_policy_and_grants_along() {
    let mut h = Harness::with_key(1);
    h.run(Command::PutKeyPolicy {
        key_id: id(1),
        policy: POLICY.into(),
    })
    .unwrap();
    h.run(Command::CreateGrant {
        grant: grant(1, 1, "111122223333"),
        max_grants_per_key: None,
    })
    .unwrap();
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: 0,
        pending_window_days: 7,
    })
    .unwrap();
    // A key pending deletion takes a new policy (as AWS), but no new grant.
    h.run(Command::PutKeyPolicy {
        key_id: id(1),
        policy: POLICY.into(),
    })
    .unwrap();
    let kind = h.kind(Command::CreateGrant {
        grant: grant(1, 2, "111122223333"),
        max_grants_per_key: None,
    });
    assert_eq!(kind, ErrorKind::InvalidState);
    h.run(Command::DeleteKey { key_id: id(1) }).unwrap();
    assert!(h.state.key_policy(&id(1)).is_none());
    assert_eq!(h.state.grants(&id(1), None).count(), 0);
    assert!(h.state.records().all(|(k, _)| k[0] != b'y' && k[0] != b'g'));
}

#[test]
fn backups_carry_policies_and_grants() {
    let mut h = Harness::with_key(1);
    h.run(Command::PutKeyPolicy {
        key_id: id(1),
        policy: POLICY.into(),
    })
    .unwrap();
    h.run(Command::CreateGrant {
        grant: grant(1, 1, "111122223333"),
        max_grants_per_key: None,
    })
    .unwrap();
    let records = h.state.backup_records();
    assert!(records.iter().any(|r| r.key[0] == b'y'));
    assert!(records.iter().any(|r| r.key[0] == b'g'));
    let restored = State::from_backup_records(records, true).unwrap();
    assert_eq!(restored.key_policy(&id(1)).unwrap().text, POLICY);
    assert_eq!(restored.grants(&id(1), None).count(), 1);
}
