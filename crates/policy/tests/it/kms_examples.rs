//! The AWS KMS developer guide's key policy examples, each with the decisions the guide
//! describes, through `authorize` (key policy + identity policies).

use trent_policy::{default_key_policy, lockout_check, Decision, Denial, Outcome, Policy};

use crate::support::*;

const ALLOW: Outcome = Outcome::Allow;
const NO_KEY_POLICY: Outcome = Outcome::Deny(Denial::NoKeyPolicyAllows);
const NO_IDENTITY_POLICY: Outcome = Outcome::Deny(Denial::NoIdentityPolicyAllows);
const KEY_POLICY_DENY: Outcome = Outcome::Deny(Denial::ExplicitInKeyPolicy);
const IDENTITY_DENY: Outcome = Outcome::Deny(Denial::ExplicitInIdentityPolicy);

fn case<'a>(
    name: &'a str,
    who: (&'a str, &'a str),
    action: &'a str,
    identity: &'a [&'a Policy],
    expect: Outcome,
) -> Case<'a> {
    Case {
        name,
        account: who.0,
        who: who.1,
        action,
        context: &[],
        sets: &[],
        identity,
        expect,
    }
}

/// "Default key policy": the account's root may do everything, which enables IAM policies.
#[test]
fn default_key_policy_enables_identity_policies() {
    let policy = key_policy(&default_key_policy(&account(OWNER)));
    let encrypt = allow(r#""kms:Encrypt""#, "*");
    let everything_here = allow(r#""kms:*""#, &format!("arn:aws:kms:*:{OWNER}:key/*"));
    let other_key = allow(r#""kms:*""#, &format!("arn:aws:kms:*:{OWNER}:key/other"));
    check(
        &policy,
        &[
            case(
                "root",
                (OWNER, "root"),
                "kms:ScheduleKeyDeletion",
                &[],
                ALLOW,
            ),
            case(
                "user with a policy",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[&encrypt],
                ALLOW,
            ),
            case(
                "action not in it",
                (OWNER, "alice"),
                "kms:Decrypt",
                &[&encrypt],
                NO_IDENTITY_POLICY,
            ),
            case(
                "user without one",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[],
                NO_IDENTITY_POLICY,
            ),
            case(
                "ARN pattern",
                (OWNER, "alice"),
                "kms:DisableKey",
                &[&everything_here],
                ALLOW,
            ),
            case(
                "another key's ARN",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[&other_key],
                NO_IDENTITY_POLICY,
            ),
            case(
                "other account",
                (OTHER, "carol"),
                "kms:Encrypt",
                &[&encrypt],
                NO_KEY_POLICY,
            ),
            case(
                "other root",
                (OTHER, "root"),
                "kms:Encrypt",
                &[],
                NO_KEY_POLICY,
            ),
        ],
    );
    // Action names are case-insensitive, as IAM's are.
    let lower = request(OWNER, "root", "KMS:encrypt");
    assert_eq!(policy.evaluate(&lower), Decision::Allow);
}

/// The console's default policy: key administrators and key users (roles in the guide).
#[test]
fn key_administrators_and_key_users() {
    let policy = key_policy_of(&format!(
        r#"{{"Sid": "Allow access for Key Administrators", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/KeyAdmin"}},
            "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                       "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                       "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                       "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
            "Resource": "*"}},
          {{"Sid": "Allow use of the key", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/KeyUser"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey"],
            "Resource": "*"}},
          {{"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/KeyUser"}},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {{"Bool": {{"kms:GrantIsForAWSResource": "true"}}}}}}"#
    ));
    let admin = (OWNER, "KeyAdmin");
    let user = (OWNER, "KeyUser");
    let mut rows = vec![
        case(
            "admin deletes",
            admin,
            "kms:ScheduleKeyDeletion",
            &[],
            ALLOW,
        ),
        case("admin puts a policy", admin, "kms:PutKeyPolicy", &[], ALLOW),
        case("admin disables", admin, "kms:DisableKey", &[], ALLOW),
        case(
            "admin cannot encrypt",
            admin,
            "kms:Encrypt",
            &[],
            NO_KEY_POLICY,
        ),
        case("user encrypts", user, "kms:Encrypt", &[], ALLOW),
        case("user re-encrypts", user, "kms:ReEncryptFrom", &[], ALLOW),
        case(
            "user data key",
            user,
            "kms:GenerateDataKeyWithoutPlaintext",
            &[],
            ALLOW,
        ),
        case(
            "user cannot delete",
            user,
            "kms:ScheduleKeyDeletion",
            &[],
            NO_KEY_POLICY,
        ),
        case(
            "grant not for AWS",
            user,
            "kms:CreateGrant",
            &[],
            NO_KEY_POLICY,
        ),
        case(
            "root is not named",
            (OWNER, "root"),
            "kms:Encrypt",
            &[],
            NO_KEY_POLICY,
        ),
        case(
            "another user",
            (OWNER, "alice"),
            "kms:Encrypt",
            &[],
            NO_KEY_POLICY,
        ),
    ];
    rows.push(Case {
        context: &[("kms:GrantIsForAWSResource", "true")],
        ..case(
            "grant for an AWS resource",
            user,
            "kms:CreateGrant",
            &[],
            ALLOW,
        )
    });
    rows.push(Case {
        context: &[("kms:GrantIsForAWSResource", "false")],
        ..case(
            "grant said not for AWS",
            user,
            "kms:CreateGrant",
            &[],
            NO_KEY_POLICY,
        )
    });
    check(&policy, &rows);
}

