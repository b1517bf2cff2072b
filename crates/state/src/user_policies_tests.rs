//! Inline user policies through apply(), records, backups and the migration.

use std::collections::BTreeMap;

use trent_model::{AccountId, ErrorKind, Millis, Principal, UserName};
use trent_policy::{Decision, Request as PolicyRequest};
use uuid::Uuid;

use super::*;
use crate::backup::Record;
use crate::tests::account;
use crate::{Command, Request, RequestId};

const ENCRYPT_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
const DENY_ENCRYPT: &str = r#"{
  "Version": "2012-10-17",
  "Statement": {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}
}"#;

/// A state persisted through `touched`, checked against its records after every command.
struct Replica {
    state: State,
    store: BTreeMap<Vec<u8>, Vec<u8>>,
    time: Millis,
    next_id: u128,
}

impl Replica {
    fn new() -> Replica {
        Replica {
            state: State::default(),
            store: BTreeMap::new(),
            time: 1_000,
            next_id: 0,
        }
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
        assert_eq!(rebuilt, self.state, "the persisted records differ");
        let all = State::restore(self.state.records()).unwrap();
        assert_eq!(all, self.state, "records() differs from the state");
        response
    }

    fn user(&mut self, name: &str) {
        self.run(Command::CreateUser {
            account: account(),
            name: name.parse().unwrap(),
            max_users_per_account: None,
        })
        .unwrap();
    }

    fn put(&mut self, user: &str, name: &str, document: &str) -> Response {
        self.run(Command::PutUserPolicy {
            account: account(),
            user: user.parse().unwrap(),
            name: name.into(),
            document: document.into(),
        })
    }

    fn delete(&mut self, user: &str, name: &str) -> Response {
        self.run(Command::DeleteUserPolicy {
            account: account(),
            user: user.parse().unwrap(),
            name: name.into(),
        })
    }

    fn names(&self, user: &str) -> Vec<String> {
        self.state
            .user_policy_names(&account(), &user.parse().unwrap())
            .map(str::to_owned)
            .collect()
    }

    /// The identity policies' combined decision on `action` by `user`.
    fn decide(&self, user: &str, action: &str) -> Decision {
        let principal = principal(user);
        let key = "arn:aws:kms:eu-west-1:111122223333:key/k".parse().unwrap();
        let request = PolicyRequest::new(action, &principal, &key);
        let mut decision = Decision::NotApplicable;
        for policy in self.state.identity_policies(&principal) {
            match policy.evaluate(&request) {
                Decision::Deny => return Decision::Deny,
                Decision::Allow => decision = Decision::Allow,
                Decision::NotApplicable => {}
            }
        }
        decision
    }
}

fn principal(user: &str) -> Principal {
    Principal {
        account: account(),
        user: Some(user.parse().unwrap()),
    }
}

/// A replica already in the user policies era (as a new cluster is, once its leader ran).
fn new_era() -> Replica {
    let mut r = Replica::new();
    r.run(Command::BeginUserPolicies).unwrap();
    r
}

#[test]
fn put_get_list_replace_and_delete() {
    let mut r = new_era();
    r.user("alice");
    assert_eq!(r.names("alice"), Vec::<String>::new());
    r.put("alice", "b-encrypt", ENCRYPT_ONLY).unwrap();
    r.put("alice", "a-deny", DENY_ENCRYPT).unwrap();
    assert_eq!(r.names("alice"), ["a-deny", "b-encrypt"]);
    let alice: UserName = "alice".parse().unwrap();
    // Exactly as put, white space and all.
    assert_eq!(
        r.state.user_policy(&account(), &alice, "a-deny"),
        Some(DENY_ENCRYPT)
    );
    assert_eq!(r.decide("alice", "kms:Encrypt"), Decision::Deny);
    // Replacing a policy of the same name.
    r.put("alice", "a-deny", ENCRYPT_ONLY).unwrap();
    assert_eq!(r.decide("alice", "kms:Encrypt"), Decision::Allow);
    assert_eq!(r.decide("alice", "kms:Decrypt"), Decision::NotApplicable);
    r.delete("alice", "a-deny").unwrap();
    r.delete("alice", "b-encrypt").unwrap();
    assert!(!r.state.has_user_policies(&account(), &alice));
    assert_eq!(r.decide("alice", "kms:Encrypt"), Decision::NotApplicable);
    let err = r.delete("alice", "b-encrypt").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoSuchEntity);
    assert_eq!(
        err.message,
        "The user policy with name b-encrypt cannot be found."
    );
}

