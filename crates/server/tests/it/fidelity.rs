//! Every error of every implemented KMS operation, through a real `trentd`, as AWS answers
//! it: HTTP status, `__type`, `message` (absent where AWS sends none) and the
//! `x-amzn-RequestId` header. The texts are AWS's where AWS's are recorded (LocalStack's
//! snapshot tests recorded against AWS, moto's and local-kms's tests); trent's own choices
//! are in docs/ARCHITECTURE.md (AWS fidelity).

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::harness::*;

/// What one request must be answered with; `None`: no `message` member at all.
#[derive(Clone)]
pub(crate) struct Case {
    operation: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    message: Option<String>,
}

pub(crate) fn case(
    operation: &'static str,
    body: Value,
    code: &'static str,
    message: &str,
) -> Case {
    Case {
        operation,
        body,
        status: 400,
        code,
        message: Some(message.to_owned()),
    }
}

pub(crate) fn silent(operation: &'static str, body: Value, code: &'static str) -> Case {
    Case {
        operation,
        body,
        status: 400,
        code,
        message: None,
    }
}

pub(crate) fn one(detail: &str) -> String {
    format!("1 validation error detected: {detail}")
}

pub(crate) fn null(member: &str) -> String {
    one(&format!(
        "Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

/// The keys and alias the cases refer to.
pub(crate) struct Fixture {
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) enabled: String,
    pub(crate) disabled: String,
    pub(crate) pending: String,
    pub(crate) ciphertext: String,
}

impl Fixture {
    pub(crate) fn arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }
    pub(crate) fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }
}