/// "Allowing users in other accounts to use a KMS key": the key policy names the other
/// account, and the other account's identity policy must allow too.
#[test]
fn another_account() {
    let policy = key_policy_of(&format!(
        r#"{{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}}, "Action": "kms:*", "Resource": "*"}},
          {{"Sid": "Allow an external account to use this KMS key", "Effect": "Allow",
            "Principal": {{"AWS": ["arn:aws:iam::{OTHER}:user/ExampleUser", "arn:aws:iam::{OTHER}:root"]}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey"],
            "Resource": "*"}}"#
    ));
    let theirs = identity_policy(&format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{
            "Sid": "AllowUseOfKeyInAccount{OWNER}", "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:DescribeKey"],
            "Resource": "arn:aws:kms:us-west-2:{OWNER}:key/{KEY_ID}"}}]}}"#
    ));
    let everything = allow(r#""kms:*""#, "*");
    check(
        &policy,
        &[
            case(
                "their user, both allow",
                (OTHER, "carol"),
                "kms:Decrypt",
                &[&theirs],
                ALLOW,
            ),
            case(
                "named user, both allow",
                (OTHER, "ExampleUser"),
                "kms:Encrypt",
                &[&theirs],
                ALLOW,
            ),
            case(
                "their user, no IAM policy",
                (OTHER, "carol"),
                "kms:Decrypt",
                &[],
                NO_IDENTITY_POLICY,
            ),
            case(
                "named user still needs IAM",
                (OTHER, "ExampleUser"),
                "kms:Encrypt",
                &[],
                NO_IDENTITY_POLICY,
            ),
            case("their root", (OTHER, "root"), "kms:Encrypt", &[], ALLOW),
            case(
                "not in the key policy",
                (OTHER, "carol"),
                "kms:DisableKey",
                &[&everything],
                NO_KEY_POLICY,
            ),
            case(
                "owner's user, via IAM",
                (OWNER, "alice"),
                "kms:DisableKey",
                &[&everything],
                ALLOW,
            ),
            case(
                "a third account",
                ("999988887777", "dave"),
                "kms:Encrypt",
                &[&everything],
                NO_KEY_POLICY,
            ),
        ],
    );
}

