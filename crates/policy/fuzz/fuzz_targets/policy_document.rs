//! Policy documents on arbitrary text: never a panic; a refusal is one of the two errors a
//! policy can be refused with; an accepted policy compiles the same twice, survives the
//! replicated state's bincode form, and decides fixed requests alike before and after.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::{AccountId, Arn, ErrorKind, Principal};
use trent_policy::{authorize, lockout_check, Policy, Request};

fn requests() -> Vec<Request> {
    let owner: AccountId = "111122223333".parse().unwrap();
    let other: AccountId = "444455556666".parse().unwrap();
    let key = Arn::kms(
        "us-east-1",
        &owner,
        "key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    let alice = Principal {
        account: owner.clone(),
        user: Some("alice".parse().unwrap()),
    };
    let carol = Principal {
        account: other,
        user: Some("carol".parse().unwrap()),
    };
    [
        ("kms:Encrypt", alice),
        ("kms:PutKeyPolicy", Principal::root(owner)),
        ("kms:Decrypt", carol),
    ]
    .into_iter()
    .map(|(action, who)| {
        Request::new(action, &who, &key)
            .with_encryption_context([("tenant", "a*b"), ("Purpose", "backup")])
            .with("aws:SourceIp", "192.0.2.7")
            .with("aws:CurrentTime", "2026-01-01T00:00:00Z")
            .with("aws:SecureTransport", true)
            .with("kms:ViaService", "ec2.us-east-1.amazonaws.com")
    })
    .collect()
}

fuzz_target!(|data: &[u8]| {
    let (identity, text) = match data.split_first() {
        Some((b'I', rest)) => (true, rest),
        Some((_, rest)) => (false, rest),
        None => return,
    };
    let text = String::from_utf8_lossy(text);
    let parse = if identity {
        Policy::parse_identity
    } else {
        Policy::parse
    };
    let policy = match parse(&text) {
        Ok(policy) => policy,
        Err(e) => {
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::MalformedPolicyDocument | ErrorKind::LimitExceeded
                ),
                "unexpected error kind {:?}: {e}",
                e.kind
            );
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert_eq!(
        parse(&text).as_ref(),
        Ok(&policy),
        "compiling is not deterministic"
    );
    let stored = bincode::serialize(&policy).expect("a policy serializes");
    let back: Policy = bincode::deserialize(&stored).expect("a stored policy reads back");
    assert_eq!(back, policy, "the stored form lost something");
    for request in requests() {
        let decision = policy.evaluate(&request);
        assert_eq!(back.evaluate(&request), decision);
        assert_eq!(policy.evaluate(&request), decision);
        if !identity {
            let outcome = authorize(&policy, [], &request);
            assert_eq!(authorize(&back, [], &request), outcome);
            let _ = lockout_check(&policy, [], &request);
        }
    }
});
