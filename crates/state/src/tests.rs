use trent_model::*;
use uuid::Uuid;

use crate::*;

const ACCOUNT: &str = "111122223333";

pub(crate) fn account() -> AccountId {
    ACCOUNT.parse().unwrap()
}

pub(crate) fn key_record(n: u128) -> KeyRecord {
    KeyRecord {
        metadata: KeyMetadata {
            key_id: KeyId(Uuid::from_u128(n)),
            account: account(),
            region: "eu-west-1".into(),
            creation_date: 1,
            description: String::new(),
            key_usage: KeyUsage::EncryptDecrypt,
            key_spec: KeySpec::SymmetricDefault,
            origin: Origin::AwsKms,
            key_manager: KeyManager::Customer,
            key_state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
        },
        tags: vec![],
        material: vec![WrappedMaterial {
            version: 1,
            created: 1,
            blob: vec![7; 60],
        }],
        last_usage: None,
    }
}

/// Applies commands with fresh request ids at increasing times, checking that the persisted
/// records always rebuild the same state.
pub(crate) struct Harness {
    pub(crate) state: State,
    time: Millis,
    next_id: u128,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Harness {
            state: State::default(),
            time: 1_000,
            next_id: 1,
        }
    }

    /// A harness whose state holds key `n`.
    pub(crate) fn with_key(n: u128) -> Self {
        let mut h = Harness::new();
        h.run(Command::CreateKey {
            record: key_record(n),
            max_keys_per_account: None,
        })
        .unwrap();
        h
    }

    /// Moves the request stamps `ms` ahead.
    pub(crate) fn advance(&mut self, ms: Millis) {
        self.time += ms;
    }

    pub(crate) fn now(&self) -> Millis {
        self.time
    }

    pub(crate) fn run(&mut self, command: Command) -> Response {
        self.next_id += 1;
        self.time += 1;
        let request = Request {
            id: RequestId(Uuid::from_u128(self.next_id)),
            time: self.time,
            command,
        };
        self.run_request(&request)
    }

    fn run_request(&mut self, request: &Request) -> Response {
        let mut touched = vec![];
        let response = self.state.apply(request, &mut touched);
        let restored = State::restore(self.state.records()).unwrap();
        assert_eq!(restored, self.state, "records do not rebuild the state");
        response
    }

    pub(crate) fn kind(&mut self, command: Command) -> ErrorKind {
        self.run(command).unwrap_err().kind
    }
}

pub(crate) fn id(n: u128) -> KeyId {
    KeyId(Uuid::from_u128(n))
}

fn alias(name: &str) -> AliasName {
    name.parse().unwrap()
}

#[test]
fn key_life_cycle_follows_aws_states() {
    let mut h = Harness::with_key(1);
    assert_eq!(
        h.kind(Command::CreateKey {
            record: key_record(1),
            max_keys_per_account: None,
        }),
        ErrorKind::AlreadyExists
    );
    h.run(Command::DisableKey { key_id: id(1) }).unwrap();
    assert_eq!(
        h.state.key(&id(1)).unwrap().metadata.key_state,
        KeyState::Disabled
    );
    h.run(Command::EnableKey { key_id: id(1) }).unwrap();
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: 5_000,
        pending_window_days: 7,
    })
    .unwrap();
    for refused in [
        Command::EnableKey { key_id: id(1) },
        Command::DisableKey { key_id: id(1) },
        Command::ScheduleKeyDeletion {
            key_id: id(1),
            deletion_date: 5_000,
            pending_window_days: 7,
        },
        Command::UpdateKeyDescription {
            key_id: id(1),
            description: "x".into(),
        },
        Command::DeleteKey { key_id: id(1) },
    ] {
        assert_eq!(h.kind(refused), ErrorKind::InvalidState);
    }
    h.run(Command::CancelKeyDeletion { key_id: id(1) }).unwrap();
    let meta = &h.state.key(&id(1)).unwrap().metadata;
    assert_eq!(
        (meta.key_state, meta.deletion_date),
        (KeyState::Disabled, None)
    );
    assert_eq!(
        h.kind(Command::CancelKeyDeletion { key_id: id(1) }),
        ErrorKind::InvalidState
    );
    assert_eq!(
        h.kind(Command::EnableKey { key_id: id(9) }),
        ErrorKind::NotFound
    );
}

