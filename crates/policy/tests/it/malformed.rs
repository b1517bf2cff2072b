//! Malformed documents, each with the message it is refused with.

use trent_model::{Error, ErrorKind};
use trent_policy::{Policy, MAX_POLICY_BYTES};

const PRINCIPAL: &str = r#""Principal": {"AWS": "arn:aws:iam::111122223333:root"}"#;

/// A key policy whose one statement is `members` plus Principal, Action and Resource
/// (unless `members` names them itself).
fn statement(members: &str) -> String {
    let mut parts = vec![members.to_owned()];
    for (name, default) in [
        ("Principal", PRINCIPAL),
        ("Action", r#""Action": "kms:Encrypt""#),
        ("Resource", r#""Resource": "*""#),
        ("Effect", r#""Effect": "Allow""#),
    ] {
        if !members.contains(&format!("\"{name}\"")) && !members.contains(&format!("\"Not{name}\""))
        {
            parts.push(default.to_owned());
        }
    }
    let body = parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    format!(r#"{{"Version": "2012-10-17", "Statement": [{{{body}}}]}}"#)
}

fn condition(condition: &str) -> String {
    statement(&format!(r#""Condition": {condition}"#))
}

#[test]
fn key_policies() {
    let place = "statement 1";
    let cases: Vec<(String, Error)> = vec![
        ("[]".into(), Error::policy_json("it is a list")),
        (r#"{"Version": "2012-10-17"}"#.into(), Error::policy_missing("Statement", "the policy")),
        (r#"{"Statement": []}"#.into(), Error::policy_empty("Statement", "the policy")),
        (
            r#"{"Statement": "Allow"}"#.into(),
            Error::policy_element_type("Statement", "the policy", "an object or a list of objects"),
        ),
        (r#"{"Statement": ["Allow"]}"#.into(), Error::policy_element_type("Statement", place, "an object")),
        (
            r#"{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {}}"#.into(),
            Error::policy_duplicate("Version", "the policy"),
        ),
        (
            r#"{"Version": "2012-10-17", "Statements": []}"#.into(),
            Error::policy_unknown_element("Statements", "the policy"),
        ),
        (r#"{"Version": "2019-01-01", "Statement": {}}"#.into(), Error::policy_version("2019-01-01")),
        (
            r#"{"Version": 2012, "Statement": {}}"#.into(),
            Error::policy_element_type("Version", "the policy", "a string"),
        ),
        (r#"{"Id": ["x"], "Statement": {}}"#.into(), Error::policy_element_type("Id", "the policy", "a string")),
        (r#"{"Statement": {"Sid": "1"}}"#.into(), Error::policy_missing("Effect", r#"statement 1 ("1")"#)),
        (statement(r#""Effect": "allow""#), Error::policy_effect("allow", place)),
        (
            statement(r#""Effect": "Allow", "Effect": "Deny""#),
            Error::policy_duplicate("Effect", place),
        ),
        (statement(r#""Sid": 7"#), Error::policy_element_type("Sid", place, "a string")),
        (statement(r#""Principals": "*""#), Error::policy_unknown_element("Principals", place)),
        (statement(r#""Principal": {"AWS": "alice"}"#), Error::policy_invalid_principals()),
        (
            statement(r#""Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}"#),
            Error::policy_invalid_principals(),
        ),
        (statement(r#""Principal": {"Federated": "accounts.google.com"}"#), Error::policy_invalid_principals()),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#.into(),
            Error::policy_no_principal(),
        ),
        (
            statement(&format!(r#"{PRINCIPAL}, "NotPrincipal": {{"AWS": "*"}}"#)),
            Error::policy_exclusive("Principal", "NotPrincipal", place),
        ),
        (
            statement(r#""Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}"#),
            Error::policy_not_principal_allow(place),
        ),
        (statement(r#""Action": "Encrypt""#), Error::policy_no_vendor()),
        (statement(r#""Action": ["kms:Encrypt", "kms:En:crypt"]"#), Error::policy_colons()),
        (statement(r#""Action": "km$:Encrypt""#), Error::policy_vendor("km$")),
        (statement(r#""Action": 3"#), Error::policy_element_type("Action", place, "a string or a list of strings")),
        (
            statement(r#""Action": "kms:Encrypt", "NotAction": "kms:Decrypt""#),
            Error::policy_exclusive("Action", "NotAction", place),
        ),
        (statement(r#""Resource": "key/1234""#), Error::policy_resource_format("key/1234")),
        (
            statement(r#""Resource": "*", "NotResource": "*""#),
            Error::policy_exclusive("Resource", "NotResource", place),
        ),
        (condition(r#""yes""#), Error::policy_element_type("Condition", place, "an object")),
        (
            condition(r#"{"StringEqualz": {"aws:SourceIp": "x"}}"#),
            Error::policy_condition_operator("StringEqualz", place),
        ),
        (
            condition(r#"{"NullIfExists": {"aws:SourceIp": "true"}}"#),
            Error::policy_condition_operator("NullIfExists", place),
        ),
        (
            condition(r#"{"ForAnyValue:Null": {"aws:TagKeys": "true"}}"#),
            Error::policy_condition_operator("ForAnyValue:Null", place),
        ),
        (condition(r#"{"StringEquals": {}}"#), Error::policy_empty("StringEquals", place)),
        (condition(r#"{"StringEquals": {"SourceIp": "x"}}"#), Error::policy_no_vendor()),
        (
            condition(r#"{"StringEquals": {"aws:SourceIp": "x", "aws:SourceIp": "y"}}"#),
            Error::policy_duplicate("aws:SourceIp", place),
        ),
        (
            condition(r#"{"StringEquals": {"aws:username": {"a": "b"}}}"#),
            Error::policy_element_type(
                "StringEquals aws:username",
                place,
                "a string, number or boolean, or a list of them",
            ),
        ),
        (
            condition(r#"{"StringEquals": {"aws:username": []}}"#),
            Error::policy_empty("StringEquals aws:username", place),
        ),
        (
            condition(r#"{"NumericLessThan": {"kms:RotationPeriodInDays": "ninety"}}"#),
            Error::policy_condition_value("NumericLessThan", "kms:RotationPeriodInDays", "ninety", "a number"),
        ),
        (
            condition(r#"{"DateGreaterThan": {"aws:CurrentTime": "yesterday"}}"#),
            Error::policy_condition_value(
                "DateGreaterThan",
                "aws:CurrentTime",
                "yesterday",
                "an ISO 8601 date or epoch seconds",
            ),
        ),
        (
            condition(r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "300.0.0.1"]}}"#),
            Error::policy_condition_value("IpAddress", "aws:SourceIp", "300.0.0.1", "an IP address or CIDR range"),
        ),
        (
            condition(r#"{"Bool": {"aws:SecureTransport": "yes"}}"#),
            Error::policy_condition_value("Bool", "aws:SecureTransport", "yes", "true or false"),
        ),
        (
            condition(r#"{"BinaryEquals": {"aws:x": "!!"}}"#),
            Error::policy_condition_value("BinaryEquals", "aws:x", "!!", "base64"),
        ),
        (
            r#"{"Statement": [
                {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#
                .into(),
            Error::policy_sids_unique(),
        ),
        (
            r#"{"Statement": [{"Sid": "Ok", "Effect": "Allow", "Principal": "*", "Action": "kms:*",
                "Resource": "*"}, {"Sid": "Second", "Effect": "Permit"}]}"#
                .into(),
            Error::policy_effect("Permit", r#"statement 2 ("Second")"#),
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| match Policy::parse(text) {
            Err(e) if e == *expected => None,
            other => Some(format!("{text}\n  expected {expected}\n  got {other:?}")),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn size_characters_and_json() {
    let big = format!(
        r#"{{"Id": "{}", "Statement": []}}"#,
        "x".repeat(MAX_POLICY_BYTES)
    );
    let e = Policy::parse(&big).unwrap_err();
    assert_eq!(e, Error::policy_too_large(big.len(), MAX_POLICY_BYTES));
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    let e = Policy::parse("{\"Id\": \"\u{263a}\"}").unwrap_err();
    assert_eq!(e, Error::policy_character(8));
    for broken in ["", "{", "not json", r#"{"Statement": [}"#] {
        let e = Policy::parse(broken).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedPolicyDocument, "{broken}");
        assert!(
            e.message
                .starts_with("The policy document is not a JSON object: "),
            "{e}"
        );
    }
    // Latin-1 is allowed (AWS's model pattern reaches U+00FF).
    let latin = r#"{"Statement": {"Sid": "café", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}}"#;
    assert!(Policy::parse(latin).is_ok());
}

#[test]
fn key_policies_take_what_aws_kms_takes() {
    // A statement without Action or Resource: accepted, and it never applies (AWS KMS).
    let inert = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*"},
                                  {"Effect": "Allow", "Principal": "*", "Resource": "*", "Action": []}]}"#;
    assert_eq!(Policy::parse(inert).unwrap().inert_statements(), [1, 2]);
    // A Service principal, a user with a path, no Version, a Condition without operators.
    let fine = r#"{"Id": "x", "Statement": {"Effect": "Allow",
        "Principal": {"Service": "logs.amazonaws.com", "AWS": ["arn:aws:iam::111122223333:user/ops/alice"]},
        "Action": "*", "Resource": "*", "Condition": {}}}"#;
    let policy = Policy::parse(fine).unwrap();
    assert_eq!(
        policy.users().into_iter().collect::<Vec<_>>(),
        ["arn:aws:iam::111122223333:user/ops/alice"]
    );
    assert_eq!(policy.version(), trent_policy::Version::V2008_10_17);
}

#[test]
fn identity_policies() {
    let cases = [
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#,
            Error::policy_principal_in_identity(),
        ),
        (
            r#"{"Statement": {"Effect": "Deny", "NotPrincipal": "*", "Action": "kms:*", "Resource": "*"}}"#,
            Error::policy_principal_in_identity(),
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"#,
            Error::policy_no_actions(),
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}"#,
            Error::policy_no_actions(),
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:*"}}"#,
            Error::policy_no_resources(),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Policy::parse_identity(text), Err(expected), "{text}");
    }
    let ok = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "kms:Schedule*", "NotResource": "arn:aws:kms:*:111122223333:key/keep"}}"#;
    assert!(Policy::parse_identity(ok).is_ok());
}

/// Messages quote AWS exactly where AWS's words are recorded.
#[test]
fn aws_words() {
    assert_eq!(
        Policy::parse(&statement(r#""Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}"#))
            .unwrap_err()
            .to_string(),
        "MalformedPolicyDocumentException: Policy contains a statement with one or more invalid principals."
    );
    assert_eq!(
        Error::policy_no_principal().to_string(),
        "MalformedPolicyDocumentException: Policy contains a statement with no principal."
    );
}
