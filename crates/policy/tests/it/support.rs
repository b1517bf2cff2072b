//! Principals, keys and requests shared by the tests. The key belongs to account
//! 111122223333 (AWS's example account); 444455556666 is AWS's "other account". AWS's
//! examples name roles; trent has users only, so the examples name users of the same names.

use trent_model::{AccountId, Arn, Principal};
use trent_policy::{authorize, Decision, Outcome, Policy, Request};

pub const OWNER: &str = "111122223333";
pub const OTHER: &str = "444455556666";
pub const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

pub fn account(id: &str) -> AccountId {
    id.parse().unwrap()
}

/// `"root"` is the account's root; anything else a user of the account.
pub fn principal(account_id: &str, who: &str) -> Principal {
    Principal {
        account: account(account_id),
        user: (who != "root").then(|| who.parse().unwrap()),
    }
}

pub fn key_arn() -> Arn {
    Arn::kms("us-west-2", &account(OWNER), format!("key/{KEY_ID}"))
}

pub fn request(account_id: &str, who: &str, action: &str) -> Request {
    Request::new(action, &principal(account_id, who), &key_arn())
}

pub fn key_policy(text: &str) -> Policy {
    Policy::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub fn identity_policy(text: &str) -> Policy {
    Policy::parse_identity(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A key policy of `statements` (JSON objects, comma-separated).
pub fn key_policy_of(statements: &str) -> Policy {
    key_policy(&format!(
        r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#
    ))
}

/// An identity policy allowing `actions` (a JSON string or list) on `resource`.
pub fn allow(actions: &str, resource: &str) -> Policy {
    identity_policy(&format!(
        r#"{{"Version": "2012-10-17",
             "Statement": {{"Effect": "Allow", "Action": {actions}, "Resource": "{resource}"}}}}"#
    ))
}

/// One row of a table: who asks for what, with which condition keys, and the expected answer.
pub struct Case<'a> {
    pub name: &'a str,
    /// `alice` (a user of the key's account), `root`, `other:carol` (444455556666),
    /// `999988887777:dave`.
    pub who: &'a str,
    pub action: &'a str,
    pub context: &'a [(&'a str, &'a str)],
    pub identity: &'a [&'a Policy],
    pub expect: Outcome,
}

impl Case<'_> {
    pub fn request(&self) -> Request {
        let (account, who) = match self.who.split_once(':') {
            Some(("other", who)) => (OTHER, who),
            Some((account, who)) => (account, who),
            None => (OWNER, self.who),
        };
        let mut r = request(account, who, self.action);
        for (k, v) in self.context {
            r.set(k, *v);
        }
        r
    }
}

/// Runs every case against `key_policy` through [`authorize`]; reports every failing row.
pub fn check(key_policy: &Policy, cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = authorize(key_policy, case.identity.iter().copied(), &case.request());
            (got != case.expect)
                .then(|| format!("{}: expected {:?}, got {got:?}", case.name, case.expect))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `(name, request, expected)` rows against one policy's own decision.
pub fn check_decisions(policy: &Policy, rows: &[(&str, Request, Decision)]) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(name, request, expect)| {
            let got = policy.evaluate(request);
            (got != *expect).then(|| format!("{name}: expected {expect:?}, got {got:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A table of [`Case`]s against a key policy, one row a line (rustfmt leaves macro bodies of
/// this shape alone, so rows stay rows):
/// `"name": "who" "kms:Action" [identity policies] [KEY = value, ...] => expected;` (`KEY` a const)
#[macro_export]
macro_rules! cases {
    ($policy:expr; $($name:literal: $who:literal $action:literal [$($id:ident),*]
        $([$($k:ident = $v:expr),*])? => $expect:expr;)*) => {
        $crate::support::check(&$policy, &[$($crate::support::Case {
            name: $name,
            who: $who,
            action: $action,
            identity: &[$(&$id),*],
            context: &[$($(($k, $v)),*)?],
            expect: $expect,
        }),*])
    };
}

/// A table of one policy's decisions: `"name": request => expected;`
#[macro_export]
macro_rules! decisions {
    ($policy:expr; $($name:literal: $request:expr => $expect:expr;)*) => {
        $crate::support::check_decisions(&$policy, &[$(($name, $request, $expect)),*])
    };
}
