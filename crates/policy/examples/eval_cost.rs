//! What a key policy costs per request: a realistic policy of 20 statements (administrators,
//! per-application users with conditions on the encryption context, cross-account use through
//! a service, explicit denies on the transport, the caller's account and the principal's
//! ARN), compiled once, then `authorize` for an allowed request that needs most statements, a
//! refused one that needs all of them, and a user allowed through an identity policy. Also the
//! cost of compiling it and the size of its compiled form.
//!
//! `cargo run --release -p trent-policy --example eval_cost` (docs/BENCHMARKS.md).

use std::hint::black_box;
use std::time::Instant;

use trent_model::{AccountId, Arn, Principal};
use trent_policy::{authorize, Denial, Outcome, Policy, Request};

const OWNER: &str = "111122223333";
const OTHER: &str = "444455556666";

fn per_call(what: &str, rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!("{what:<58} {:>8.3} µs", ns / 1000.0);
    ns
}

fn user(name: &str) -> String {
    format!("arn:aws:iam::{OWNER}:user/{name}")
}

/// Twenty statements, as a team running eight applications on one key might write them.
fn policy() -> String {
    let mut statements = vec![
        format!(
            r#"{{"Sid": "EnableIAM", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}},
                "Action": "kms:*", "Resource": "*"}}"#
        ),
        format!(
            r#"{{"Sid": "Admins", "Effect": "Allow", "Principal": {{"AWS": ["{}", "{}"]}},
                "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                           "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                           "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                           "kms:CancelKeyDeletion"], "Resource": "*"}}"#,
            user("admin-1"),
            user("admin-2")
        ),
    ];
    for app in 1..=8 {
        statements.push(format!(
            r#"{{"Sid": "App{app}", "Effect": "Allow", "Principal": {{"AWS": "{}"}},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {{"StringEquals": {{"kms:EncryptionContext:tenant": "app-{app}",
                                                "kms:CallerAccount": "{OWNER}"}},
                              "StringLike": {{"kms:EncryptionContext:purpose": ["backup-*", "session-*"]}}}}}}"#,
            user(&format!("app-{app}"))
        ));
    }
    for (n, service) in ["ec2", "rds", "s3", "lambda"].iter().enumerate() {
        statements.push(format!(
            r#"{{"Sid": "Partner{n}", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OTHER}:root"}},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                "Condition": {{"StringEquals": {{"kms:ViaService": "{service}.us-west-2.amazonaws.com"}},
                              "ForAllValues:StringEquals": {{"kms:EncryptionContextKeys": ["tenant", "purpose"]}}}}}}"#
        ));
    }
    statements.extend([
        r#"{"Sid": "RequireTLS", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#
            .to_owned(),
        format!(
            r#"{{"Sid": "OnlyAdminsDelete", "Effect": "Deny",
                "NotPrincipal": {{"AWS": ["{}", "arn:aws:iam::{OWNER}:root"]}},
                "Action": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"], "Resource": "*"}}"#,
            user("admin-1")
        ),
        r#"{"Sid": "NoForbiddenContext", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": ["forbidden*", "aws:*"]}}}"#
            .to_owned(),
        r#"{"Sid": "Network", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:Encrypt"],
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]},
                          "Null": {"kms:ViaService": "true"}}}"#
            .to_owned(),
        format!(
            r#"{{"Sid": "Auditors", "Effect": "Allow", "Principal": "*",
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*",
                "Condition": {{"ArnLike": {{"aws:PrincipalArn": "arn:aws:iam::{OWNER}:user/audit-*"}},
                              "DateLessThan": {{"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}}}}"#
        ),
        format!(
            r#"{{"Sid": "BreakGlass", "Effect": "Allow", "Principal": {{"AWS": "{}"}},
                "Action": "kms:*", "Resource": "*",
                "Condition": {{"Bool": {{"aws:MultiFactorAuthPresent": "true"}},
                              "NumericLessThan": {{"aws:MultiFactorAuthAge": "300"}}}}}}"#,
            user("break-glass")
        ),
    ]);
    assert_eq!(statements.len(), 20);
    format!(
        r#"{{"Version": "2012-10-17", "Id": "app-key", "Statement": [{}]}}"#,
        statements.join(",\n")
    )
}

