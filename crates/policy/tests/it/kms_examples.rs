//! The AWS KMS developer guide's key policy examples, each with the decisions the guide
//! describes, through `authorize` (key policy + identity policies). Who asks: `alice`, `bob`,
//! ... are users of the key's account (111122223333), `root` its root, `other:carol` a user
//! of 444455556666.

use trent_policy::{default_key_policy, lockout_check, Decision, Denial, Outcome};

use crate::support::*;
use crate::{cases, decisions};

const ALLOW: Outcome = Outcome::Allow;
const NO_KEY: Outcome = Outcome::Deny(Denial::NoKeyPolicyAllows);
const NO_IAM: Outcome = Outcome::Deny(Denial::NoIdentityPolicyAllows);
const KEY_DENY: Outcome = Outcome::Deny(Denial::ExplicitInKeyPolicy);
const IAM_DENY: Outcome = Outcome::Deny(Denial::ExplicitInIdentityPolicy);

/// "Default key policy": the account's root may do everything, which enables IAM policies.
#[test]
fn default_key_policy_enables_identity_policies() {
    let policy = key_policy(&default_key_policy(&account(OWNER)));
    let encrypt = allow(r#""kms:Encrypt""#, "*");
    let all_keys_here = allow(r#""kms:*""#, &format!("arn:aws:kms:*:{OWNER}:key/*"));
    let other_key = allow(r#""kms:*""#, &format!("arn:aws:kms:*:{OWNER}:key/other"));
    cases!(policy;
        "root":               "root"        "kms:ScheduleKeyDeletion" []              => ALLOW;
        "user with a policy": "alice"       "kms:Encrypt"             [encrypt]       => ALLOW;
        "action not in it":   "alice"       "kms:Decrypt"             [encrypt]       => NO_IAM;
        "user without one":   "alice"       "kms:Encrypt"             []              => NO_IAM;
        "ARN pattern":        "alice"       "kms:DisableKey"          [all_keys_here] => ALLOW;
        "another key's ARN":  "alice"       "kms:Encrypt"             [other_key]     => NO_IAM;
        "other account":      "other:carol" "kms:Encrypt"             [encrypt]       => NO_KEY;
        "other root":         "other:root"  "kms:Encrypt"             []              => NO_KEY;
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
    const FOR_AWS: &str = "kms:GrantIsForAWSResource";
    cases!(policy;
        "admin deletes":        "KeyAdmin" "kms:ScheduleKeyDeletion" [] => ALLOW;
        "admin puts a policy":  "KeyAdmin" "kms:PutKeyPolicy"        [] => ALLOW;
        "admin disables":       "KeyAdmin" "kms:DisableKey"          [] => ALLOW;
        "admin cannot encrypt": "KeyAdmin" "kms:Encrypt"             [] => NO_KEY;
        "user encrypts":        "KeyUser"  "kms:Encrypt"             [] => ALLOW;
        "user re-encrypts":     "KeyUser"  "kms:ReEncryptFrom"       [] => ALLOW;
        "user data key":        "KeyUser"  "kms:GenerateDataKeyWithoutPlaintext" [] => ALLOW;
        "user cannot delete":   "KeyUser"  "kms:ScheduleKeyDeletion" [] => NO_KEY;
        "grant, no condition":  "KeyUser"  "kms:CreateGrant"         [] => NO_KEY;
        "grant for AWS":        "KeyUser"  "kms:CreateGrant" [] [FOR_AWS = "true"]  => ALLOW;
        "grant not for AWS":    "KeyUser"  "kms:CreateGrant" [] [FOR_AWS = "false"] => NO_KEY;
        "root is not named":    "root"     "kms:Encrypt"             [] => NO_KEY;
        "another user":         "alice"    "kms:Encrypt"             [] => NO_KEY;
    );
}

/// "Allowing users in other accounts to use a KMS key": the key policy names the other
/// account, and the other account's identity policy must allow too.
#[test]
fn another_account() {
    let policy = key_policy_of(&format!(
        r#"{{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}},
            "Action": "kms:*", "Resource": "*"}},
          {{"Sid": "Allow an external account to use this KMS key", "Effect": "Allow",
            "Principal": {{"AWS": ["arn:aws:iam::{OTHER}:user/ExampleUser",
                                   "arn:aws:iam::{OTHER}:root"]}},
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
    let all = allow(r#""kms:*""#, "*");
    cases!(policy;
        "their user, both allow":     "other:carol"       "kms:Decrypt"    [theirs] => ALLOW;
        "named user, both allow":     "other:ExampleUser" "kms:Encrypt"    [theirs] => ALLOW;
        "their user, no IAM policy":  "other:carol"       "kms:Decrypt"    []       => NO_IAM;
        "named user still needs IAM": "other:ExampleUser" "kms:Encrypt"    []       => NO_IAM;
        "their root":                 "other:root"        "kms:Encrypt"    []       => ALLOW;
        "not in the key policy":      "other:carol"       "kms:DisableKey" [all]    => NO_KEY;
        "owner's user, via IAM":      "alice"             "kms:DisableKey" [all]    => ALLOW;
        "a third account":            "999988887777:dave" "kms:Encrypt"    [all]    => NO_KEY;
    );
}

/// `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys` (the guide's conditions page).
#[test]
fn encryption_context_conditions() {
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/ExampleApp"}},
            "Action": "kms:GenerateDataKey", "Resource": "*",
            "Condition": {{"StringEquals": {{
                "kms:EncryptionContext:AppName": "ExampleApp",
                "kms:encryptioncontext:FilePath": "/var/opt/secrets/"}}}}}},
          {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/Keys"}},
            "Action": "kms:Encrypt", "Resource": "*",
            "Condition": {{"ForAllValues:StringEquals": {{
                "kms:EncryptionContextKeys": ["Purpose", "Department"]}}}}}},
          {{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/Keys"}},
            "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {{"ForAllValues:StringEquals": {{
                               "kms:EncryptionContextKeys": ["Purpose", "Department"]}},
                          "Null": {{"kms:EncryptionContextKeys": "false"}}}}}}"#
    ));
    let app = |pairs: &[(&'static str, &'static str)]| {
        request(OWNER, "ExampleApp", "kms:GenerateDataKey").with_encryption_context(pairs.to_vec())
    };
    let keys = |action: &str, pairs: &[(&'static str, &'static str)]| {
        request(OWNER, "Keys", action).with_encryption_context(pairs.to_vec())
    };
    let (name, path) = (("AppName", "ExampleApp"), ("FilePath", "/var/opt/secrets/"));
    let (purpose, department) = (("Purpose", "a"), ("Department", "b"));
    decisions!(policy;
        "both pairs":         app(&[name, path])                => Decision::Allow;
        "a pair more":        app(&[name, path, ("x", "y")])    => Decision::Allow;
        "one pair":           app(&[name])                      => Decision::NotApplicable;
        "wrong value":        app(&[name, ("FilePath", "/")])   => Decision::NotApplicable;
        "keys case-sensitive": app(&[("appname", "ExampleApp"), path]) => Decision::NotApplicable;
        "no context":         app(&[])                          => Decision::NotApplicable;
        "a key of the two":   keys("kms:Encrypt", &[purpose])   => Decision::Allow;
        "both keys":          keys("kms:Encrypt", &[purpose, department]) => Decision::Allow;
        "another key":        keys("kms:Encrypt", &[purpose, ("Owner", "c")])
                                                                => Decision::NotApplicable;
        // The guide's warning: ForAllValues holds on an empty set, so no context passes...
        "ForAllValues, none": keys("kms:Encrypt", &[])          => Decision::Allow;
        // ...unless a Null condition requires one.
        "Null requires one":  keys("kms:Decrypt", &[])          => Decision::NotApplicable;
        "Null, with one":     keys("kms:Decrypt", &[purpose])   => Decision::Allow;
    );
}

