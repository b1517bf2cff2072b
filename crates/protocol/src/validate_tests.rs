//! The validator against messages AWS is known to send (recorded against AWS by LocalStack's
//! snapshot tests, `tests/aws/services/kms/test_kms.snapshot.json`), and the rules it
//! follows where AWS's words are not recorded.

use super::*;
use trent_model::ErrorKind;

fn check(operation: &str, body: &str) -> Result<(), Error> {
    validate(operation, body.as_bytes())
}

fn message(operation: &str, body: &str) -> (ErrorKind, String) {
    let e = check(operation, body).unwrap_err();
    (e.kind, e.message)
}

fn validation(details: &str) -> (ErrorKind, String) {
    (
        ErrorKind::Validation,
        format!("1 validation error detected: {details}"),
    )
}

#[test]
fn number_of_bytes_out_of_range_in_aws_words() {
    assert_eq!(
        message("GenerateRandom", r#"{"NumberOfBytes": 0}"#),
        validation(
            "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value \
             greater than or equal to 1"
        )
    );
    assert_eq!(
        message("GenerateRandom", r#"{"NumberOfBytes": 1025}"#),
        validation(
            "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have \
             value less than or equal to 1024"
        )
    );
    check("GenerateRandom", r#"{"NumberOfBytes": 1024}"#).unwrap();
}

#[test]
fn plaintext_too_long_is_never_quoted() {
    let body = format!(r#"{{"KeyId": "k", "Plaintext": "{}"}}"#, b64(&[7; 4097]));
    assert_eq!(
        message("Encrypt", &body),
        validation(
            "Value at 'plaintext' failed to satisfy constraint: Member must have length less \
             than or equal to 4096"
        )
    );
    let fits = format!(r#"{{"KeyId": "k", "Plaintext": "{}"}}"#, b64(&[7; 4096]));
    check("Encrypt", &fits).unwrap();
}

#[test]
fn tag_lengths_name_the_list_position() {
    let key = "a".repeat(129);
    let body = format!(
        r#"{{"Tags": [{{"TagKey": "k", "TagValue": "v"}}, {{"TagKey": "{key}", "TagValue": "v"}}]}}"#
    );
    assert_eq!(
        message("CreateKey", &body),
        validation(&format!(
            "Value '{key}' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must \
             have length less than or equal to 128"
        ))
    );
    let value = "v".repeat(257);
    let body = format!(r#"{{"Tags": [{{"TagKey": "k", "TagValue": "{value}"}}]}}"#);
    assert_eq!(
        message("CreateKey", &body),
        validation(&format!(
            "Value '{value}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member \
             must have length less than or equal to 256"
        ))
    );
}

#[test]
fn enum_values_are_listed_in_the_model_order() {
    let (kind, text) = message("CreateKey", r#"{"KeyUsage": "RANDOM"}"#);
    assert_eq!(kind, ErrorKind::Validation);
    assert_eq!(
        text,
        "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy \
         constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, \
         GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]"
    );
}

#[test]
fn a_missing_required_member_is_null() {
    assert_eq!(
        message("DescribeKey", "{}"),
        validation("Value null at 'keyId' failed to satisfy constraint: Member must not be null")
    );
    // An explicit null is absence.
    assert_eq!(
        message("DescribeKey", r#"{"KeyId": null}"#),
        message("DescribeKey", "{}")
    );
}

#[test]
fn every_broken_constraint_is_answered_at_once_in_model_order() {
    let body = r#"{"TargetKeyId": "", "AliasName": "alias/a b"}"#;
    assert_eq!(
        message("CreateAlias", body),
        (
            ErrorKind::Validation,
            "2 validation errors detected: Value 'alias/a b' at 'aliasName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$; \
             Value '' at 'targetKeyId' failed to satisfy constraint: Member must have length \
             greater than or equal to 1"
                .to_owned()
        )
    );
}

#[test]
fn an_empty_blob_shows_as_java_shows_its_buffer() {
    assert_eq!(
        message("Decrypt", r#"{"CiphertextBlob": ""}"#),
        validation(
            "Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' failed to \
             satisfy constraint: Member must have length greater than or equal to 1"
        )
    );
}

#[test]
fn lengths_count_utf16_code_units() {
    // 4096 emoji are 8192 UTF-16 units: at the limit, not over it.
    let at_limit = "😀".repeat(4096);
    check(
        "UpdateKeyDescription",
        &format!(r#"{{"KeyId": "k", "Description": "{at_limit}"}}"#),
    )
    .unwrap();
    let over = format!("{at_limit}x");
    let (kind, _) = message(
        "UpdateKeyDescription",
        &format!(r#"{{"KeyId": "k", "Description": "{over}"}}"#),
    );
    assert_eq!(kind, ErrorKind::Validation);
}

#[test]
fn wrong_json_types_are_serialization_errors() {
    let cases = [
        (
            r#"{"NumberOfBytes": "12"}"#,
            "STRING_VALUE can not be converted to an Integer",
        ),
        (
            r#"{"NumberOfBytes": 1.5}"#,
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        (
            r#"{"CustomKeyStoreId": 5}"#,
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            r#"{"CustomKeyStoreId": {}}"#,
            "Start of structure or map found where not expected.",
        ),
        (
            r#"{"CustomKeyStoreId": []}"#,
            "Start of list found where not expected",
        ),
    ];
    for (body, text) in cases {
        assert_eq!(
            message("GenerateRandom", body),
            (ErrorKind::Serialization, text.to_owned()),
            "{body}"
        );
    }
    assert_eq!(
        message(
            "Encrypt",
            r#"{"KeyId": "k", "Plaintext": "AA==", "DryRun": "yes"}"#
        ),
        (
            ErrorKind::Serialization,
            "STRING_VALUE can not be converted to a Boolean".to_owned()
        )
    );
}

#[test]
fn unknown_members_are_refused_by_name() {
    assert_eq!(
        message(
            "Encrypt",
            r#"{"KeyId": "k", "Plaintext": "AA==", "EncryptionContex": {}}"#
        ),
        (
            ErrorKind::Validation,
            "'EncryptionContex' is not a member of this operation's input".to_owned()
        )
    );
    let (kind, _) = message(
        "TagResource",
        r#"{"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "b", "Extra": 1}]}"#,
    );
    assert_eq!(kind, ErrorKind::Validation);
}

#[test]
fn a_null_unknown_member_is_absent() {
    // Found by fuzzing: ListKeys shares its Rust input type with operations that take a
    // KeyId, which serializes as `"KeyId": null`.
    check("ListKeys", r#"{"Limit": 10, "KeyId": null}"#).unwrap();
}

#[test]
fn list_sizes_are_checked() {
    let tokens: Vec<String> = (0..11).map(|i| format!("\"t{i}\"")).collect();
    let body = format!(r#"{{"KeyId": "k", "GrantTokens": [{}]}}"#, tokens.join(","));
    assert_eq!(
        message("DescribeKey", &body).0,
        ErrorKind::Validation,
        "GrantTokens holds at most 10"
    );
}

#[test]
fn not_json_is_left_to_the_parser() {
    check("DescribeKey", "{not json").unwrap();
}