#[test]
fn refusals_change_nothing() {
    let mut r = new_era();
    r.user("alice");
    r.put("alice", "p", ENCRYPT_ONLY).unwrap();
    let before = r.state.clone();
    let err = r.put("bob", "p", ENCRYPT_ONLY).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoSuchEntity);
    assert_eq!(err.message, "The user with name bob cannot be found.");
    let err = r.delete("bob", "p").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoSuchEntity);
    let err = r.put("alice", "p", r#"{"Statement":[]}"#).unwrap_err();
    assert_eq!(err.kind, ErrorKind::MalformedPolicyDocument);
    // IAM's aggregate quota: 2048 characters without white space, over all of a user's
    // policies; replacing a policy counts the new text instead of the old.
    let padded = |n: usize| {
        let sid = "S".repeat(n);
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}]}}"#
        )
    };
    let room = MAX_INLINE_BYTES_PER_USER - policy_size(ENCRYPT_ONLY);
    let base = policy_size(&padded(0));
    let err = r.put("alice", "q", &padded(room - base + 1)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::LimitExceeded);
    assert_eq!(
        err.message,
        "Maximum policy size of 2048 bytes exceeded for user alice"
    );
    let applied_ids = |s: &State| s.applied.len();
    let mut after = r.state.clone();
    // Only the dedup records of the refused requests differ.
    after.applied = before.applied.clone();
    after.applied_by_time = before.applied_by_time.clone();
    after.clock = before.clock;
    assert_eq!(after, before);
    assert!(applied_ids(&r.state) > applied_ids(&before));
    // White space does not count, and exactly at the limit fits.
    let spaced = padded(room - base).replace("\",\"", "\" ,\n  \"");
    assert!(spaced.len() > policy_size(&spaced));
    r.put("alice", "q", &spaced).unwrap();
    // Replacing the first one with a larger text is over; with itself, fine.
    let err = r.put("alice", "p", &padded(10)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::LimitExceeded);
    r.put("alice", "p", ENCRYPT_ONLY).unwrap();
}