/// `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys` (the guide's conditions page).
#[test]
fn encryption_context_conditions() {
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/RoleForExampleApp"}},
            "Action": "kms:GenerateDataKey", "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:EncryptionContext:AppName": "ExampleApp",
                                            "kms:encryptioncontext:FilePath": "/var/opt/secrets/"}}}}}},
          {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/Keys"}},
            "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {{"ForAllValues:StringEquals": {{"kms:EncryptionContextKeys": ["Purpose", "Department"]}}}}}},
          {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/Keys"}},
            "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {{"ForAllValues:StringEquals": {{"kms:EncryptionContextKeys": ["Purpose", "Department"]}},
                          "Null": {{"kms:EncryptionContextKeys": "false"}}}}}}"#
    ));
    let app = |pairs: &[(&str, &str)]| {
        request(OWNER, "RoleForExampleApp", "kms:GenerateDataKey")
            .with_encryption_context(pairs.iter().copied())
    };
    let keys = |action: &str, pairs: &[(&str, &str)]| {
        request(OWNER, "Keys", action).with_encryption_context(pairs.iter().copied())
    };
    let good = [("AppName", "ExampleApp"), ("FilePath", "/var/opt/secrets/")];
    check_decisions(
        &policy,
        &[
            ("both pairs", app(&good), Decision::Allow),
            (
                "a pair more",
                app(&[good[0], good[1], ("x", "y")]),
                Decision::Allow,
            ),
            ("one pair", app(&good[..1]), Decision::NotApplicable),
            (
                "wrong value",
                app(&[good[0], ("FilePath", "/tmp/")]),
                Decision::NotApplicable,
            ),
            (
                "context keys are case-sensitive",
                app(&[("appname", "ExampleApp"), good[1]]),
                Decision::NotApplicable,
            ),
            ("no context", app(&[]), Decision::NotApplicable),
            (
                "keys among the two",
                keys("kms:Encrypt", &[("Purpose", "a")]),
                Decision::Allow,
            ),
            (
                "both keys",
                keys("kms:Encrypt", &[("Purpose", "a"), ("Department", "b")]),
                Decision::Allow,
            ),
            (
                "another key",
                keys("kms:Encrypt", &[("Purpose", "a"), ("Owner", "b")]),
                Decision::NotApplicable,
            ),
            // The guide's warning: ForAllValues holds on an empty set, so no context passes...
            (
                "ForAllValues, no context",
                keys("kms:Encrypt", &[]),
                Decision::Allow,
            ),
            // ...unless a Null condition requires one.
            (
                "Null requires one",
                keys("kms:Decrypt", &[]),
                Decision::NotApplicable,
            ),
            (
                "Null, with one",
                keys("kms:Decrypt", &[("Purpose", "a")]),
                Decision::Allow,
            ),
        ],
    );
}

/// `kms:ViaService` (allow only through named services) and `kms:CallerAccount` (the AWS
/// managed key policy: everyone in the account, through one service).
#[test]
fn via_service_and_caller_account() {
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/ExampleUser"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:ViaService": ["ec2.us-west-2.amazonaws.com",
                                                               "rds.us-west-2.amazonaws.com"]}}}}}},
          {{"Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
            "Effect": "Allow", "Principal": {{"AWS": "*"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:CallerAccount": "{OWNER}",
                                            "kms:ViaService": "ec2.us-west-2.amazonaws.com"}}}}}},
          {{"Effect": "Deny", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/ExampleUser"}},
            "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:ViaService": "lambda.us-east-2.amazonaws.com"}}}}}}"#
    ));
    let via = |service: &'static str| -> &'static [(&'static str, &'static str)] {
        match service {
            "ec2" => &[("kms:ViaService", "ec2.us-west-2.amazonaws.com")],
            "rds" => &[("kms:ViaService", "rds.us-west-2.amazonaws.com")],
            "s3" => &[("kms:ViaService", "s3.us-west-2.amazonaws.com")],
            _ => &[("kms:ViaService", "lambda.us-east-2.amazonaws.com")],
        }
    };
    let user = (OWNER, "ExampleUser");
    let rows = [
        Case {
            context: via("rds"),
            ..case("user via RDS", user, "kms:Decrypt", &[], ALLOW)
        },
        Case {
            context: via("s3"),
            ..case("user via S3", user, "kms:Decrypt", &[], NO_KEY_POLICY)
        },
        case("user directly", user, "kms:Decrypt", &[], NO_KEY_POLICY),
        Case {
            context: via("lambda"),
            ..case(
                "denied via Lambda",
                user,
                "kms:Decrypt",
                &[],
                KEY_POLICY_DENY,
            )
        },
        Case {
            context: via("ec2"),
            ..case(
                "anyone here via EC2",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[],
                ALLOW,
            )
        },
        Case {
            context: via("ec2"),
            ..case("root via EC2", (OWNER, "root"), "kms:Encrypt", &[], ALLOW)
        },
        Case {
            context: via("rds"),
            ..case(
                "anyone via RDS",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[],
                NO_KEY_POLICY,
            )
        },
        Case {
            context: via("ec2"),
            ..case(
                "other account via EC2",
                (OTHER, "carol"),
                "kms:Encrypt",
                &[],
                NO_KEY_POLICY,
            )
        },
    ];
    check(&policy, &rows);
}

