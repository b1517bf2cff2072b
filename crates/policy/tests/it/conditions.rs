//! The IAM user guide's condition operator examples ("IAM JSON policy elements: Condition
//! operators", "Multivalued context keys", "Policy variables"), each with the decision the
//! guide gives, adapted to KMS keys where the guide uses another service's.

use trent_policy::{ContextValue, Decision, Policy, Request};

use crate::support::*;

const ALLOW: Decision = Decision::Allow;
const NONE: Decision = Decision::NotApplicable;

/// A key policy letting alice call kms:Encrypt under `condition` (a JSON object).
fn when(condition: &str) -> Policy {
    key_policy_of(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}},
            "Action": "kms:Encrypt", "Resource": "*", "Condition": {condition}}}"#
    ))
}

/// alice's kms:Encrypt with `pairs` set.
fn with(pairs: &[(&str, &str)]) -> Request {
    let mut r = request(OWNER, "alice", "kms:Encrypt");
    for (k, v) in pairs {
        r.set(k, *v);
    }
    r
}

fn with_set(key: &str, values: &[&str]) -> Request {
    request(OWNER, "alice", "kms:Encrypt").with(key, ContextValue::from(values))
}

#[test]
fn string_operators() {
    let p = when(r#"{"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}"#);
    check_decisions(
        &p,
        &[
            (
                "equal",
                with(&[("aws:PrincipalTag/job-category", "iamuser-admin")]),
                ALLOW,
            ),
            (
                "key name in another case",
                with(&[("AWS:principaltag/JOB-CATEGORY", "iamuser-admin")]),
                ALLOW,
            ),
            (
                "value is case-sensitive",
                with(&[("aws:PrincipalTag/job-category", "IAMUser-Admin")]),
                NONE,
            ),
            ("absent", with(&[]), NONE),
        ],
    );
    let p =
        when(r#"{"StringNotEquals": {"kms:EncryptionAlgorithm": ["RSAES_OAEP_SHA_1", "SM2PKE"]}}"#);
    check_decisions(
        &p,
        &[
            (
                "another value",
                with(&[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]),
                ALLOW,
            ),
            (
                "one of them",
                with(&[("kms:EncryptionAlgorithm", "SM2PKE")]),
                NONE,
            ),
            ("absent: a negated operator matches", with(&[]), ALLOW),
        ],
    );
    let p = when(r#"{"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Crypto"}}"#);
    check_decisions(
        &p,
        &[
            (
                "any case",
                with(&[("aws:PrincipalTag/team", "cRYPTO")]),
                ALLOW,
            ),
            ("other", with(&[("aws:PrincipalTag/team", "crypt")]), NONE),
        ],
    );
    let p = when(r#"{"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "Crypto"}}"#);
    check_decisions(
        &p,
        &[
            (
                "same in another case",
                with(&[("aws:PrincipalTag/team", "CRYPTO")]),
                NONE,
            ),
            ("other", with(&[("aws:PrincipalTag/team", "web")]), ALLOW),
        ],
    );
    let p = when(r#"{"StringLike": {"kms:RequestAlias": ["alias/project-*", "alias/app-??"]}}"#);
    check_decisions(
        &p,
        &[
            (
                "star",
                with(&[("kms:RequestAlias", "alias/project-alpha")]),
                ALLOW,
            ),
            (
                "two of ?",
                with(&[("kms:RequestAlias", "alias/app-01")]),
                ALLOW,
            ),
            (
                "three is not two",
                with(&[("kms:RequestAlias", "alias/app-001")]),
                NONE,
            ),
            ("other", with(&[("kms:RequestAlias", "alias/other")]), NONE),
        ],
    );
    let p = when(r#"{"StringNotLike": {"kms:RequestAlias": "alias/aws/*"}}"#);
    check_decisions(
        &p,
        &[
            (
                "not like",
                with(&[("kms:RequestAlias", "alias/mine")]),
                ALLOW,
            ),
            ("like", with(&[("kms:RequestAlias", "alias/aws/ebs")]), NONE),
            ("absent", with(&[]), ALLOW),
        ],
    );
}

#[test]
fn policy_variables() {
    // The guide's home-directory pattern, on aliases: each user may use only its own.
    let p = when(r#"{"StringLike": {"kms:RequestAlias": "alias/${aws:username}-*"}}"#);
    check_decisions(
        &p,
        &[
            (
                "own alias",
                with(&[("kms:RequestAlias", "alias/alice-key")]),
                ALLOW,
            ),
            (
                "someone else's",
                with(&[("kms:RequestAlias", "alias/bob-key")]),
                NONE,
            ),
        ],
    );
    let p = when(r#"{"StringEquals": {"aws:PrincipalTag/owner": "${aws:PrincipalAccount}"}}"#);
    check_decisions(
        &p,
        &[
            (
                "the account",
                with(&[("aws:PrincipalTag/owner", OWNER)]),
                ALLOW,
            ),
            (
                "a variable is literal text after substitution",
                with(&[("aws:PrincipalTag/owner", "${aws:PrincipalAccount}")]),
                NONE,
            ),
        ],
    );
    // ${*}, ${?} and ${$} are the characters themselves.
    let p = when(r#"{"StringLike": {"aws:PrincipalTag/literal": "a${*}b${?}${$}*"}}"#);
    check_decisions(
        &p,
        &[
            (
                "literal characters",
                with(&[("aws:PrincipalTag/literal", "a*b?$tail")]),
                ALLOW,
            ),
            (
                "not wildcards",
                with(&[("aws:PrincipalTag/literal", "axbc$tail")]),
                NONE,
            ),
        ],
    );
    // A variable in Resource: an identity policy for the user's own alias ARN.
    let own = identity_policy(&format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "kms:*",
            "Resource": "arn:aws:kms:*:${{aws:PrincipalAccount}}:alias/${{aws:username}}"}}}}"#
    ));
    let alias = |account: &str, name: &str| {
        let arn = trent_model::Arn::kms(
            "us-west-2",
            &crate::support::account(account),
            format!("alias/{name}"),
        );
        Request::new("kms:UpdateAlias", &principal(OWNER, "alice"), &arn)
    };
    check_decisions(
        &own,
        &[
            ("own alias", alias(OWNER, "alice"), ALLOW),
            ("another's alias", alias(OWNER, "bob"), NONE),
            ("another account's", alias(OTHER, "alice"), NONE),
        ],
    );
    // 2008-10-17 has no variables: ${...} is text.
    let old = key_policy(&format!(
        r#"{{"Version": "2008-10-17", "Statement": {{"Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}}, "Action": "kms:Encrypt",
            "Resource": "*", "Condition": {{"StringEquals": {{"aws:PrincipalTag/x": "${{aws:username}}"}}}}}}}}"#
    ));
    check_decisions(
        &old,
        &[
            (
                "text",
                with(&[("aws:PrincipalTag/x", "${aws:username}")]),
                ALLOW,
            ),
            (
                "not substituted",
                with(&[("aws:PrincipalTag/x", "alice")]),
                NONE,
            ),
        ],
    );
}

