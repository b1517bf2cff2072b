//! The key policy, grant and user policy refusals of the AWS fidelity suite (`fidelity.rs`
//! sends them with the rest, against the same fixture): each as AWS answers it.

use serde_json::json;

use crate::fidelity::{case, null, silent, Case, Fixture};

pub(crate) fn policy_and_grant_cases(f: &Fixture) -> Vec<Case> {
    let unknown = "0000abcd-12ab-34cd-56ef-1234567890ab";
    let root = format!("arn:aws:iam::{}:root", f.account);
    let only = |principal: &str| {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:*", "Resource": "*",
        }]})
        .to_string()
    };
    let other_account = only("arn:aws:iam::444455556666:root");
    let no_such_user = only(&format!("arn:aws:iam::{}:user/nobody", f.account));
    let no_principal = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "*",
    }]})
    .to_string();
    let token = format!("trent-grant-1.{unknown}.{}", "0".repeat(64));
    vec![
        case(
            "GetKeyPolicy",
            json!({}),
            "ValidationException",
            &null("keyId"),
        ),
        case(
            "GetKeyPolicy",
            json!({"KeyId": f.enabled, "PolicyName": "other"}),
            "NotFoundException",
            "No such policy exists: other",
        ),
        case(
            "GetKeyPolicy",
            json!({"KeyId": unknown}),
            "NotFoundException",
            &format!("Key '{}' does not exist", f.arn(unknown)),
        ),
        case(
            "PutKeyPolicy",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            &null("policy"),
        ),
        case(
            "PutKeyPolicy",
            json!({"KeyId": f.enabled, "Policy": no_principal}),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with no principal.",
        ),
        case(
            "PutKeyPolicy",
            json!({"KeyId": f.enabled, "Policy": no_such_user}),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.",
        ),
        case(
            "PutKeyPolicy",
            json!({"KeyId": f.enabled, "Policy": other_account}),
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        ),
        case(
            "PutKeyPolicy",
            json!({"KeyId": f.enabled, "Policy": " ".repeat(32_769)}),
            "LimitExceededException",
            "The policy document is 32769 bytes, over the limit of 32768 bytes",
        ),
        silent(
            "ListKeyPolicies",
            json!({"KeyId": f.enabled, "Marker": "x"}),
            "InvalidMarkerException",
        ),
        case(
            "CreateGrant",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            &null("operations"),
        ),
        case(
            "CreateGrant",
            json!({"KeyId": f.enabled, "Operations": ["Encrypt"]}),
            "ValidationException",
            &null("granteePrincipal"),
        ),
        case(
            "CreateGrant",
            json!({"KeyId": f.enabled, "GranteePrincipal": "bob", "Operations": ["Encrypt"]}),
            "ValidationException",
            "GranteePrincipal 'bob' is not a valid principal: give an account id, an account \
             root ARN or an IAM user or role ARN",
        ),
        case(
            "CreateGrant",
            json!({"KeyId": f.enabled, "GranteePrincipal": root, "Operations": ["Sign", "Verify"]}),
            "ValidationException",
            "Sign, Verify cannot be granted on a key with KeyUsage ENCRYPT_DECRYPT",
        ),
        case(
            "CreateGrant",
            json!({
                "KeyId": f.enabled, "GranteePrincipal": root, "Operations": ["DescribeKey"],
                "Constraints": {"EncryptionContextEquals": {"a": "b"}},
            }),
            "ValidationException",
            "Grant constraints apply only to operations that take an encryption context; \
             DescribeKey take none",
        ),
        case(
            "CreateGrant",
            json!({
                "KeyId": f.enabled, "GranteePrincipal": root, "Operations": ["Encrypt"],
                "GrantTokens": ["forged"],
            }),
            "InvalidGrantTokenException",
            "Invalid grant token",
        ),
        case(
            "CreateGrant",
            json!({"KeyId": f.pending, "GranteePrincipal": root, "Operations": ["Encrypt"]}),
            "KMSInvalidStateException",
            &format!("{} is pending deletion.", f.arn(&f.pending)),
        ),
        case(
            "CreateGrant",
            json!({
                "KeyId": f.enabled, "GranteePrincipal": root, "Operations": ["Encrypt"],
                "DryRun": true,
            }),
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ),
        case(
            "RevokeGrant",
            json!({"KeyId": f.enabled, "GrantId": "nope"}),
            "InvalidGrantIdException",
            "Invalid grant ID nope",
        ),
        case(
            "RevokeGrant",
            json!({"KeyId": f.enabled, "GrantId": "0".repeat(64)}),
            "NotFoundException",
            &format!("Grant ID {} not found", "0".repeat(64)),
        ),
        case(
            "RetireGrant",
            json!({}),
            "ValidationException",
            "Give either GrantToken, or KeyId and GrantId",
        ),
        case(
            "RetireGrant",
            json!({"GrantToken": "forged"}),
            "InvalidGrantTokenException",
            "Invalid grant token",
        ),
        case(
            "RetireGrant",
            json!({"GrantToken": token}),
            "NotFoundException",
            &format!("Grant ID {} not found", "0".repeat(64)),
        ),
        case(
            "ListGrants",
            json!({"KeyId": f.enabled, "GrantId": "short"}),
            "InvalidGrantIdException",
            "Invalid grant ID short",
        ),
        silent(
            "ListGrants",
            json!({"KeyId": f.enabled, "Marker": "x"}),
            "InvalidMarkerException",
        ),
        case(
            "ListRetirableGrants",
            json!({"RetiringPrincipal": "arn:aws:iam::444455556666:user/x"}),
            "AccessDeniedException",
            &format!(
                "User: {root} is not authorized to perform: kms:ListRetirableGrants on \
                 resource: arn:aws:iam::444455556666:user/x because it names a principal of \
                 another account"
            ),
        ),
    ]
}
