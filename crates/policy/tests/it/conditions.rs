//! The IAM user guide's condition operator examples ("IAM JSON policy elements: Condition
//! operators", "Multivalued context keys", "Policy variables"), each with the decision the
//! guide gives, adapted to KMS keys where the guide uses another service's.

use trent_policy::{ContextValue, Decision, Policy, Request};

use crate::decisions;
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

/// alice's kms:Encrypt with one key set.
fn with1(key: &str, value: &str) -> Request {
    with(&[(key, value)])
}

fn with_set(key: &str, values: &[&str]) -> Request {
    request(OWNER, "alice", "kms:Encrypt").with(key, ContextValue::from(values))
}

#[test]
fn string_operators() {
    let p = when(r#"{"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}"#);
    decisions!(p;
        "equal":              with1("aws:PrincipalTag/job-category", "iamuser-admin") => ALLOW;
        "key in another case": with1("AWS:principaltag/JOB-CATEGORY", "iamuser-admin") => ALLOW;
        "value case-sensitive": with1("aws:PrincipalTag/job-category", "IAMUser-Admin") => NONE;
        "absent":             with(&[]) => NONE;
    );
    let p =
        when(r#"{"StringNotEquals": {"kms:EncryptionAlgorithm": ["RSAES_OAEP_SHA_1", "SM2PKE"]}}"#);
    decisions!(p;
        "another value":      with1("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT") => ALLOW;
        "one of them":        with1("kms:EncryptionAlgorithm", "SM2PKE") => NONE;
        "absent: a negated operator matches": with(&[]) => ALLOW;
    );
    let p = when(r#"{"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "Crypto"}}"#);
    decisions!(p;
        "any case":           with1("aws:PrincipalTag/team", "cRYPTO") => ALLOW;
        "other":              with1("aws:PrincipalTag/team", "crypt") => NONE;
    );
    let p = when(r#"{"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/team": "Crypto"}}"#);
    decisions!(p;
        "same, another case": with1("aws:PrincipalTag/team", "CRYPTO") => NONE;
        "other":              with1("aws:PrincipalTag/team", "web") => ALLOW;
    );
    let p = when(r#"{"StringLike": {"kms:RequestAlias": ["alias/project-*", "alias/app-??"]}}"#);
    decisions!(p;
        "star":               with1("kms:RequestAlias", "alias/project-alpha") => ALLOW;
        "two of ?":           with1("kms:RequestAlias", "alias/app-01") => ALLOW;
        "three is not two":   with1("kms:RequestAlias", "alias/app-001") => NONE;
        "other":              with1("kms:RequestAlias", "alias/other") => NONE;
    );
    let p = when(r#"{"StringNotLike": {"kms:RequestAlias": "alias/aws/*"}}"#);
    decisions!(p;
        "not like":           with1("kms:RequestAlias", "alias/mine") => ALLOW;
        "like":               with1("kms:RequestAlias", "alias/aws/ebs") => NONE;
        "absent":             with(&[]) => ALLOW;
    );
}

#[test]
fn policy_variables() {
    // The guide's home-directory pattern, on aliases: each user may use only its own.
    let p = when(r#"{"StringLike": {"kms:RequestAlias": "alias/${aws:username}-*"}}"#);
    decisions!(p;
        "own alias":          with1("kms:RequestAlias", "alias/alice-key") => ALLOW;
        "someone else's":     with1("kms:RequestAlias", "alias/bob-key") => NONE;
    );
    let p = when(r#"{"StringEquals": {"aws:PrincipalTag/owner": "${aws:PrincipalAccount}"}}"#);
    decisions!(p;
        "the account":        with1("aws:PrincipalTag/owner", OWNER) => ALLOW;
        "the variable's text": with1("aws:PrincipalTag/owner", "${aws:PrincipalAccount}") => NONE;
    );
    // ${*}, ${?} and ${$} are the characters themselves.
    let p = when(r#"{"StringLike": {"aws:PrincipalTag/literal": "a${*}b${?}${$}*"}}"#);
    decisions!(p;
        "literal characters": with1("aws:PrincipalTag/literal", "a*b?$tail") => ALLOW;
        "not wildcards":      with1("aws:PrincipalTag/literal", "axbc$tail") => NONE;
    );
    // A variable in Resource: an identity policy for the user's own alias ARN.
    let own = identity_policy(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*",
            "Resource": "arn:aws:kms:*:${aws:PrincipalAccount}:alias/${aws:username}"}}"#,
    );
    let alias = |owner: &str, name: &str| {
        let arn = trent_model::Arn::kms("us-west-2", &account(owner), format!("alias/{name}"));
        Request::new("kms:UpdateAlias", &principal(OWNER, "alice"), &arn)
    };
    decisions!(own;
        "own alias":          alias(OWNER, "alice") => ALLOW;
        "another's alias":    alias(OWNER, "bob") => NONE;
        "another account's":  alias(OTHER, "alice") => NONE;
    );
    // 2008-10-17 has no variables: ${...} is text.
    let old = key_policy(&format!(
        r#"{{"Version": "2008-10-17", "Statement": {{"Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{OWNER}:user/alice"}}, "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {{"StringEquals": {{"aws:PrincipalTag/x": "${{aws:username}}"}}}}}}}}"#
    ));
    decisions!(old;
        "text":               with1("aws:PrincipalTag/x", "${aws:username}") => ALLOW;
        "not substituted":    with1("aws:PrincipalTag/x", "alice") => NONE;
    );
}

#[test]
fn numeric_and_date_operators() {
    // The KMS guide's kms:RotationPeriodInDays example: between 90 and 180 days.
    let p = when(
        r#"{"NumericLessThanEquals": {"kms:RotationPeriodInDays": "180"},
            "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": "90"}}"#,
    );
    const DAYS: &str = "kms:RotationPeriodInDays";
    decisions!(p;
        "inside":             with1(DAYS, "120") => ALLOW;
        "bounds":             with1(DAYS, "180") => ALLOW;
        "above":              with1(DAYS, "365") => NONE;
        "below":              with1(DAYS, "30") => NONE;
        "not a number":       with1(DAYS, "lots") => NONE;
        "absent":             with(&[]) => NONE;
    );
    let p = when(r#"{"NumericNotEquals": {"kms:RotationPeriodInDays": ["365", "730.0"]}}"#);
    decisions!(p;
        "another":            with1(DAYS, "90") => ALLOW;
        "one of them":        with1(DAYS, "730") => NONE;
    );
    // The guide's time window: between two dates, ISO 8601 or epoch seconds.
    let p = when(
        r#"{"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
            "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}"#,
    );
    const NOW: &str = "aws:CurrentTime";
    decisions!(p;
        "inside":             with1(NOW, "2020-05-15T12:00:00Z") => ALLOW;
        "inside, other zone": with1(NOW, "2020-06-30T20:00:00-02:00") => ALLOW;
        "after":              with1(NOW, "2020-07-01T00:00:00Z") => NONE;
        "before":             with1(NOW, "2019-12-31T00:00:00Z") => NONE;
        "epoch seconds":      with1(NOW, "1589544000") => ALLOW;
    );
    let p = when(r#"{"DateLessThanEquals": {"aws:EpochTime": "1601510400"}}"#);
    decisions!(p;
        "before":             with1("aws:EpochTime", "1601510399") => ALLOW;
        "equal, as a date":   with1("aws:EpochTime", "2020-10-01T00:00:00Z") => ALLOW;
        "after":              with1("aws:EpochTime", "1601510401") => NONE;
    );
}

#[test]
fn bool_binary_ip_arn_and_null() {
    let p = when(r#"{"Bool": {"aws:SecureTransport": "true"}}"#);
    decisions!(p;
        "TLS":                with1("aws:SecureTransport", "true") => ALLOW;
        "any case":           with1("aws:SecureTransport", "TRUE") => ALLOW;
        "plain":              with1("aws:SecureTransport", "false") => NONE;
        "absent":             with(&[]) => NONE;
    );
    // JSON booleans are taken as AWS takes them.
    let p = when(r#"{"Bool": {"kms:GrantIsForAWSResource": true}}"#);
    decisions!(p; "JSON true": with1("kms:GrantIsForAWSResource", "true") => ALLOW;);
    let p = when(r#"{"BinaryEquals": {"aws:PrincipalTag/blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#);
    decisions!(p;
        "same bytes":  with1("aws:PrincipalTag/blob", "QmluYXJ5VmFsdWVJbkJhc2U2NA==") => ALLOW;
        "other bytes":        with1("aws:PrincipalTag/blob", "QmluYXJ5") => NONE;
        "not base64":         with1("aws:PrincipalTag/blob", "!!") => NONE;
    );
    let p =
        when(r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}"#);
    decisions!(p;
        "v4 inside":          with1("aws:SourceIp", "203.0.113.7") => ALLOW;
        "v6 inside":          with1("aws:SourceIp", "2001:db8:1234:5678::9") => ALLOW;
        "outside":            with1("aws:SourceIp", "198.51.100.1") => NONE;
        "v6 outside":         with1("aws:SourceIp", "2001:db8:1234:5679::9") => NONE;
    );
    // The guide's "deny outside these ranges" statement, as an allow of its complement.
    let p = when(r#"{"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}"#);
    decisions!(p;
        "outside":            with1("aws:SourceIp", "198.51.100.1") => ALLOW;
        "inside":             with1("aws:SourceIp", "192.0.2.10") => NONE;
    );
    let users = when(&format!(
        r#"{{"ArnLike": {{"aws:PrincipalArn": "arn:aws:iam::{OWNER}:user/*"}}}}"#
    ));
    let not_alice = when(&format!(
        r#"{{"ArnNotEquals": {{"aws:PrincipalArn": "arn:aws:iam::{OWNER}:user/alice"}}}}"#
    ));
    decisions!(users; "alice is a user of the account": with(&[]) => ALLOW;);
    decisions!(not_alice; "alice is excluded": with(&[]) => NONE;);
    let p = when(r#"{"Null": {"aws:TokenIssueTime": "true"}}"#);
    decisions!(p;
        "long-term credentials": with(&[]) => ALLOW;
        "temporary ones":     with1("aws:TokenIssueTime", "2020-01-01T00:00:00Z") => NONE;
    );
}

#[test]
fn if_exists_and_set_operators() {
    let p = when(r#"{"StringEqualsIfExists": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}"#);
    decisions!(p;
        "absent":             with(&[]) => ALLOW;
        "equal":              with1("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT") => ALLOW;
        "other":              with1("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256") => NONE;
    );
    let all =
        when(r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#);
    let any =
        when(r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#);
    let keys = |values: &[&str]| with_set("aws:TagKeys", values);
    decisions!(all;
        "subset":             keys(&["environment"]) => ALLOW;
        "both":               keys(&["cost-center", "environment"]) => ALLOW;
        "one outside":        keys(&["environment", "owner"]) => NONE;
        "absent":             with(&[]) => ALLOW;
        "empty set":          keys(&[]) => ALLOW;
    );
    decisions!(any;
        "one of them":        keys(&["environment", "owner"]) => ALLOW;
        "none":               keys(&["owner"]) => NONE;
        "absent":             with(&[]) => NONE;
    );
    let none_reserved = when(r#"{"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}"#);
    decisions!(none_reserved;
        "no reserved key":    keys(&["a", "b"]) => ALLOW;
        "a reserved key":     keys(&["a", "aws:x"]) => NONE;
    );
}

#[test]
fn several_values_are_or_and_several_keys_are_and() {
    let p = when(
        r#"{"StringEquals": {"aws:PrincipalTag/department": ["finance", "hr", "legal"],
                             "aws:PrincipalTag/role": ["audit", "security"]}}"#,
    );
    let tags = |d, r| {
        with(&[
            ("aws:PrincipalTag/department", d),
            ("aws:PrincipalTag/role", r),
        ])
    };
    decisions!(p;
        "hr auditor":         tags("hr", "audit") => ALLOW;
        "legal security":     tags("legal", "security") => ALLOW;
        "it auditor":         tags("it", "audit") => NONE;
        "hr developer":       tags("hr", "developer") => NONE;
        "department only":    with1("aws:PrincipalTag/department", "hr") => NONE;
    );
}
