//! Properties over generated policies and requests. proptest is not in the workspace's lock,
//! so a small seeded generator (SplitMix64) draws them: every run checks the same cases, and
//! a failure prints the seed and the documents to reproduce it.
//!
//! - Compiling and evaluating are deterministic: the same text compiles to equal policies
//!   with byte-identical serializations (JSON and bincode, the replicated state's form), a
//!   serialized policy reads back equal and decides alike, and evaluating twice answers alike.
//! - Adding a `Deny` statement never widens access: whatever the key policy, identity
//!   policies, request and added statement, anything allowed after was allowed before.

use serde_json::{json, Value};
use trent_policy::{authorize, ContextValue, Decision, Outcome, Policy, Request};

use crate::support::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// One to `max` distinct items.
    fn some<T: Clone + PartialEq>(&mut self, items: &[T], max: usize) -> Vec<T> {
        let mut out = Vec::new();
        for _ in 0..1 + self.below(max) {
            let item = self.pick(items);
            if !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
}

const USERS: &[(&str, &str)] = &[
    (OWNER, "root"),
    (OWNER, "alice"),
    (OWNER, "bob"),
    (OTHER, "root"),
    (OTHER, "carol"),
];
const ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DescribeKey",
];
const ACTION_PATTERNS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:*",
    "*",
    "kms:Generate*",
    "kms:*Key*",
    "kms:Put?eyPolicy",
    "kms:Describe*",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:kms:*:111122223333:key/*",
    "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:*:444455556666:key/*",
    "arn:aws:kms:*",
];
const PRINCIPALS: &[&str] = &[
    "*",
    "111122223333",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:user/bob",
    "444455556666",
    "arn:aws:iam::444455556666:user/carol",
];

fn condition(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => {
            let departments = rng.some(&["IT", "HR", "Legal"], 2);
            json!({"StringEquals": {"kms:EncryptionContext:Department": departments}})
        }
        1 => json!({"StringLike": {"kms:EncryptionContext:Project": ["alpha-*", "b?ta"]}}),
        2 => json!({"StringNotEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}),
        3 => {
            let keys = ["Department", "Project"];
            json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": keys}})
        }
        4 => json!({"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "Dep*"}}),
        5 => json!({"Bool": {"aws:SecureTransport": rng.pick(&["true", "false"])}}),
        6 => json!({"IpAddress": {"aws:SourceIp": rng.pick(&["10.0.0.0/8", "192.0.2.0/24"])}}),
        _ => json!({"StringEqualsIfExists": {"kms:CallerAccount": rng.pick(&[OWNER, OTHER])}}),
    }
}

fn statement(rng: &mut Rng, key_policy: bool, effect: &str) -> Value {
    let mut s = json!({"Effect": effect});
    let actions = rng.some(ACTION_PATTERNS, 3);
    s[if rng.chance(15) {
        "NotAction"
    } else {
        "Action"
    }] = json!(actions);
    s[if rng.chance(10) {
        "NotResource"
    } else {
        "Resource"
    }] = json!(rng.some(RESOURCES, 2));
    if key_policy {
        let principals = rng.some(PRINCIPALS, 3);
        if effect == "Deny" && rng.chance(20) {
            s["NotPrincipal"] = json!({"AWS": principals});
        } else {
            s["Principal"] = json!({"AWS": principals});
        }
    }
    if rng.chance(50) {
        let mut conditions = serde_json::Map::new();
        for _ in 0..1 + rng.below(2) {
            if let Value::Object(c) = condition(rng) {
                conditions.extend(c);
            }
        }
        s["Condition"] = Value::Object(conditions);
    }
    s
}

fn document(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn statements(rng: &mut Rng, key_policy: bool) -> Vec<Value> {
    (0..1 + rng.below(5))
        .map(|_| {
            let effect = if rng.chance(25) { "Deny" } else { "Allow" };
            statement(rng, key_policy, effect)
        })
        .collect()
}

fn random_request(rng: &mut Rng) -> Request {
    let (account, who) = rng.pick(USERS);
    let mut r = request(account, who, rng.pick(ACTIONS));
    let pairs: Vec<(&str, &str)> = rng.some(
        &[
            ("Department", "IT"),
            ("Department", "HR"),
            ("Project", "alpha-1"),
            ("Project", "beta"),
        ],
        3,
    );
    if rng.chance(80) {
        r = r.with_encryption_context(pairs);
    }
    if rng.chance(50) {
        r.set(
            "kms:ViaService",
            rng.pick(&["ec2.us-west-2.amazonaws.com", "s3.us-west-2.amazonaws.com"]),
        );
    }
    if rng.chance(70) {
        r.set("aws:SecureTransport", rng.pick(&["true", "false"]));
    }
    r.set(
        "aws:SourceIp",
        rng.pick(&["10.1.2.3", "192.0.2.9", "2001:db8::1"]),
    );
    if rng.chance(10) {
        r.set("kms:EncryptionContextKeys", ContextValue::Multi(vec![]));
    }
    r
}

const POLICIES: u64 = 400;
const REQUESTS: usize = 40;

#[test]
fn compiling_and_evaluating_are_deterministic() {
    for seed in 0..POLICIES {
        let mut rng = Rng(seed);
        let text = document(statements(&mut rng, true));
        let a = Policy::parse(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let b = Policy::parse(&text).unwrap();
        assert_eq!(a, b, "seed {seed}");
        let bytes = serde_json::to_vec(&a).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&b).unwrap(), "seed {seed}");
        let back: Policy = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, a, "seed {seed}");
        // The form the replicated state keeps.
        let stored = bincode::serialize(&a).unwrap();
        assert_eq!(stored, bincode::serialize(&b).unwrap(), "seed {seed}");
        let back: Policy = bincode::deserialize(&stored).unwrap();
        assert_eq!(back, a, "seed {seed}");
        for _ in 0..REQUESTS {
            let r = random_request(&mut rng);
            let decision = a.evaluate(&r);
            assert_eq!(decision, a.evaluate(&r), "seed {seed}");
            assert_eq!(decision, back.evaluate(&r), "seed {seed}");
            assert_eq!(
                authorize(&a, [], &r),
                authorize(&back, [], &r),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn adding_a_deny_never_widens_access() {
    let mut allowed = 0;
    for seed in 0..POLICIES {
        let mut rng = Rng(seed);
        let key_statements = statements(&mut rng, true);
        let identity_statements = statements(&mut rng, false);
        let deny = statement(&mut rng, true, "Deny");
        let identity_deny = statement(&mut rng, false, "Deny");
        let key = Policy::parse(&document(key_statements.clone())).unwrap();
        let identity = Policy::parse_identity(&document(identity_statements.clone())).unwrap();
        let mut with_deny = key_statements.clone();
        with_deny.insert(rng.below(with_deny.len() + 1), deny);
        let key_denied = Policy::parse(&document(with_deny.clone())).unwrap();
        let mut identity_with_deny = identity_statements.clone();
        identity_with_deny.push(identity_deny);
        let identity_denied =
            Policy::parse_identity(&document(identity_with_deny.clone())).unwrap();
        for _ in 0..REQUESTS {
            let r = random_request(&mut rng);
            let before = authorize(&key, [&identity], &r);
            allowed += usize::from(before == Outcome::Allow);
            for (what, after) in [
                ("key policy", authorize(&key_denied, [&identity], &r)),
                ("identity policy", authorize(&key, [&identity_denied], &r)),
                (
                    "another identity policy",
                    authorize(&key, [&identity, &identity_denied], &r),
                ),
            ] {
                assert!(
                    after != Outcome::Allow || before == Outcome::Allow,
                    "seed {seed}: a Deny in the {what} widened access for {r:?}\nkey: {}\nwith: {}",
                    document(key_statements.clone()),
                    document(with_deny.clone()),
                );
            }
            if key_denied.evaluate(&r) == Decision::Allow {
                assert_eq!(key.evaluate(&r), Decision::Allow, "seed {seed}");
            }
        }
    }
    // The generator must reach allowed requests, or the property says nothing.
    assert!(
        allowed > 500,
        "only {allowed} allowed requests were generated"
    );
}

/// The fuzz target's seeds are accepted documents, so fuzzing starts past the parser's
/// refusals (a selector byte, `K` or `I`, then the document).
#[test]
fn the_fuzz_seeds_compile() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/policy_document");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = match text.split_at(1) {
            ("I", document) => Policy::parse_identity(document),
            (_, document) => Policy::parse(document),
        };
        parsed.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seeds += 1;
    }
    assert!(seeds >= 6);
}