#[test]
fn a_user_with_policies_cannot_be_deleted() {
    let mut r = new_era();
    r.user("alice");
    r.put("alice", "p", ENCRYPT_ONLY).unwrap();
    let err = r
        .run(Command::DeleteUser {
            account: account(),
            name: "alice".parse().unwrap(),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeleteConflict);
    assert_eq!(
        err.message,
        "Cannot delete entity, must delete policies first."
    );
    assert!(r
        .state
        .user(&account(), &"alice".parse().unwrap())
        .is_some());
    r.delete("alice", "p").unwrap();
    r.run(Command::DeleteUser {
        account: account(),
        name: "alice".parse().unwrap(),
    })
    .unwrap();
    // A user of the same name created again starts with no policies.
    r.user("alice");
    assert_eq!(r.names("alice"), Vec::<String>::new());
}

#[test]
fn roots_have_no_identity_policies() {
    let mut r = Replica::new();
    r.user("alice");
    let root = Principal::root(account());
    assert_eq!(r.state.identity_policies(&root).count(), 0);
    r.run(Command::BeginUserPolicies).unwrap();
    assert_eq!(r.state.identity_policies(&root).count(), 0);
}

#[test]
fn the_migration_gives_existing_users_full_key_access_once() {
    // A state from before user policies: two users, one of them with a policy already (put
    // by a newer leader before the migration applied).
    let mut r = Replica::new();
    r.user("alice");
    r.user("bob");
    r.put("bob", "mine", ENCRYPT_ONLY).unwrap();
    assert!(!r.state.user_policies_era());
    // Before the migration applies, alice already acts as it will make her.
    assert_eq!(r.decide("alice", "kms:Decrypt"), Decision::Allow);
    assert_eq!(r.decide("bob", "kms:Decrypt"), Decision::NotApplicable);
    r.run(Command::BeginUserPolicies).unwrap();
    assert!(r.state.user_policies_era());
    assert_eq!(r.names("alice"), [MIGRATED_POLICY_NAME]);
    assert_eq!(r.names("bob"), ["mine"]);
    assert_eq!(
        r.state
            .user_policy(&account(), &"alice".parse().unwrap(), MIGRATED_POLICY_NAME),
        Some(MIGRATED_POLICY)
    );
    assert_eq!(r.decide("alice", "kms:Decrypt"), Decision::Allow);
    assert_eq!(r.decide("alice", "iam:CreateUser"), Decision::NotApplicable);
    // Users created afterwards get nothing, and a second migration changes nothing.
    r.user("carol");
    assert_eq!(r.decide("carol", "kms:Decrypt"), Decision::NotApplicable);
    let before = r.state.user_policies.clone();
    r.run(Command::BeginUserPolicies).unwrap();
    assert_eq!(r.state.user_policies, before);
    assert_eq!(r.state.names_count(), 2);
    // The migrated policy can be deleted like any other.
    r.delete("alice", MIGRATED_POLICY_NAME).unwrap();
    assert_eq!(r.decide("alice", "kms:Decrypt"), Decision::NotApplicable);
}

#[test]
fn a_new_cluster_just_records_the_marker() {
    let mut r = Replica::new();
    r.run(Command::BeginUserPolicies).unwrap();
    assert!(r.state.user_policies_era());
    assert_eq!(r.state.names_count(), 0);
    r.user("alice");
    assert_eq!(r.decide("alice", "kms:Decrypt"), Decision::NotApplicable);
    assert!(r.state.backup_records().iter().all(|rec| {
        let key = RecordKey::decode(&rec.key).unwrap();
        key != RecordKey::UserPoliciesEra
    }));
}

#[test]
fn record_keys_round_trip() {
    let key = RecordKey::UserPolicy(
        account(),
        "a.l-i_c+e=,@".parse().unwrap(),
        "p.o-l_i+c=y,@".into(),
    );
    assert_eq!(RecordKey::decode(&key.encode()).unwrap(), key);
    assert!(key.is_entity());
    assert_eq!(key.encode()[0], b'q');
    let era = RecordKey::UserPoliciesEra;
    assert_eq!(RecordKey::decode(&era.encode()).unwrap(), era);
    assert!(!era.is_entity());
    for bad in [&b"q111122223333alice"[..], b"q111122223333alice/", b"q1111"] {
        assert!(RecordKey::decode(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_stored_text_that_no_longer_compiles_denies_everything() {
    let mut r = new_era();
    r.user("alice");
    r.put("alice", "p", ENCRYPT_ONLY).unwrap();
    // As if a later build's parser refused the stored text.
    let key = RecordKey::UserPolicy(account(), "alice".parse().unwrap(), "p".into());
    let mut records: Vec<_> = r.state.records().collect();
    for (k, v) in &mut records {
        if *k == key.encode() {
            let mut record: UserPolicyRecord = bincode::deserialize(v).unwrap();
            record.document = r#"{"Version":"2012-10-17","Statement":[]}"#.into();
            *v = bincode::serialize(&record).unwrap();
        }
    }
    let mut broken = Replica::new();
    broken.state = State::restore(records).unwrap();
    assert_eq!(broken.decide("alice", "kms:Encrypt"), Decision::Deny);
    assert_eq!(broken.names("alice"), ["p"]);
}

#[test]
fn backups_carry_policies_and_refuse_moved_or_orphaned_ones() {
    let mut r = new_era();
    r.user("alice");
    r.put("alice", "p", DENY_ENCRYPT).unwrap();
    let records = r.state.backup_records();
    let policy_key = RecordKey::UserPolicy(account(), "alice".parse().unwrap(), "p".into());
    let policy = records
        .iter()
        .find(|rec| rec.key == policy_key.encode())
        .expect("the policy is in the backup");
    assert_eq!(policy.owner, account().to_string());
    let restored = State::from_backup_records(records.clone(), true).unwrap();
    assert_eq!(
        restored.user_policy(&account(), &"alice".parse().unwrap(), "p"),
        Some(DENY_ENCRYPT)
    );
    assert!(
        !restored.user_policies_era(),
        "the marker is the cluster's own"
    );

    // Filed under another account.
    let other: AccountId = "444455556666".parse().unwrap();
    let moved: Vec<Record> = records
        .iter()
        .cloned()
        .map(|mut rec| {
            if rec.key == policy_key.encode() {
                rec.owner = other.to_string();
            }
            rec
        })
        .collect();
    assert!(State::from_backup_records(moved, true).is_err());
    // Its key names another user than its value.
    let renamed: Vec<Record> = records
        .iter()
        .cloned()
        .map(|mut rec| {
            if rec.key == policy_key.encode() {
                rec.key =
                    RecordKey::UserPolicy(account(), "bob".parse().unwrap(), "p".into()).encode();
            }
            rec
        })
        .collect();
    let err = State::from_backup_records(renamed, true).unwrap_err();
    assert!(err.reason.contains("user names"), "{err}");
    // Without its user.
    let user_key = RecordKey::User(account(), "alice".parse().unwrap()).encode();
    let orphaned: Vec<Record> = records
        .into_iter()
        .filter(|rec| rec.key != user_key)
        .collect();
    let err = State::from_backup_records(orphaned, true).unwrap_err();
    assert!(err.reason.contains("inline policy of a user"), "{err}");
}

impl State {
    /// How many users have inline policies.
    fn names_count(&self) -> usize {
        self.user_policies.len()
    }
}