#[test]
fn deletion_happens_only_when_due_and_takes_aliases_along() {
    let mut h = Harness::with_key(1);
    h.run(Command::CreateAlias {
        account: account(),
        name: alias("alias/a"),
        target: id(1),
        max_aliases_per_key: None,
    })
    .unwrap();
    h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: 10_000,
        pending_window_days: 7,
    })
    .unwrap();
    assert_eq!(h.state.keys_due_for_deletion(9_999), vec![]);
    assert_eq!(
        h.kind(Command::DeleteKey { key_id: id(1) }),
        ErrorKind::InvalidState
    );
    assert!(h.state.key(&id(1)).is_some());

    h.time = 10_000;
    assert_eq!(h.state.keys_due_for_deletion(10_000), vec![id(1)]);
    h.run(Command::DeleteKey { key_id: id(1) }).unwrap();
    assert!(h.state.key(&id(1)).is_none());
    assert!(h.state.alias(&account(), &alias("alias/a")).is_none());
}

#[test]
fn aliases_need_a_live_target_in_the_same_account() {
    let mut h = Harness::with_key(1);
    let mut foreign = key_record(2);
    foreign.metadata.account = "444455556666".parse().unwrap();
    h.run(Command::CreateKey {
        record: foreign,
        max_keys_per_account: None,
    })
    .unwrap();

    let create = |name: &str, target| Command::CreateAlias {
        account: account(),
        name: alias(name),
        target,
        max_aliases_per_key: None,
    };
    h.run(create("alias/a", id(1))).unwrap();
    assert_eq!(h.kind(create("alias/a", id(1))), ErrorKind::AlreadyExists);
    assert_eq!(h.kind(create("alias/b", id(2))), ErrorKind::NotFound);
    assert_eq!(h.kind(create("alias/b", id(3))), ErrorKind::NotFound);

    let update = |target| Command::UpdateAlias {
        account: account(),
        name: alias("alias/a"),
        target,
    };
    assert_eq!(h.kind(update(id(2))), ErrorKind::NotFound);
    assert_eq!(
        h.state.alias(&account(), &alias("alias/a")).unwrap().target,
        id(1)
    );

    h.run(Command::DeleteAlias {
        account: account(),
        name: alias("alias/a"),
    })
    .unwrap();
    assert_eq!(
        h.kind(Command::DeleteAlias {
            account: account(),
            name: alias("alias/a")
        }),
        ErrorKind::NotFound
    );
    assert_eq!(h.state.aliases(&account(), None).count(), 0);
}

#[test]
fn tags_merge_and_untag() {
    let mut h = Harness::with_key(1);
    let tag = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    h.run(Command::TagKey {
        key_id: id(1),
        tags: vec![tag("a", "1"), tag("b", "2")],
        max_tags_per_key: None,
    })
    .unwrap();
    h.run(Command::TagKey {
        key_id: id(1),
        tags: vec![tag("a", "3")],
        max_tags_per_key: None,
    })
    .unwrap();
    assert_eq!(
        h.state.key(&id(1)).unwrap().tags,
        vec![tag("a", "3"), tag("b", "2")]
    );
    h.run(Command::UntagKey {
        key_id: id(1),
        tag_keys: vec!["a".into(), "zz".into()],
    })
    .unwrap();
    assert_eq!(h.state.key(&id(1)).unwrap().tags, vec![tag("b", "2")]);
}