/// `kms:ViaService` (allow only through named services) and `kms:CallerAccount` (the AWS
/// managed key policy: everyone in the account, through one service).
#[test]
fn via_service_and_caller_account() {
    const EBS: &str = "Allow access through EBS for all principals in the account that are \
                       authorized to use EBS";
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/ExampleUser"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:ViaService": ["ec2.us-west-2.amazonaws.com",
                                                               "rds.us-west-2.amazonaws.com"]}}}}}},
          {{"Sid": "{EBS}",
            "Effect": "Allow", "Principal": {{"AWS": "*"}},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {{"StringEquals": {{"kms:CallerAccount": "{OWNER}",
                                            "kms:ViaService": "ec2.us-west-2.amazonaws.com"}}}}}},
          {{"Effect": "Deny", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/ExampleUser"}},
            "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {{"StringEquals": {{
                "kms:ViaService": "lambda.us-east-2.amazonaws.com"}}}}}}"#
    ));
    const VIA: &str = "kms:ViaService";
    const EC2: &str = "ec2.us-west-2.amazonaws.com";
    const RDS: &str = "rds.us-west-2.amazonaws.com";
    const S3: &str = "s3.us-west-2.amazonaws.com";
    const LAMBDA: &str = "lambda.us-east-2.amazonaws.com";
    cases!(policy;
        "user via RDS":          "ExampleUser" "kms:Decrypt" [] [VIA = RDS]    => ALLOW;
        "user via S3":           "ExampleUser" "kms:Decrypt" [] [VIA = S3]     => NO_KEY;
        "user directly":         "ExampleUser" "kms:Decrypt" []                => NO_KEY;
        "denied via Lambda":     "ExampleUser" "kms:Decrypt" [] [VIA = LAMBDA] => KEY_DENY;
        "anyone here via EC2":   "alice"       "kms:Encrypt" [] [VIA = EC2]    => ALLOW;
        "root via EC2":          "root"        "kms:Encrypt" [] [VIA = EC2]    => ALLOW;
        "anyone via RDS":        "alice"       "kms:Encrypt" [] [VIA = RDS]    => NO_KEY;
        "other account via EC2": "other:carol" "kms:Encrypt" [] [VIA = EC2]    => NO_KEY;
    );
}