async fn fixture(client: &trent_client::Client) -> Fixture {
    let made = client.kms("CreateKey", &json!({})).await.unwrap();
    let arn = made["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = arn.split(':').collect();
    let enabled = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let disabled = create_key(client).await.unwrap();
    let pending = create_key(client).await.unwrap();
    client
        .kms("DisableKey", &json!({"KeyId": disabled}))
        .await
        .unwrap();
    client
        .kms(
            "ScheduleKeyDeletion",
            &json!({"KeyId": pending, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
    client
        .kms(
            "CreateAlias",
            &json!({"AliasName": "alias/fidelity", "TargetKeyId": enabled}),
        )
        .await
        .unwrap();
    let sealed = client
        .kms(
            "Encrypt",
            &json!({"KeyId": enabled, "Plaintext": "c2VjcmV0", "EncryptionContext": {"a": "b"}}),
        )
        .await
        .unwrap();
    Fixture {
        region: parts[3].to_owned(),
        account: parts[4].to_owned(),
        enabled,
        disabled,
        pending,
        ciphertext: sealed["CiphertextBlob"].as_str().unwrap().to_owned(),
    }
}

fn key_cases(f: &Fixture) -> Vec<Case> {
    let unknown = "134f2428-cec1-4b25-a1ae-9048164dba47";
    let mrk = "mrk-d3b95762d3b95762d3b95762d3b95762";
    let other_region = if f.region == "us-west-2" {
        "eu-west-1"
    } else {
        "us-west-2"
    };
    let foreign = format!("arn:aws:kms:{other_region}:{}:key/{unknown}", f.account);
    let too_long = "d".repeat(8193);
    let many_tags: Vec<Value> = (0..51)
        .map(|i| json!({"TagKey": format!("k{i}"), "TagValue": "v"}))
        .collect();
    vec![
        case(
            "CreateKey",
            json!({"KeyUsage": "RANDOM"}),
            "ValidationException",
            &one(
                "Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy \
                 enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, \
                 KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]",
            ),
        ),
        case(
            "CreateKey",
            json!({"Description": too_long}),
            "ValidationException",
            &one(&format!(
                "Value '{too_long}' at 'description' failed to satisfy constraint: Member must \
                 have length less than or equal to 8192"
            )),
        ),
        case(
            "CreateKey",
            json!({"Tags": many_tags}),
            "TagException",
            "Too many tags",
        ),
        case(
            "CreateKey",
            json!({"Tags": [{"TagKey": "AWS:x", "TagValue": ""}]}),
            "TagException",
            "Tags beginning with aws: are reserved",
        ),
        case(
            "CreateKey",
            json!({"Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}]}),
            "TagException",
            "Duplicate tag keys",
        ),
        case(
            "CreateKey",
            json!({"KeySpec": "RSA_2048", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            "ValidationException",
            "KeyUsage GENERATE_VERIFY_MAC is not compatible with KeySpec RSA_2048",
        ),
        case(
            "CreateKey",
            json!({"KeySpec": "HMAC_224"}),
            "ValidationException",
            "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_224",
        ),
        case(
            "CreateKey",
            json!({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}),
            "UnsupportedOperationException",
            "KeySpec SM2 is available only in the AWS China Regions; trent does not offer it.",
        ),
        case(
            "Sign",
            json!({"KeyId": f.enabled, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"}),
            "InvalidKeyUsageException",
            &format!(
                "{} key usage is ENCRYPT_DECRYPT which is not valid for Sign.",
                f.arn(&f.enabled)
            ),
        ),
        case(
            "CreateKey",
            json!({"Colour": "red"}),
            "ValidationException",
            "'Colour' is not a member of this operation's input",
        ),
        case(
            "DescribeKey",
            json!({}),
            "ValidationException",
            &null("keyId"),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": "fake-key-id"}),
            "NotFoundException",
            "Invalid keyId 'fake-key-id'",
        ),
        case(
            "DescribeKey",
            json!({"KeyId": unknown}),
            "NotFoundException",
            &format!("Key '{}' does not exist", f.arn(unknown)),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": f.arn(unknown)}),
            "NotFoundException",
            &format!("Key '{}' does not exist", f.arn(unknown)),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": mrk}),
            "NotFoundException",
            &format!("Key '{}' does not exist", f.arn(mrk)),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": foreign}),
            "NotFoundException",
            &format!("Invalid arn {other_region}"),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": "arn:aws:kms"}),
            "InvalidArnException",
            "Invalid arn arn:aws:kms",
        ),
        case(
            "DescribeKey",
            json!({"KeyId": "alias/nope"}),
            "NotFoundException",
            &format!("Alias {} is not found.", f.alias_arn("alias/nope")),
        ),
        case(
            "DescribeKey",
            json!({"KeyId": 5}),
            "SerializationException",
            "NUMBER_VALUE can not be converted to a String",
        ),
        case(
            "ListKeys",
            json!({"Limit": 0}),
            "ValidationException",
            &one(
                "Value '0' at 'limit' failed to satisfy constraint: Member must have value \
                 greater than or equal to 1",
            ),
        ),
        silent(
            "ListKeys",
            json!({"Marker": "zzz"}),
            "InvalidMarkerException",
        ),
        case(
            "EnableKey",
            json!({"KeyId": f.pending}),
            "KMSInvalidStateException",
            &format!("{} is pending deletion.", f.arn(&f.pending)),
        ),
        case(
            "EnableKey",
            json!({"KeyId": "alias/fidelity"}),
            "NotFoundException",
            "Invalid keyId 'alias/fidelity'",
        ),
        case(
            "DisableKey",
            json!({"KeyId": unknown}),
            "NotFoundException",
            &format!("Key '{}' does not exist", f.arn(unknown)),
        ),
        case(
            "ScheduleKeyDeletion",
            json!({"KeyId": f.enabled, "PendingWindowInDays": 5}),
            "ValidationException",
            &one(
                "Value '5' at 'pendingWindowInDays' failed to satisfy constraint: Member must \
                 have minimum value of 7 and maximum value of 30.",
            ),
        ),
        case(
            "ScheduleKeyDeletion",
            json!({"KeyId": f.enabled, "PendingWindowInDays": 400}),
            "ValidationException",
            &one(
                "Value '400' at 'pendingWindowInDays' failed to satisfy constraint: Member must \
                 have value less than or equal to 365",
            ),
        ),
        case(
            "CancelKeyDeletion",
            json!({"KeyId": f.enabled}),
            "KMSInvalidStateException",
            &format!("{} is not pending deletion.", f.arn(&f.enabled)),
        ),
        case(
            "UpdateKeyDescription",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            &null("description"),
        ),
        case(
            "GetKeyLastUsage",
            json!({}),
            "ValidationException",
            &null("keyId"),
        ),
    ]
}

fn alias_and_tag_cases(f: &Fixture) -> Vec<Case> {
    vec![
        case(
            "CreateAlias",
            json!({"AliasName": "fidelity2", "TargetKeyId": f.enabled}),
            "ValidationException",
            "Alias must start with the prefix \"alias/\". Please see \
             https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ),
        silent(
            "CreateAlias",
            json!({"AliasName": "alias/aws/mine", "TargetKeyId": f.enabled}),
            "NotAuthorizedException",
        ),
        case(
            "CreateAlias",
            json!({"AliasName": "alias/fidelity", "TargetKeyId": f.enabled}),
            "AlreadyExistsException",
            &format!(
                "An alias with the name {} already exists",
                f.alias_arn("alias/fidelity")
            ),
        ),
        case(
            "CreateAlias",
            json!({"AliasName": "alias/other", "TargetKeyId": "alias/fidelity"}),
            "ValidationException",
            "Aliases must refer to keys. Not aliases",
        ),
        case(
            "CreateAlias",
            json!({"AliasName": "alias/a:b", "TargetKeyId": f.enabled}),
            "ValidationException",
            "alias/a:b contains invalid characters for an alias",
        ),
        case(
            "CreateAlias",
            json!({"AliasName": "alias/a b", "TargetKeyId": f.enabled}),
            "ValidationException",
            &one(
                "Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must \
                 satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ),
        ),
        case(
            "CreateAlias",
            json!({"AliasName": "alias/late", "TargetKeyId": f.pending}),
            "KMSInvalidStateException",
            &format!("{} is pending deletion.", f.arn(&f.pending)),
        ),
        case(
            "CreateAlias",
            json!({}),
            "ValidationException",
            "2 validation errors detected: Value null at 'aliasName' failed to satisfy \
             constraint: Member must not be null; Value null at 'targetKeyId' failed to \
             satisfy constraint: Member must not be null",
        ),
        case(
            "UpdateAlias",
            json!({"AliasName": "alias/nope", "TargetKeyId": f.enabled}),
            "NotFoundException",
            &format!("Alias {} is not found.", f.alias_arn("alias/nope")),
        ),
        case(
            "DeleteAlias",
            json!({"AliasName": "alias/nope"}),
            "NotFoundException",
            &format!("Alias {} is not found.", f.alias_arn("alias/nope")),
        ),
        case(
            "ListAliases",
            json!({"KeyId": "fake-key-id"}),
            "NotFoundException",
            "Invalid keyId 'fake-key-id'",
        ),
        case(
            "TagResource",
            json!({"KeyId": f.enabled, "Tags": [{"TagKey": "aws:x", "TagValue": "v"}]}),
            "TagException",
            "Tags beginning with aws: are reserved",
        ),
        case(
            "TagResource",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            &null("tags"),
        ),
        case(
            "UntagResource",
            json!({"KeyId": f.enabled, "TagKeys": [""]}),
            "ValidationException",
            &one(
                "Value '' at 'tagKeys.1.member' failed to satisfy constraint: Member must have \
                 length greater than or equal to 1",
            ),
        ),
        case(
            "ListResourceTags",
            json!({"KeyId": f.enabled, "Limit": 1001}),
            "ValidationException",
            &one(
                "Value '1001' at 'limit' failed to satisfy constraint: Member must have value \
                 less than or equal to 1000",
            ),
        ),
    ]
}

fn crypto_cases(f: &Fixture) -> Vec<Case> {
    let big = "QUFB".repeat(1366); // 4098 bytes
    vec![
        case(
            "Encrypt",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            &null("plaintext"),
        ),
        case(
            "Encrypt",
            json!({"KeyId": f.enabled, "Plaintext": big}),
            "ValidationException",
            &one(
                "Value at 'plaintext' failed to satisfy constraint: Member must have length \
                 less than or equal to 4096",
            ),
        ),
        case(
            "Encrypt",
            json!({"KeyId": f.disabled, "Plaintext": "AA=="}),
            "DisabledException",
            &format!("{} is disabled.", f.arn(&f.disabled)),
        ),
        case(
            "Encrypt",
            json!({"KeyId": f.pending, "Plaintext": "AA=="}),
            "KMSInvalidStateException",
            &format!("{} is pending deletion.", f.arn(&f.pending)),
        ),
        case(
            "Encrypt",
            json!({"KeyId": f.enabled, "Plaintext": "AA==", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
            "InvalidKeyUsageException",
            "Algorithm RSAES_OAEP_SHA_1 is incompatible with key spec SYMMETRIC_DEFAULT.",
        ),
        case(
            "Encrypt",
            json!({"KeyId": f.enabled, "Plaintext": "AA==", "DryRun": true}),
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ),
        silent(
            "Decrypt",
            json!({"CiphertextBlob": "AAAAAAAA"}),
            "InvalidCiphertextException",
        ),
        silent(
            "Decrypt",
            json!({"CiphertextBlob": f.ciphertext}),
            "InvalidCiphertextException",
        ),
        case(
            "Decrypt",
            json!({"CiphertextBlob": f.ciphertext, "EncryptionContext": {"a": "b"}, "KeyId": f.disabled}),
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        ),
        case(
            "Decrypt",
            json!({"CiphertextBlob": ""}),
            "ValidationException",
            &one(
                "Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' failed \
                 to satisfy constraint: Member must have length greater than or equal to 1",
            ),
        ),
        case(
            "Decrypt",
            json!({"CiphertextBlob": "not base64!"}),
            "SerializationException",
            "Decrypt: a blob member is not valid base64",
        ),
        case(
            "ReEncrypt",
            json!({"CiphertextBlob": f.ciphertext}),
            "ValidationException",
            &null("destinationKeyId"),
        ),
        case(
            "GenerateDataKey",
            json!({"KeyId": f.enabled}),
            "ValidationException",
            "Please specify either number of bytes or key spec.",
        ),
        case(
            "GenerateDataKey",
            json!({"KeyId": f.enabled, "KeySpec": "AES_512"}),
            "ValidationException",
            &one(
                "Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy \
                 enum value set: [AES_256, AES_128]",
            ),
        ),
        case(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": f.enabled, "KeySpec": "AES_256", "NumberOfBytes": 32}),
            "ValidationException",
            "Please specify either number of bytes or key spec, but not both.",
        ),
        case(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": f.enabled, "NumberOfBytes": 0}),
            "ValidationException",
            &one(
                "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have \
                 value greater than or equal to 1",
            ),
        ),
        case(
            "GenerateRandom",
            json!({}),
            "ValidationException",
            "NumberOfBytes is required.",
        ),
        case(
            "GenerateRandom",
            json!({"NumberOfBytes": 1025}),
            "ValidationException",
            &one(
                "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have \
                 value less than or equal to 1024",
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_of_every_operation_is_answered_as_aws_answers_it() {
    let cluster = TestCluster::start(170, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let f = fixture(&client).await;
    let before = list_keys(&client).await.unwrap();
    let cases = [
        key_cases(&f),
        alias_and_tag_cases(&f),
        crypto_cases(&f),
        crate::fidelity_policy::policy_and_grant_cases(&f),
    ]
    .concat();
    answered_as_aws_without_change(&client, &cases, before).await;
}

/// Asserts every case is answered as AWS answers it ([`refusals`]) and that the keys are
/// still `before`.
pub(crate) async fn answered_as_aws_without_change(
    client: &trent_client::Client,
    cases: &[Case],
    before: Vec<String>,
) {
    let wrong = refusals(client, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        list_keys(client).await.unwrap(),
        before,
        "a refused request changed the keys"
    );
}

/// Sends every case; what was answered otherwise than AWS answers it (code, status, message,
/// a request id, no other members).
pub(crate) async fn refusals(client: &trent_client::Client, cases: &[Case]) -> Vec<String> {
    let mut wrong = Vec::new();
    for c in cases {
        let target = format!("TrentService.{}", c.operation);
        let body = serde_json::to_vec(&c.body).unwrap();
        let request = client.request(&target, body, SystemTime::now()).unwrap();
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-amzn-requestid").cloned();
        let answer: Value = response.json().await.unwrap();
        let members: Vec<&String> = answer.as_object().unwrap().keys().collect();
        let got = (
            status,
            answer["__type"].as_str().unwrap_or_default(),
            answer.get("message").and_then(Value::as_str),
        );
        let want = (c.status, c.code, c.message.as_deref());
        let only_aws_members = members.iter().all(|m| *m == "__type" || *m == "message");
        if got != want || request_id.is_none() || !only_aws_members {
            wrong.push(format!(
                "{} {}:\n   got {got:?} {members:?} id={request_id:?}\n  want {want:?}",
                c.operation, c.body
            ));
        }
    }
    wrong
}