#[test]
fn numeric_and_date_operators() {
    // The KMS guide's kms:RotationPeriodInDays example: between 90 and 180 days.
    let p = when(
        r#"{"NumericLessThanEquals": {"kms:RotationPeriodInDays": "180"},
            "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": "90"}}"#,
    );
    check_decisions(
        &p,
        &[
            (
                "inside",
                with(&[("kms:RotationPeriodInDays", "120")]),
                ALLOW,
            ),
            (
                "bounds",
                with(&[("kms:RotationPeriodInDays", "180")]),
                ALLOW,
            ),
            ("above", with(&[("kms:RotationPeriodInDays", "365")]), NONE),
            ("below", with(&[("kms:RotationPeriodInDays", "30")]), NONE),
            (
                "not a number",
                with(&[("kms:RotationPeriodInDays", "lots")]),
                NONE,
            ),
            ("absent", with(&[]), NONE),
        ],
    );
    let p = when(r#"{"NumericNotEquals": {"kms:RotationPeriodInDays": ["365", "730.0"]}}"#);
    check_decisions(
        &p,
        &[
            (
                "another",
                with(&[("kms:RotationPeriodInDays", "90")]),
                ALLOW,
            ),
            (
                "one of them",
                with(&[("kms:RotationPeriodInDays", "730")]),
                NONE,
            ),
        ],
    );
    // The guide's time window: between two dates, ISO 8601 or epoch seconds.
    let p = when(
        r#"{"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
            "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}"#,
    );
    check_decisions(
        &p,
        &[
            (
                "inside",
                with(&[("aws:CurrentTime", "2020-05-15T12:00:00Z")]),
                ALLOW,
            ),
            (
                "inside, another zone",
                with(&[("aws:CurrentTime", "2020-06-30T20:00:00-02:00")]),
                ALLOW,
            ),
            (
                "after",
                with(&[("aws:CurrentTime", "2020-07-01T00:00:00Z")]),
                NONE,
            ),
            (
                "before",
                with(&[("aws:CurrentTime", "2019-12-31T00:00:00Z")]),
                NONE,
            ),
            (
                "epoch seconds",
                with(&[("aws:CurrentTime", "1589544000")]),
                ALLOW,
            ),
        ],
    );
    let p = when(r#"{"DateLessThanEquals": {"aws:EpochTime": "1601510400"}}"#);
    check_decisions(
        &p,
        &[
            ("before", with(&[("aws:EpochTime", "1601510399")]), ALLOW),
            (
                "equal, as a date",
                with(&[("aws:EpochTime", "2020-10-01T00:00:00Z")]),
                ALLOW,
            ),
            ("after", with(&[("aws:EpochTime", "1601510401")]), NONE),
        ],
    );
}

#[test]
fn bool_binary_ip_arn_and_null() {
    let p = when(r#"{"Bool": {"aws:SecureTransport": "true"}}"#);
    check_decisions(
        &p,
        &[
            ("TLS", with(&[("aws:SecureTransport", "true")]), ALLOW),
            ("any case", with(&[("aws:SecureTransport", "TRUE")]), ALLOW),
            ("plain", with(&[("aws:SecureTransport", "false")]), NONE),
            ("absent", with(&[]), NONE),
        ],
    );
    // JSON booleans are taken as AWS takes them.
    let p = when(r#"{"Bool": {"kms:GrantIsForAWSResource": true}}"#);
    check_decisions(
        &p,
        &[(
            "JSON true",
            with(&[("kms:GrantIsForAWSResource", "true")]),
            ALLOW,
        )],
    );
    let p = when(r#"{"BinaryEquals": {"aws:PrincipalTag/blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#);
    check_decisions(
        &p,
        &[
            (
                "same bytes",
                with(&[("aws:PrincipalTag/blob", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")]),
                ALLOW,
            ),
            (
                "other bytes",
                with(&[("aws:PrincipalTag/blob", "QmluYXJ5")]),
                NONE,
            ),
            ("not base64", with(&[("aws:PrincipalTag/blob", "!!")]), NONE),
        ],
    );
    let p =
        when(r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}"#);
    check_decisions(
        &p,
        &[
            ("v4 inside", with(&[("aws:SourceIp", "203.0.113.7")]), ALLOW),
            (
                "v6 inside",
                with(&[("aws:SourceIp", "2001:db8:1234:5678::9")]),
                ALLOW,
            ),
            ("outside", with(&[("aws:SourceIp", "198.51.100.1")]), NONE),
            (
                "v6 outside",
                with(&[("aws:SourceIp", "2001:db8:1234:5679::9")]),
                NONE,
            ),
        ],
    );
    // The guide's "deny outside these ranges" statement, as an allow of its complement.
    let p = when(r#"{"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}"#);
    check_decisions(
        &p,
        &[
            ("outside", with(&[("aws:SourceIp", "198.51.100.1")]), ALLOW),
            ("inside", with(&[("aws:SourceIp", "192.0.2.10")]), NONE),
        ],
    );
    let p = when(&format!(
        r#"{{"ArnLike": {{"aws:PrincipalArn": "arn:aws:iam::{OWNER}:user/*"}}}}"#
    ));
    check_decisions(&p, &[("alice is a user of the account", with(&[]), ALLOW)]);
    let p = when(&format!(
        r#"{{"ArnNotEquals": {{"aws:PrincipalArn": "arn:aws:iam::{OWNER}:user/alice"}}}}"#
    ));
    check_decisions(&p, &[("alice is excluded", with(&[]), NONE)]);
    let p = when(r#"{"Null": {"aws:TokenIssueTime": "true"}}"#);
    check_decisions(
        &p,
        &[
            ("long-term credentials", with(&[]), ALLOW),
            (
                "temporary ones",
                with(&[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]),
                NONE,
            ),
        ],
    );
}

#[test]
fn if_exists_and_set_operators() {
    let p = when(r#"{"StringEqualsIfExists": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#);
    check_decisions(
        &p,
        &[
            ("absent", with(&[]), ALLOW),
            (
                "equal",
                with(&[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]),
                ALLOW,
            ),
            (
                "other",
                with(&[("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256")]),
                NONE,
            ),
        ],
    );
    let all =
        when(r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#);
    let any =
        when(r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#);
    let keys = |values: &[&str]| with_set("aws:TagKeys", values);
    check_decisions(
        &all,
        &[
            ("subset", keys(&["environment"]), ALLOW),
            ("both", keys(&["cost-center", "environment"]), ALLOW),
            ("one outside", keys(&["environment", "owner"]), NONE),
            ("absent", with(&[]), ALLOW),
            ("empty set", keys(&[]), ALLOW),
        ],
    );
    check_decisions(
        &any,
        &[
            ("one of them", keys(&["environment", "owner"]), ALLOW),
            ("none", keys(&["owner"]), NONE),
            ("absent", with(&[]), NONE),
        ],
    );
    let none_of = when(r#"{"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}"#);
    check_decisions(
        &none_of,
        &[
            ("no reserved key", keys(&["a", "b"]), ALLOW),
            ("a reserved key", keys(&["a", "aws:x"]), NONE),
        ],
    );
}

#[test]
fn several_values_are_or_and_several_keys_are_and() {
    let p = when(
        r#"{"StringEquals": {"aws:PrincipalTag/department": ["finance", "hr", "legal"],
                             "aws:PrincipalTag/role": ["audit", "security"]}}"#,
    );
    let tags = |d: &str, r: &str| {
        with(&[
            ("aws:PrincipalTag/department", d),
            ("aws:PrincipalTag/role", r),
        ])
    };
    check_decisions(
        &p,
        &[
            ("hr auditor", tags("hr", "audit"), ALLOW),
            ("legal security", tags("legal", "security"), ALLOW),
            ("it auditor", tags("it", "audit"), NONE),
            ("hr developer", tags("hr", "developer"), NONE),
            (
                "department only",
                with(&[("aws:PrincipalTag/department", "hr")]),
                NONE,
            ),
        ],
    );
}