/// Every write's response is kept for the dedup window, in memory, on disk and in every
/// snapshot: an update's must not grow with the key it changed.
#[test]
fn a_remembered_update_response_stays_small() {
    let mut h = Harness::with_key(1);
    let request = Request {
        id: RequestId(Uuid::from_u128(500)),
        time: 5_000,
        command: Command::UpdateKeyDescription {
            key_id: id(1),
            description: "d".repeat(8192),
        },
    };
    assert_eq!(h.run_request(&request), Ok(Outcome::Done));
    let remembered = h.state.record(&RecordKey::Request(request.id)).unwrap();
    assert!(remembered.len() < 64, "{} bytes", remembered.len());
    // A schedule still answers the metadata its answer needs.
    let scheduled = h.run(Command::ScheduleKeyDeletion {
        key_id: id(1),
        deletion_date: 9_000,
        pending_window_days: 7,
    });
    match scheduled {
        Ok(Outcome::Key(m)) => assert_eq!(m.deletion_date, Some(9_000)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_retried_request_is_applied_once() {
    let mut h = Harness::with_key(1);
    let request = Request {
        id: RequestId(Uuid::from_u128(999)),
        time: 2_000,
        command: Command::CreateAlias {
            account: account(),
            name: alias("alias/once"),
            target: id(1),
            max_aliases_per_key: None,
        },
    };
    assert_eq!(h.run_request(&request), Ok(Outcome::Done));
    // The same request again (a retry after a leader change) answers the first response,
    // not AlreadyExists.
    let retry = Request {
        time: 3_000,
        ..request.clone()
    };
    assert_eq!(h.run_request(&retry), Ok(Outcome::Done));
    // Once the window has passed the id is forgotten.
    let late = Request {
        time: 2_000 + DEDUP_WINDOW_MS + 1,
        ..request
    };
    assert_eq!(
        h.run_request(&late).unwrap_err().kind,
        ErrorKind::AlreadyExists
    );
}

#[test]
fn a_refused_request_stays_refused_when_its_late_duplicate_would_succeed() {
    let mut h = Harness::with_key(1);
    let refused = Error::alias_not_found("alias/late");
    let refusal = Request {
        id: RequestId(Uuid::from_u128(77)),
        time: 2_000,
        command: Command::Refuse {
            error: refused.clone(),
        },
    };
    assert_eq!(h.run_request(&refusal), Err(refused.clone()));
    assert_eq!(h.state.alias(&account(), &alias("alias/late")), None);
    // The alias appears; then the refused request's delayed first attempt arrives, valid now.
    h.run(Command::CreateAlias {
        account: account(),
        name: alias("alias/late"),
        target: id(1),
        max_aliases_per_key: None,
    })
    .unwrap();
    let late = Request {
        time: 3_000,
        command: Command::DeleteAlias {
            account: account(),
            name: alias("alias/late"),
        },
        ..refusal.clone()
    };
    assert_eq!(h.run_request(&late), Err(refused));
    assert!(h.state.alias(&account(), &alias("alias/late")).is_some());
    // A refusal proposed for a request id that already took effect keeps the first answer.
    let applied = Request {
        id: RequestId(Uuid::from_u128(78)),
        ..late
    };
    assert_eq!(h.run_request(&applied), Ok(Outcome::Done));
    let second = Request {
        command: Command::Refuse {
            error: Error::key_not_found("gone"),
        },
        ..applied
    };
    assert_eq!(h.run_request(&second), Ok(Outcome::Done));
}

#[test]
fn list_keys_paginates_within_the_account() {
    let mut h = Harness::new();
    for n in 1..=5 {
        h.run(Command::CreateKey {
            record: key_record(n),
            max_keys_per_account: None,
        })
        .unwrap();
    }
    let mut foreign = key_record(6);
    foreign.metadata.account = "444455556666".parse().unwrap();
    h.run(Command::CreateKey {
        record: foreign,
        max_keys_per_account: None,
    })
    .unwrap();
    let acct = account();
    let page: Vec<_> = h
        .state
        .keys(&acct, None, 2)
        .map(|k| k.metadata.key_id)
        .collect();
    assert_eq!(page, vec![id(1), id(2)]);
    let rest: Vec<_> = h
        .state
        .keys(&acct, Some(id(2)), 10)
        .map(|k| k.metadata.key_id)
        .collect();
    assert_eq!(rest, vec![id(3), id(4), id(5)]);
    assert_eq!(h.state.key_count(&acct), 5);
}

#[test]
fn garbage_records_are_refused() {
    for (k, v) in [
        (vec![], vec![]),
        (vec![b'z'], vec![1]),
        (vec![b'k', 1, 2], vec![]),
        (RecordKey::Key(id(1)).encode(), vec![1, 2, 3]),
    ] {
        assert!(State::restore([(k.clone(), v)]).is_err(), "{k:?}");
    }
}

#[test]
fn users_and_access_keys_follow_iam_rules_and_survive_restore() {
    let mut h = Harness::new();
    let alice: UserName = "alice".parse().unwrap();
    let key = |id: &str, user: Option<UserName>| AccessKeyRecord {
        access_key_id: id.into(),
        owner: Principal {
            account: account(),
            user,
        },
        wrapped_secret: vec![1; 40],
        created: 1,
    };
    assert_eq!(
        h.kind(Command::CreateAccessKey {
            record: key("TKIAAAAAAAAAAAAAAAA1", Some(alice.clone())),
            max_access_keys_per_user: None,
        }),
        ErrorKind::NotFound
    );
    h.run(Command::CreateUser {
        account: account(),
        name: alice.clone(),
        max_users_per_account: None,
    })
    .unwrap();
    h.run(Command::CreateAccessKey {
        record: key("TKIAAAAAAAAAAAAAAAA1", Some(alice.clone())),
        max_access_keys_per_user: None,
    })
    .unwrap();
    h.run(Command::CreateAccessKey {
        record: key("TKIAAAAAAAAAAAAAAAA2", None),
        max_access_keys_per_user: None,
    })
    .unwrap();
    assert_eq!(
        h.kind(Command::DeleteUser {
            account: account(),
            name: alice.clone(),
        }),
        ErrorKind::InvalidState
    );
    let restored = State::restore(h.state.records()).unwrap();
    assert_eq!(restored, h.state);
    assert_eq!(restored.access_keys(&account()).count(), 2);
    h.run(Command::DeleteAccessKey {
        access_key_id: "TKIAAAAAAAAAAAAAAAA1".into(),
    })
    .unwrap();
    h.run(Command::DeleteUser {
        account: account(),
        name: alice,
    })
    .unwrap();
    assert!(h.state.access_key("TKIAAAAAAAAAAAAAAAA1").is_none());
    assert!(h.state.access_key("TKIAAAAAAAAAAAAAAAA2").is_some());
}

#[test]
fn limits_travel_in_the_command() {
    let mut h = Harness::new();
    h.run(Command::CreateKey {
        record: key_record(1),
        max_keys_per_account: Some(1),
    })
    .unwrap();
    assert_eq!(
        h.kind(Command::CreateKey {
            record: key_record(2),
            max_keys_per_account: Some(1),
        }),
        ErrorKind::LimitExceeded
    );
    let alias = |name: &str| Command::CreateAlias {
        account: account(),
        name: name.parse().unwrap(),
        target: KeyId(Uuid::from_u128(1)),
        max_aliases_per_key: Some(1),
    };
    h.run(alias("alias/one")).unwrap();
    assert_eq!(h.kind(alias("alias/two")), ErrorKind::LimitExceeded);
}

#[test]
fn key_usage_is_recorded_newest_first_and_skips_missing_keys() {
    let mut h = Harness::with_key(1);
    let usage = |operation: &str, timestamp| KeyLastUsage {
        operation: operation.into(),
        timestamp,
        request_id: Uuid::from_u128(timestamp as u128),
    };
    let record = |h: &mut Harness, usages| h.run(Command::RecordKeyUsage { usages }).unwrap();
    record(
        &mut h,
        vec![(id(1), usage("Encrypt", 50)), (id(9), usage("Decrypt", 60))],
    );
    assert_eq!(
        h.state.key(&id(1)).unwrap().last_usage,
        Some(usage("Encrypt", 50))
    );
    assert!(h.state.key(&id(9)).is_none(), "usage never creates a key");
    // An older report (a batch from a deposed leader) never moves the usage backwards.
    record(&mut h, vec![(id(1), usage("Decrypt", 40))]);
    assert_eq!(
        h.state.key(&id(1)).unwrap().last_usage,
        Some(usage("Encrypt", 50))
    );
    record(&mut h, vec![(id(1), usage("GenerateDataKey", 70))]);
    assert_eq!(
        h.state.key(&id(1)).unwrap().last_usage,
        Some(usage("GenerateDataKey", 70))
    );
}

#[test]
fn bootstrap_happens_once_and_a_deleted_root_key_stays_deleted() {
    let mut h = Harness::new();
    let root = AccessKeyRecord {
        access_key_id: "TKIAROOTROOTROOTROOT".into(),
        owner: Principal::root(account()),
        wrapped_secret: vec![3; 40],
        created: 1,
    };
    assert!(!h.state.bootstrapped());
    h.run(Command::Bootstrap {
        root_access_key: root.clone(),
    })
    .unwrap();
    assert!(h.state.bootstrapped() && h.state.access_key(&root.access_key_id).is_some());
    h.run(Command::DeleteAccessKey {
        access_key_id: root.access_key_id.clone(),
    })
    .unwrap();
    let again = Command::Bootstrap {
        root_access_key: root.clone(),
    };
    assert_eq!(h.kind(again), ErrorKind::AlreadyExists);
    assert!(h.state.access_key(&root.access_key_id).is_none());
    assert!(State::restore(h.state.records()).unwrap().bootstrapped());

    // A data dir from before the flag: the key is there, bootstrap marks it done as it is.
    let mut old = Harness::new();
    let mut existing = root.clone();
    existing.wrapped_secret = vec![4; 40];
    old.run(Command::CreateAccessKey {
        record: existing.clone(),
        max_access_keys_per_user: None,
    })
    .unwrap();
    old.run(Command::Bootstrap {
        root_access_key: root.clone(),
    })
    .unwrap();
    assert_eq!(old.state.access_key(&root.access_key_id), Some(&existing));
}

#[test]
fn a_created_access_key_is_remembered_wrapped_for_its_retry() {
    let mut h = Harness::new();
    let record = AccessKeyRecord {
        access_key_id: "TKIAAAAAAAAAAAAAAAA1".into(),
        owner: Principal::root(account()),
        wrapped_secret: vec![9; 40],
        created: 1,
    };
    let request = Request {
        id: RequestId(Uuid::from_u128(77)),
        time: 5_000,
        command: Command::CreateAccessKey {
            record: record.clone(),
            max_access_keys_per_user: None,
        },
    };
    let first = h.run_request(&request).unwrap();
    assert_eq!(first, Outcome::AccessKey(Box::new(record.clone())));
    // A retry that generated another key is answered the first one.
    let mut retry = request.clone();
    let mut other = record.clone();
    other.access_key_id = "TKIABBBBBBBBBBBBBBBB".into();
    retry.command = Command::CreateAccessKey {
        record: other,
        max_access_keys_per_user: None,
    };
    assert_eq!(h.run_request(&retry), Ok(first));
    assert!(h.state.access_key("TKIABBBBBBBBBBBBBBBB").is_none());
}
