//! The per-account limits checked in `apply`, the index behind them, and the compact form of
//! remembered responses.

use trent_model::*;
use uuid::Uuid;

use crate::tests::{account, key_record};
use crate::*;

struct Log {
    state: State,
    time: Millis,
    next: u128,
}

impl Log {
    fn new() -> Log {
        Log {
            state: State::default(),
            time: 1_000,
            next: 0,
        }
    }

    fn run(&mut self, command: Command) -> Response {
        self.next += 1;
        self.time += 1;
        let request = Request {
            id: RequestId(Uuid::from_u128(self.next)),
            time: self.time,
            command,
        };
        let response = self.state.apply(&request, &mut vec![]);
        // The index is derived: records rebuild exactly the same state, index included.
        assert_eq!(State::restore(self.state.records()).unwrap(), self.state);
        response
    }
}

fn other_account() -> AccountId {
    "444455556666".parse().unwrap()
}

fn key_of(n: u128, account: AccountId) -> KeyRecord {
    let mut record = key_record(n);
    record.metadata.account = account;
    record
}

fn tag(n: usize) -> Tag {
    Tag {
        key: format!("k{n}"),
        value: "v".into(),
    }
}

fn tag_key(tags: std::ops::Range<usize>) -> Command {
    Command::TagKey {
        key_id: KeyId(Uuid::from_u128(1)),
        tags: tags.map(tag).collect(),
        max_tags_per_key: Some(50),
    }
}

#[test]
fn two_tag_commands_that_each_fit_cannot_pass_the_limit_together() {
    let mut log = Log::new();
    log.run(Command::CreateKey {
        record: key_record(1),
        max_keys_per_account: None,
    })
    .unwrap();
    // Both were checked by the service against a key with no tags: 30 + 30 fit each alone.
    log.run(tag_key(0..30)).unwrap();
    let err = log.run(tag_key(30..60)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Tag);
    let key = log.state.key(&KeyId(Uuid::from_u128(1))).unwrap();
    assert_eq!(key.tags.len(), 30, "a refused TagKey changes nothing");
    // Replacing values of present tags adds none, so it fits at the limit.
    log.run(tag_key(30..50)).unwrap();
    log.run(tag_key(0..50)).unwrap();
    assert_eq!(log.run(tag_key(50..51)).unwrap_err().kind, ErrorKind::Tag);
}

#[test]
fn keys_are_counted_and_listed_per_account() {
    let mut log = Log::new();
    for n in 1..=3 {
        log.run(Command::CreateKey {
            record: key_of(n, account()),
            max_keys_per_account: Some(3),
        })
        .unwrap();
    }
    let err = log
        .run(Command::CreateKey {
            record: key_of(4, account()),
            max_keys_per_account: Some(3),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LimitExceeded);
    // Another account has its own count.
    log.run(Command::CreateKey {
        record: key_of(5, other_account()),
        max_keys_per_account: Some(3),
    })
    .unwrap();
    assert_eq!(log.state.key_count(&account()), 3);
    assert_eq!(log.state.key_count(&other_account()), 1);
    let listed: Vec<_> = log
        .state
        .keys(&account(), Some(KeyId(Uuid::from_u128(1))), 10)
        .map(|k| k.metadata.key_id.0.as_u128())
        .collect();
    assert_eq!(listed, vec![2, 3]);
    let other = other_account();
    let listed: Vec<_> = log.state.keys(&other, None, 10).collect();
    assert_eq!(listed.len(), 1);
}

#[test]
fn users_and_access_keys_per_owner_are_limited() {
    let mut log = Log::new();
    let user = |name: &str| Command::CreateUser {
        account: account(),
        name: name.parse().unwrap(),
        max_users_per_account: Some(1),
    };
    log.run(user("alice")).unwrap();
    assert_eq!(
        log.run(user("bob")).unwrap_err().kind,
        ErrorKind::LimitExceeded
    );
    let access_key = |id: &str, user: Option<&str>| Command::CreateAccessKey {
        record: AccessKeyRecord {
            access_key_id: id.into(),
            owner: Principal {
                account: account(),
                user: user.map(|u| u.parse().unwrap()),
            },
            wrapped_secret: vec![1; 40],
            created: 1,
        },
        max_access_keys_per_user: Some(2),
    };
    log.run(access_key("TKIAAAAAAAAAAAAAAAA1", Some("alice")))
        .unwrap();
    log.run(access_key("TKIAAAAAAAAAAAAAAAA2", Some("alice")))
        .unwrap();
    let err = log
        .run(access_key("TKIAAAAAAAAAAAAAAAA3", Some("alice")))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::LimitExceeded);
    // The root is another owner.
    log.run(access_key("TKIAAAAAAAAAAAAAAAA4", None)).unwrap();
    log.run(Command::DeleteAccessKey {
        access_key_id: "TKIAAAAAAAAAAAAAAAA1".into(),
    })
    .unwrap();
    log.run(access_key("TKIAAAAAAAAAAAAAAAA3", Some("alice")))
        .unwrap();
}

#[test]
fn a_remembered_create_key_is_small_whatever_its_description() {
    let mut log = Log::new();
    let mut record = key_record(1);
    record.metadata.description = "d".repeat(8192);
    let request = Request {
        id: RequestId(Uuid::from_u128(99)),
        time: 5_000,
        command: Command::CreateKey {
            record,
            max_keys_per_account: None,
        },
    };
    let first = log.state.apply(&request, &mut vec![]).unwrap();
    let stored = log
        .state
        .record(&RecordKey::Request(request.id))
        .expect("remembered");
    assert!(
        stored.len() < 512,
        "remembered response is {} bytes",
        stored.len()
    );
    // A retry still answers the whole metadata, description included.
    let again = log.state.apply(&request, &mut vec![]).unwrap();
    assert_eq!(again, first);
    assert_eq!(log.state.applied_response(request.id), Some(Ok(first)));
    assert_eq!(log.state.key_count(&account()), 1);
}
