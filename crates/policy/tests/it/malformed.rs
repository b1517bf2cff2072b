//! Malformed documents, each with the message it is refused with.

use trent_model::{Error, ErrorKind};
use trent_policy::{Policy, MAX_POLICY_BYTES};

const PRINCIPAL: &str = r#""Principal": {"AWS": "arn:aws:iam::111122223333:root"}"#;
const POLICY: &str = "the policy";
const ONE: &str = "statement 1";

/// A key policy whose one statement is `members` plus Effect, Principal, Action and Resource
/// (unless `members` names them, or their `Not` forms, itself).
fn statement(members: &str) -> String {
    let mut parts = vec![members.to_owned()];
    for (name, default) in [
        ("Principal", PRINCIPAL),
        ("Action", r#""Action": "kms:Encrypt""#),
        ("Resource", r#""Resource": "*""#),
        ("Effect", r#""Effect": "Allow""#),
    ] {
        let named = |n: String| members.contains(&format!("\"{n}\""));
        if !named(name.to_owned()) && !named(format!("Not{name}")) {
            parts.push(default.to_owned());
        }
    }
    let body = parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>();
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{{}}}]}}"#,
        body.join(", ")
    )
}

fn condition(condition: &str) -> String {
    statement(&format!(r#""Condition": {condition}"#))
}

/// Rows of `document => error;` (rustfmt leaves the rows as written).
macro_rules! refused {
    ($($text:expr => $error:expr;)*) => {
        vec![$((String::from($text), $error)),*]
    };
}

fn check(cases: Vec<(String, Error)>, parse: fn(&str) -> Result<Policy, Error>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| match parse(text) {
            Err(e) if e == *expected => None,
            other => Some(format!("{text}\n  expected {expected}\n  got {other:?}")),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documents_and_statements() {
    let two_sids = r#"{"Statement": [
        {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#;
    let second_bad = r#"{"Statement": [
        {"Sid": "Ok", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        {"Sid": "Second", "Effect": "Permit"}]}"#;
    let objects = "an object or a list of objects";
    check(
        refused![
            "[]" => Error::policy_json("it is a list");
            r#"{"Version": "2012-10-17"}"# => Error::policy_missing("Statement", POLICY);
            r#"{"Statement": []}"# => Error::policy_empty("Statement", POLICY);
            r#"{"Statement": "Allow"}"# => Error::policy_element_type("Statement", POLICY, objects);
            r#"{"Statement": ["Allow"]}"#
                => Error::policy_element_type("Statement", ONE, "an object");
            r#"{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {}}"#
                => Error::policy_duplicate("Version", POLICY);
            r#"{"Version": "2012-10-17", "Statements": []}"#
                => Error::policy_unknown_element("Statements", POLICY);
            r#"{"Version": "2019-01-01", "Statement": {}}"# => Error::policy_version("2019-01-01");
            r#"{"Version": 2012, "Statement": {}}"#
                => Error::policy_element_type("Version", POLICY, "a string");
            r#"{"Id": ["x"], "Statement": {}}"#
                => Error::policy_element_type("Id", POLICY, "a string");
            r#"{"Statement": {"Sid": "1"}}"#
                => Error::policy_missing("Effect", r#"statement 1 ("1")"#);
            statement(r#""Effect": "allow""#) => Error::policy_effect("allow", ONE);
            statement(r#""Effect": "Allow", "Effect": "Deny""#)
                => Error::policy_duplicate("Effect", ONE);
            statement(r#""Sid": 7"#) => Error::policy_element_type("Sid", ONE, "a string");
            statement(r#""Principals": "*""#) => Error::policy_unknown_element("Principals", ONE);
            two_sids => Error::policy_sids_unique();
            second_bad => Error::policy_effect("Permit", r#"statement 2 ("Second")"#);
        ],
        Policy::parse,
    );
}

#[test]
fn principals_actions_and_resources() {
    let no_principal = r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;
    let both = format!(r#"{PRINCIPAL}, "NotPrincipal": {{"AWS": "*"}}"#);
    let strings = "a string or a list of strings";
    check(
        refused![
            statement(r#""Principal": {"AWS": "alice"}"#) => Error::policy_invalid_principals();
            statement(r#""Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}"#)
                => Error::policy_invalid_principals();
            statement(r#""Principal": {"Federated": "accounts.google.com"}"#)
                => Error::policy_invalid_principals();
            no_principal => Error::policy_no_principal();
            statement(&both) => Error::policy_exclusive("Principal", "NotPrincipal", ONE);
            statement(r#""Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}"#)
                => Error::policy_not_principal_allow(ONE);
            statement(r#""Action": "Encrypt""#) => Error::policy_no_vendor();
            statement(r#""Action": ["kms:Encrypt", "kms:En:crypt"]"#) => Error::policy_colons();
            statement(r#""Action": "km$:Encrypt""#) => Error::policy_vendor("km$");
            statement(r#""Action": 3"#) => Error::policy_element_type("Action", ONE, strings);
            statement(r#""Action": "kms:Encrypt", "NotAction": "kms:Decrypt""#)
                => Error::policy_exclusive("Action", "NotAction", ONE);
            statement(r#""Resource": "key/1234""#) => Error::policy_resource_format("key/1234");
            statement(r#""Resource": "*", "NotResource": "*""#)
                => Error::policy_exclusive("Resource", "NotResource", ONE);
        ],
        Policy::parse,
    );
}

#[test]
fn conditions() {
    let scalars = "a string, number or boolean, or a list of them";
    let date = "an ISO 8601 date or epoch seconds";
    let ip = "an IP address or CIDR range";
    let value = |op, key, v, expected| Error::policy_condition_value(op, ONE, key, v, expected);
    check(
        refused![
            condition(r#""yes""#) => Error::policy_element_type("Condition", ONE, "an object");
            condition(r#"{"StringEqualz": {"aws:SourceIp": "x"}}"#)
                => Error::policy_condition_operator("StringEqualz", ONE);
            condition(r#"{"NullIfExists": {"aws:SourceIp": "true"}}"#)
                => Error::policy_condition_operator("NullIfExists", ONE);
            condition(r#"{"ForAnyValue:Null": {"aws:TagKeys": "true"}}"#)
                => Error::policy_condition_operator("ForAnyValue:Null", ONE);
            condition(r#"{"StringEquals": {}}"#) => Error::policy_empty("StringEquals", ONE);
            condition(r#"{"StringEquals": {"SourceIp": "x"}}"#) => Error::policy_no_vendor();
            condition(r#"{"StringEquals": {"aws:SourceIp": "x", "aws:SourceIp": "y"}}"#)
                => Error::policy_duplicate("aws:SourceIp", ONE);
            condition(r#"{"StringEquals": {"aws:username": {"a": "b"}}}"#)
                => Error::policy_element_type("StringEquals aws:username", ONE, scalars);
            condition(r#"{"StringEquals": {"aws:username": []}}"#)
                => Error::policy_empty("StringEquals aws:username", ONE);
            condition(r#"{"NumericLessThan": {"kms:RotationPeriodInDays": "ninety"}}"#)
                => value("NumericLessThan", "kms:RotationPeriodInDays", "ninety", "a number");
            condition(r#"{"DateGreaterThan": {"aws:CurrentTime": "yesterday"}}"#)
                => value("DateGreaterThan", "aws:CurrentTime", "yesterday", date);
            condition(r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "300.0.0.1"]}}"#)
                => value("IpAddress", "aws:SourceIp", "300.0.0.1", ip);
            condition(r#"{"Bool": {"aws:SecureTransport": "yes"}}"#)
                => value("Bool", "aws:SecureTransport", "yes", "true or false");
            condition(r#"{"BinaryEquals": {"aws:x": "!!"}}"#)
                => value("BinaryEquals", "aws:x", "!!", "base64");
        ],
        Policy::parse,
    );
}

#[test]
fn identity_policies() {
    let ok = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "NotAction": "kms:Schedule*", "NotResource": "arn:aws:kms:*:111122223333:key/keep"}}"#;
    assert!(Policy::parse_identity(ok).is_ok());
    check(
        refused![
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
               }"#
                => Error::policy_principal_in_identity();
            r#"{"Statement": {"Effect": "Deny", "NotPrincipal": "*", "Action": "*", "Resource": "*"}
               }"#
                => Error::policy_principal_in_identity();
            r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"# => Error::policy_no_actions();
            r#"{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}"#
                => Error::policy_no_actions();
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:*"}}"#
                => Error::policy_no_resources();
        ],
        Policy::parse_identity,
    );
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
    let latin = r#"{"Statement": {"Sid": "café", "Effect": "Deny", "Principal": "*",
        "Action": "*", "Resource": "*"}}"#;
    assert!(Policy::parse(latin).is_ok());
}

#[test]
fn key_policies_take_what_aws_kms_takes() {
    // A statement without Action or Resource: accepted, and it never applies (AWS KMS).
    let inert = r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*"},
        {"Effect": "Allow", "Principal": "*", "Resource": "*", "Action": []}]}"#;
    assert_eq!(Policy::parse(inert).unwrap().inert_statements(), [1, 2]);
    // A Service principal, a user with a path, no Version, a Condition without operators.
    let fine = r#"{"Id": "x", "Statement": {"Effect": "Allow",
        "Principal": {"Service": "logs.amazonaws.com",
                      "AWS": ["arn:aws:iam::111122223333:user/ops/alice"]},
        "Action": "*", "Resource": "*", "Condition": {}}}"#;
    let policy = Policy::parse(fine).unwrap();
    let users: Vec<_> = policy.users().into_iter().collect();
    assert_eq!(users, ["arn:aws:iam::111122223333:user/ops/alice"]);
    assert_eq!(policy.version(), trent_policy::Version::V2008_10_17);
}

/// Messages quote AWS exactly where AWS's words are recorded.
#[test]
fn aws_words() {
    let role = statement(r#""Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}"#);
    assert_eq!(
        Policy::parse(&role).unwrap_err().to_string(),
        "MalformedPolicyDocumentException: Policy contains a statement with one or more \
         invalid principals."
    );
    assert_eq!(
        Error::policy_no_principal().to_string(),
        "MalformedPolicyDocumentException: Policy contains a statement with no principal."
    );
}
