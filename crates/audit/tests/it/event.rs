//! The event's JSON against CloudTrail's KMS examples.

use crate::common::*;
use serde_json::json;
use trent_audit::{Event, IdentityType, Resource, UserIdentity};

/// The Encrypt entry of the AWS KMS developer guide (`ct-encrypt`), member for member and in
/// its order, with trent's TLS details and without `additionalEventData` (no chain link yet).
#[test]
fn an_encrypt_event_is_cloudtrails_encrypt_entry() {
    let e = encrypt_event(0);
    let expected = concat!(
        r#"{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"EX_PRINCIPAL_ID","#,
        r#""arn":"arn:aws:iam::111122223333:user/Alice","accountId":"111122223333","#,
        r#""accessKeyId":"EXAMPLE_KEY_ID","userName":"Alice"},"eventTime":"2025-05-20T20:46:16Z","#,
        r#""eventSource":"kms.amazonaws.com","eventName":"Encrypt","awsRegion":"us-west-2","#,
        r#""sourceIPAddress":"192.0.2.0","userAgent":"aws-cli/2","requestParameters":"#,
        r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"Department":"Engineering"},"#,
        r#""keyId":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},"#,
        r#""responseElements":null,"requestID":"00000000-0000-4000-8000-000000000000","#,
        r#""eventID":"e0000000-0000-4000-8000-000000000000","readOnly":true,"resources":[{"#,
        r#""accountId":"111122223333","type":"AWS::KMS::Key","#,
        r#""ARN":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],"#,
        r#""eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","#,
        r#""eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","#,
        r#""cipherSuite":"TLS_AES_256_GCM_SHA384","#,
        r#""clientProvidedHostHeader":"kms.us-west-2.amazonaws.com"}}"#
    );
    assert_eq!(String::from_utf8(e.canonical_bytes()).unwrap(), expected);
}

/// A refusal by an unauthenticated caller over plain HTTP: errorCode and errorMessage after
/// userAgent, no identity members trent cannot know, no resources, no tlsDetails, and
/// requestParameters null when nothing could be kept.
#[test]
fn a_refused_unauthenticated_call_omits_what_is_unknown() {
    let mut e = encrypt_event(1);
    e.user_identity = UserIdentity {
        kind: IdentityType::Unknown,
        principal_id: None,
        arn: None,
        account_id: None,
        access_key_id: Some("AKIDUNKNOWN".into()),
        user_name: None,
    };
    e.request_parameters = None;
    e.resources.clear();
    e.tls_details = None;
    e.response_elements = Some(json!({"keyId": "x"}));
    let e = e.failed(
        "UnrecognizedClientException",
        "The security token is invalid.",
    );
    let text = String::from_utf8(e.canonical_bytes()).unwrap();
    assert!(text.contains(r#""userIdentity":{"type":"Unknown","accessKeyId":"AKIDUNKNOWN"}"#));
    assert!(text.contains(
        r#""userAgent":"aws-cli/2","errorCode":"UnrecognizedClientException","errorMessage":"The security token is invalid.","requestParameters":null,"responseElements":null,"#
    ));
    for absent in [
        "resources",
        "tlsDetails",
        "additionalEventData",
        "arn",
        "userName",
    ] {
        assert!(
            !text.contains(&format!("\"{absent}\"")),
            "{absent} in {text}"
        );
    }
}

#[test]
fn identity_types_have_cloudtrails_names() {
    for (kind, name) in [
        (IdentityType::IamUser, "IAMUser"),
        (IdentityType::Root, "Root"),
        (IdentityType::AwsAccount, "AWSAccount"),
        (IdentityType::Unknown, "Unknown"),
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(name));
    }
}

/// What the chain hashes must survive the trip through a file: read back, the event gives
/// the same bytes, even if its time was given sub-seconds after it was made.
#[test]
fn an_event_read_back_serializes_to_the_same_bytes() {
    let mut e = encrypt_event(2);
    e.event_time += time::Duration::milliseconds(789);
    let sealed = trent_audit::Batch::seal(0, trent_audit::GENESIS, vec![e])
        .events
        .remove(0);
    let bytes = sealed.canonical_bytes();
    let back: Event = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back.canonical_bytes(), bytes);
    assert_eq!(
        back.event_time,
        trent_audit::whole_seconds(sealed.event_time)
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(r#""eventTime":"2025-05-20T20:46:18Z""#),
        "{text}"
    );
    assert!(text.contains(r#""responseElements":null,"additionalEventData":{"auditChain":{"batch":0,"index":0,"count":1,"prev":"0000"#), "{text}");
}

#[test]
fn a_record_with_an_added_member_is_not_an_event() {
    let mut v = serde_json::to_value(encrypt_event(3)).unwrap();
    v["plaintext"] = json!("smuggled");
    assert!(serde_json::from_value::<Event>(v).is_err());
}

#[test]
fn a_key_resource_is_typed_as_a_kms_key() {
    let r = Resource::key(ACCOUNT, KEY_ARN);
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        format!(r#"{{"accountId":"{ACCOUNT}","type":"AWS::KMS::Key","ARN":"{KEY_ARN}"}}"#)
    );
}