/// Explicit deny wins over every allow, in the key policy or in an identity policy; `Deny`
/// to an account reaches all its users; `NotAction` limits what a statement allows.
#[test]
fn explicit_deny() {
    let policy = key_policy_of(&format!(
        r#"{{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}}, "Action": "kms:*", "Resource": "*"}},
          {{"Sid": "DenyAliceDisable", "Effect": "Deny",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}},
            "Action": "kms:DisableKey", "Resource": "*"}},
          {{"Sid": "DenyAccountDelete", "Effect": "Deny", "Principal": {{"AWS": "{OWNER}"}},
            "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}},
          {{"Sid": "RequireTLS", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}},
          {{"Sid": "OnlyCrypto", "Effect": "Deny", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/bob"}},
            "NotAction": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}}"#
    ));
    let all = allow(r#""kms:*""#, "*");
    let all_but_tags = identity_policy(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:*Tag*", "Resource": "*"}]}"#,
    );
    check(
        &policy,
        &[
            case(
                "alice disables",
                (OWNER, "alice"),
                "kms:DisableKey",
                &[&all],
                KEY_POLICY_DENY,
            ),
            case(
                "alice enables",
                (OWNER, "alice"),
                "kms:EnableKey",
                &[&all],
                ALLOW,
            ),
            case(
                "account deny, user",
                (OWNER, "alice"),
                "kms:ScheduleKeyDeletion",
                &[&all],
                KEY_POLICY_DENY,
            ),
            case(
                "account deny, root",
                (OWNER, "root"),
                "kms:ScheduleKeyDeletion",
                &[],
                KEY_POLICY_DENY,
            ),
            case(
                "identity deny",
                (OWNER, "alice"),
                "kms:TagResource",
                &[&all_but_tags],
                IDENTITY_DENY,
            ),
            case(
                "identity allow",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[&all_but_tags],
                ALLOW,
            ),
            case(
                "two identity policies",
                (OWNER, "alice"),
                "kms:UntagResource",
                &[&all, &all_but_tags],
                IDENTITY_DENY,
            ),
            Case {
                context: &[("aws:SecureTransport", "false")],
                ..case(
                    "plain HTTP",
                    (OWNER, "root"),
                    "kms:Encrypt",
                    &[],
                    KEY_POLICY_DENY,
                )
            },
            Case {
                context: &[("aws:SecureTransport", "true")],
                ..case("TLS", (OWNER, "root"), "kms:Encrypt", &[], ALLOW)
            },
            case("TLS unknown", (OWNER, "root"), "kms:Encrypt", &[], ALLOW),
            case(
                "bob encrypts",
                (OWNER, "bob"),
                "kms:Encrypt",
                &[&all],
                ALLOW,
            ),
            case(
                "bob describes",
                (OWNER, "bob"),
                "kms:DescribeKey",
                &[&all],
                KEY_POLICY_DENY,
            ),
        ],
    );
}

/// `NotPrincipal` with `Deny`: everyone but the listed principals (the IAM guide's warning
/// included: listing a user without its account denies the user too).
#[test]
fn not_principal() {
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}}, "Action": "kms:*", "Resource": "*"}},
          {{"Effect": "Deny",
            "NotPrincipal": {{"AWS": ["arn:aws:iam::{OWNER}:user/KeyAdmin", "arn:aws:iam::{OWNER}:root"]}},
            "Action": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"], "Resource": "*"}},
          {{"Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}},
            "Action": "kms:DisableKey", "Resource": "*"}}"#
    ));
    let all = allow(r#""kms:*""#, "*");
    check(
        &policy,
        &[
            case(
                "the admin",
                (OWNER, "KeyAdmin"),
                "kms:ScheduleKeyDeletion",
                &[&all],
                ALLOW,
            ),
            case("the root", (OWNER, "root"), "kms:PutKeyPolicy", &[], ALLOW),
            case(
                "anyone else",
                (OWNER, "alice"),
                "kms:ScheduleKeyDeletion",
                &[&all],
                KEY_POLICY_DENY,
            ),
            case(
                "not about that action",
                (OWNER, "alice"),
                "kms:Encrypt",
                &[&all],
                ALLOW,
            ),
            case(
                "user listed alone",
                (OWNER, "alice"),
                "kms:DisableKey",
                &[&all],
                KEY_POLICY_DENY,
            ),
        ],
    );
}