fn request(who: &str, account: &str, action: &str, context: &[(&str, &str)]) -> Request {
    let account: AccountId = account.parse().unwrap();
    let key = Arn::kms(
        "us-west-2",
        &account_of(OWNER),
        "key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    let principal = Principal {
        user: (who != "root").then(|| who.parse().unwrap()),
        account,
    };
    Request::new(action, &principal, &key)
        .with_encryption_context(context.iter().copied())
        .with("aws:SecureTransport", true)
        .with("aws:SourceIp", "10.1.2.3")
        .with("aws:CurrentTime", "2026-05-01T12:00:00Z")
}

fn account_of(id: &str) -> AccountId {
    id.parse().unwrap()
}

fn main() {
    let text = policy();
    let rounds = 200_000;
    per_call(
        "compile the 20-statement policy (Policy::parse)",
        20_000,
        || {
            black_box(Policy::parse(black_box(&text)).unwrap());
        },
    );
    let key_policy = Policy::parse(&text).unwrap();
    println!(
        "policy: {} bytes of JSON; compiled, {} bytes in bincode (the state's form)\n",
        text.len(),
        bincode::serialize(&key_policy).unwrap().len()
    );
    let identity = Policy::parse_identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "arn:aws:kms:*:111122223333:key/*"}}"#,
    )
    .unwrap();
    let context = [("tenant", "app-7"), ("purpose", "backup-2026")];
    let other_tenant = [("tenant", "app-3"), ("purpose", "backup-1")];
    let alice: &[&Policy] = &[&identity];
    let cases = [
        (
            "allowed: app-7 encrypts with its context",
            request("app-7", OWNER, "kms:Encrypt", &context),
            &[][..],
            Outcome::Allow,
        ),
        (
            "refused: app-7 with another tenant's context",
            request("app-7", OWNER, "kms:Encrypt", &other_tenant),
            &[][..],
            Outcome::Deny(Denial::NoIdentityPolicyAllows),
        ),
        (
            "allowed: a user through its identity policy",
            request("alice", OWNER, "kms:Decrypt", &context),
            alice,
            Outcome::Allow,
        ),
        (
            "refused: another account, not through a service",
            request("carol", OTHER, "kms:Decrypt", &context),
            &[][..],
            Outcome::Deny(Denial::NoKeyPolicyAllows),
        ),
    ];
    for (what, request, identity, expected) in &cases {
        let outcome = authorize(&key_policy, identity.iter().copied(), request);
        assert_eq!(outcome, *expected, "{what}");
        per_call(&format!("authorize, {what}"), rounds, || {
            let identity = identity.iter().copied();
            black_box(authorize(
                black_box(&key_policy),
                identity,
                black_box(request),
            ));
        });
    }
    let (_, request, _, _) = &cases[0];
    let app = Principal {
        account: account_of(OWNER),
        user: Some("app-7".parse().unwrap()),
    };
    let key = Arn::kms(
        "us-west-2",
        &app.account,
        "key/1234abcd-12ab-34cd-56ef-1234567890ab",
    );
    per_call(
        "Request::new + encryption context + 3 keys (per request)",
        rounds,
        || {
            black_box(
                Request::new("kms:Encrypt", black_box(&app), &key)
                    .with_encryption_context(context.iter().copied())
                    .with("aws:SecureTransport", true)
                    .with("aws:SourceIp", "10.1.2.3")
                    .with("aws:CurrentTime", "2026-05-01T12:00:00Z"),
            );
        },
    );
    per_call(
        "Policy::evaluate alone, the allowed request",
        rounds,
        || {
            black_box(key_policy.evaluate(black_box(request)));
        },
    );
}