/// Explicit deny wins over every allow, in the key policy or in an identity policy; `Deny`
/// to an account reaches all its users; `NotAction` limits what a statement allows.
#[test]
fn explicit_deny() {
    let policy = key_policy_of(&format!(
        r#"{{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}},
            "Action": "kms:*", "Resource": "*"}},
          {{"Sid": "DenyAliceDisable", "Effect": "Deny",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}},
            "Action": "kms:DisableKey", "Resource": "*"}},
          {{"Sid": "DenyAccountDelete", "Effect": "Deny", "Principal": {{"AWS": "{OWNER}"}},
            "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}},
          {{"Sid": "RequireTLS", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
            "Resource": "*",
            "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}},
          {{"Sid": "OnlyCrypto", "Effect": "Deny",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/bob"}},
            "NotAction": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}}"#
    ));
    let all = allow(r#""kms:*""#, "*");
    let no_tags = identity_policy(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:*Tag*", "Resource": "*"}]}"#,
    );
    const TLS: &str = "aws:SecureTransport";
    cases!(policy;
        "alice disables":       "alice" "kms:DisableKey"          [all]          => KEY_DENY;
        "alice enables":        "alice" "kms:EnableKey"           [all]          => ALLOW;
        "account deny, user":   "alice" "kms:ScheduleKeyDeletion" [all]          => KEY_DENY;
        "account deny, root":   "root"  "kms:ScheduleKeyDeletion" []             => KEY_DENY;
        "identity deny":        "alice" "kms:TagResource"         [no_tags]      => IAM_DENY;
        "identity allow":       "alice" "kms:Encrypt"             [no_tags]      => ALLOW;
        "two identity policies": "alice" "kms:UntagResource"      [all, no_tags] => IAM_DENY;
        "plain HTTP":           "root"  "kms:Encrypt" [] [TLS = "false"]         => KEY_DENY;
        "TLS":                  "root"  "kms:Encrypt" [] [TLS = "true"]          => ALLOW;
        "TLS unknown":          "root"  "kms:Encrypt"             []             => ALLOW;
        "bob encrypts":         "bob"   "kms:Encrypt"             [all]          => ALLOW;
        "bob describes":        "bob"   "kms:DescribeKey"         [all]          => KEY_DENY;
    );
}

/// `NotPrincipal` with `Deny`: everyone but the listed principals (the IAM guide's warning
/// included: listing a user without its account denies the user too).
#[test]
fn not_principal() {
    let policy = key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:root"}},
            "Action": "kms:*", "Resource": "*"}},
          {{"Effect": "Deny",
            "NotPrincipal": {{"AWS": ["arn:aws:iam::{OWNER}:user/KeyAdmin",
                                      "arn:aws:iam::{OWNER}:root"]}},
            "Action": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"], "Resource": "*"}},
          {{"Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}},
            "Action": "kms:DisableKey", "Resource": "*"}}"#
    ));
    let all = allow(r#""kms:*""#, "*");
    cases!(policy;
        "the admin":             "KeyAdmin" "kms:ScheduleKeyDeletion" [all] => ALLOW;
        "the root":              "root"     "kms:PutKeyPolicy"        []    => ALLOW;
        "anyone else":           "alice"    "kms:ScheduleKeyDeletion" [all] => KEY_DENY;
        "not about that action": "alice"    "kms:Encrypt"             [all] => ALLOW;
        "user listed alone":     "alice"    "kms:DisableKey"          [all] => KEY_DENY;
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
    let root = format!("arn:aws:iam::{OWNER}:root");
    assert_eq!(value["Statement"][0]["Principal"]["AWS"], root.as_str());
    assert!(text.contains("\"Version\" : \"2012-10-17\""));
    let policy = key_policy(&text);
    assert_eq!(policy.accounts().into_iter().collect::<Vec<_>>(), [OWNER]);
    assert!(policy.users().is_empty() && policy.inert_statements().is_empty());
}