/// The lockout safety check: a policy that would leave the caller unable to put a policy.
#[test]
fn lockout_safety_check() {
    let admin_only = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/KeyAdmin"}},
            "Action": "kms:*", "Resource": "*"}}"#
    ));
    let caller = |who| request(OWNER, who, "kms:CreateKey");
    assert_eq!(lockout_check(&admin_only, [], &caller("KeyAdmin")), Ok(()));
    let refused = lockout_check(&admin_only, [], &caller("alice")).unwrap_err();
    assert_eq!(refused, trent_model::Error::policy_lockout());
    assert_eq!(
        refused.to_string(),
        "MalformedPolicyDocumentException: The new key policy will not allow you to update \
         the key policy in the future."
    );
    // The default policy passes for a user whose identity policy allows PutKeyPolicy.
    let default = key_policy(&default_key_policy(&account(OWNER)));
    let put = allow(r#""kms:PutKeyPolicy""#, "*");
    assert_eq!(lockout_check(&default, [&put], &caller("alice")), Ok(()));
    assert!(lockout_check(&default, [], &caller("alice")).is_err());
}

/// A refusal is AWS's AccessDeniedException, in AWS's words.
#[test]
fn refusals_are_aws_messages() {
    let policy = key_policy(&default_key_policy(&account(OWNER)));
    let r = request(OTHER, "carol", "kms:Encrypt");
    let e = trent_policy::authorize(&policy, [], &r)
        .into_result(&r)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "AccessDeniedException: User: arn:aws:iam::{OTHER}:user/carol is not authorized to \
             perform: kms:Encrypt on resource: arn:aws:kms:us-west-2:{OWNER}:key/{KEY_ID} \
             because no resource-based policy allows the kms:Encrypt action"
        )
    );
    assert_eq!(
        Denial::ExplicitInKeyPolicy.reason("kms:Encrypt"),
        "with an explicit deny in a resource-based policy"
    );
}

/// The default key policy text is what AWS's GetKeyPolicy shows, and compiles.
#[test]
fn the_default_key_policy_text() {
    let text = default_key_policy(&account(OWNER));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["Id"], "key-default-1");
    assert_eq!(value["Statement"][0]["Sid"], "Enable IAM User Permissions");
    assert_eq!(
        value["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{OWNER}:root")
    );
    assert!(text.contains("\"Version\" : \"2012-10-17\""));
    let policy = key_policy(&text);
    assert_eq!(policy.accounts().into_iter().collect::<Vec<_>>(), [OWNER]);
    assert!(policy.users().is_empty() && policy.inert_statements().is_empty());
}
