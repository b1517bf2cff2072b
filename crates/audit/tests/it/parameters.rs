//! What may be recorded: every KMS operation, fed requests and responses full of secrets.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use trent_audit::{cloudtrail_name, request_parameters, response_elements};

/// The KMS service model trent serves (`crates/protocol/aws/kms.json`).
fn model() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/aws/kms.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("kms.json")).expect("JSON")
}

/// Members that are credentials though their shape is a string (or hold strings).
const CREDENTIALS: &[&str] = &[
    "KeyStorePassword",
    "XksProxyAuthenticationCredential",
    "GrantToken",
    "GrantTokens",
];

/// Members trent does not record though they are not secret (pagination, the recipient's
/// attestation, dry-run modifiers).
const NOT_RECORDED: &[&str] = &[
    "Limit",
    "Marker",
    "ResourceOwners",
    "Recipient",
    "DryRunModifiers",
];

/// Builds a value of `shape` in which every blob and every credential holds a recognisable
/// secret (each one noted in `secrets`); everything else holds plain values.
struct Filler<'a> {
    shapes: &'a Map<String, Value>,
    secrets: Vec<String>,
    label: String,
}

impl Filler<'_> {
    fn value(&mut self, shape: &str, member: &str, secret: bool, depth: usize) -> Value {
        let s = &self.shapes[shape];
        let secret = secret || CREDENTIALS.contains(&member);
        match s["type"].as_str().unwrap() {
            "blob" => {
                let text = format!("TOP-SECRET-{}-{member}", self.label);
                let b64 = base64_encode(text.as_bytes());
                self.secrets.push(text);
                self.secrets.push(b64.clone());
                json!(b64)
            }
            "string" if secret => {
                let text = format!("TOP-SECRET-{}-{member}", self.label);
                self.secrets.push(text.clone());
                json!(text)
            }
            "string" => json!(format!("plain-{member}")),
            "integer" => json!(7),
            "boolean" => json!(true),
            "timestamp" => json!(1_700_000_000),
            "map" => {
                json!({ "ctx-key": self.value(s["value"].as_str().unwrap(), member, secret, depth) })
            }
            "list" => json!([self.value(s["member"].as_str().unwrap(), member, secret, depth)]),
            "structure" if depth > 6 => json!({}),
            "structure" => {
                let mut o = Map::new();
                for m in s["members"].as_array().unwrap() {
                    let (name, sh) = (m[0].as_str().unwrap(), m[1].as_str().unwrap());
                    o.insert(name.into(), self.value(sh, name, secret, depth + 1));
                }
                Value::Object(o)
            }
            other => panic!("shape type {other}"),
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

fn operations(model: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    model["operations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, op)| {
            let shape = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_owned);
            (name.clone(), shape("input"), shape("output"))
        })
        .collect()
}

#[test]
fn no_operation_records_a_secret_from_its_request_or_response() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let ops = operations(&model);
    assert_eq!(ops.len(), 56, "the KMS model has 56 operations");
    let mut fed = Vec::new();
    for (op, input, output) in ops {
        let mut filler = Filler {
            shapes,
            secrets: Vec::new(),
            label: op.clone(),
        };
        let request = input.map_or(json!({}), |s| filler.value(&s, "", false, 0));
        let response = output.map_or(json!({}), |s| filler.value(&s, "", false, 0));
        let recorded = json!([
            request_parameters(&op, &request),
            response_elements(&op, &response)
        ]);
        let text = recorded.to_string();
        for secret in &filler.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{op} records {secret}: {text}"
            );
        }
        fed.extend(filler.secrets);
    }
    // The test fed the secrets it means to: a few by name.
    for expected in [
        "TOP-SECRET-Encrypt-Plaintext",
        "TOP-SECRET-Decrypt-Plaintext",
        "TOP-SECRET-Sign-Signature",
        "TOP-SECRET-GenerateDataKeyPair-PrivateKeyPlaintext",
        "TOP-SECRET-DeriveSharedSecret-SharedSecret",
        "TOP-SECRET-DeriveSharedSecret-PublicKey",
        "TOP-SECRET-ImportKeyMaterial-EncryptedKeyMaterial",
        "TOP-SECRET-GetParametersForImport-ImportToken",
        "TOP-SECRET-CreateCustomKeyStore-KeyStorePassword",
        "TOP-SECRET-CreateCustomKeyStore-RawSecretAccessKey",
        "TOP-SECRET-CreateGrant-GrantToken",
        "TOP-SECRET-Decrypt-AttestationDocument",
    ] {
        assert!(fed.iter().any(|s| s == expected), "{expected} was not fed");
    }
}

/// Every operation records exactly the non-secret members of its request that an auditor
/// asks about: the tables cover all 56 operations (an operation missing from them would
/// record `keyId` alone).
#[test]
fn every_operation_records_its_non_secret_request_members() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    for (op, input, _) in operations(&model) {
        let Some(input) = input else { continue };
        let mut filler = Filler {
            shapes,
            secrets: Vec::new(),
            label: op.clone(),
        };
        let request = filler.value(&input, "", false, 0);
        let expected: BTreeSet<String> = shapes[&input]["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                let (name, sh) = (m[0].as_str().unwrap(), m[1].as_str().unwrap());
                shapes[sh]["type"] != "blob"
                    && !CREDENTIALS.contains(&name)
                    && !NOT_RECORDED.contains(&name)
            })
            .map(|m| cloudtrail_name(m[0].as_str().unwrap()))
            .collect();
        let recorded: BTreeSet<String> = request_parameters(&op, &request)
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        assert_eq!(recorded, expected, "{op}");
    }
}

#[test]
fn encrypt_records_key_context_and_algorithm_only() {
    let request = json!({
        "KeyId": "alias/app", "Plaintext": "c2VjcmV0", "EncryptionContext": {"Department": "Engineering"},
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "GrantTokens": ["tok"],
    });
    let response = json!({"CiphertextBlob": "AQID", "KeyId": "arn:k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
    assert_eq!(
        request_parameters("Encrypt", &request),
        Some(
            json!({"keyId": "alias/app", "encryptionContext": {"Department": "Engineering"},
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        )
    );
    // CloudTrail's Encrypt entry: "responseElements": null.
    assert_eq!(response_elements("Encrypt", &response), None);
}

/// CloudTrail's PutKeyPolicy entry records the policy text in full.
#[test]
fn put_key_policy_records_the_policy() {
    let policy = "{\"Version\":\"2012-10-17\",\"Statement\":[]}";
    let request = json!({"KeyId": "k", "PolicyName": "default", "Policy": policy,
                         "BypassPolicyLockoutSafetyCheck": false});
    assert_eq!(
        request_parameters("PutKeyPolicy", &request),
        Some(
            json!({"keyId": "k", "policyName": "default", "policy": policy,
                    "bypassPolicyLockoutSafetyCheck": false})
        )
    );
}

/// CloudTrail's CreateGrant entry: constraints with the context's keys as written, the grant
/// id in the response, never the grant token.
#[test]
fn create_grant_records_constraints_and_grant_id_not_token() {
    let request = json!({"KeyId": "k", "GranteePrincipal": "arn:aws:iam::111122223333:user/Bob",
        "Operations": ["Encrypt", "RetireGrant"],
        "Constraints": {"EncryptionContextSubset": {"ContextKey1": "Value1"}}});
    assert_eq!(
        request_parameters("CreateGrant", &request),
        Some(
            json!({"keyId": "k", "granteePrincipal": "arn:aws:iam::111122223333:user/Bob",
            "operations": ["Encrypt", "RetireGrant"],
            "constraints": {"encryptionContextSubset": {"ContextKey1": "Value1"}}})
        )
    );
    let response = json!({"GrantId": "f020fe75", "GrantToken": "AQpAM2RhZTk1MGM"});
    assert_eq!(
        response_elements("CreateGrant", &response),
        Some(json!({"grantId": "f020fe75"}))
    );
}

/// CloudTrail's CreateKey entry prints `keyMetadata.AWSAccountId` and `keyMetadata.keyId`;
/// tags come out as tagKey/tagValue. A secret-named member inside is dropped all the same.
#[test]
fn create_key_records_key_metadata_with_cloudtrails_names() {
    let request = json!({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT",
        "Tags": [{"TagKey": "team", "TagValue": "a"}]});
    assert_eq!(
        request_parameters("CreateKey", &request),
        Some(
            json!({"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT",
                    "tags": [{"tagKey": "team", "tagValue": "a"}]})
        )
    );
    let response = json!({"KeyMetadata": {"AWSAccountId": "111122223333", "KeyId": "1234",
        "MultiRegionConfiguration": {"PrimaryKey": {"Arn": "arn:x", "Region": "us-west-2"}},
        "PrivateKeyPlaintext": "TOP-SECRET"}});
    assert_eq!(
        response_elements("CreateKey", &response),
        Some(
            json!({"keyMetadata": {"AWSAccountId": "111122223333", "keyId": "1234",
            "multiRegionConfiguration": {"primaryKey": {"arn": "arn:x", "region": "us-west-2"}}}})
        )
    );
}

#[test]
fn an_unknown_operation_records_its_key_id_alone() {
    let request = json!({"KeyId": "k", "Note": "plain", "Secret": "TOP-SECRET"});
    assert_eq!(
        request_parameters("CreateUser", &request),
        Some(json!({"keyId": "k"}))
    );
    assert_eq!(
        request_parameters("CreateUser", &json!({"UserName": "bob"})),
        None
    );
    assert_eq!(
        response_elements("CreateUser", &json!({"KeyId": "k"})),
        None
    );
}

/// A refused request is recorded too, whatever its body: a member with a shape the model
/// does not give is recorded as null, not copied.
#[test]
fn a_malformed_member_is_recorded_as_null() {
    let request = json!({"KeyId": {"Plaintext": "TOP-SECRET"}, "EncryptionContext": {"a": {"b": "TOP-SECRET"}}});
    assert_eq!(
        request_parameters("Encrypt", &request),
        Some(json!({"keyId": null, "encryptionContext": null}))
    );
    assert_eq!(request_parameters("Encrypt", &json!("not an object")), None);
}

#[test]
fn names_are_decapitalized_as_cloudtrail_prints_them() {
    assert_eq!(cloudtrail_name("KeyId"), "keyId");
    assert_eq!(cloudtrail_name("AWSAccountId"), "AWSAccountId");
    assert_eq!(
        cloudtrail_name("EncryptionContextSubset"),
        "encryptionContextSubset"
    );
    assert_eq!(cloudtrail_name(""), "");
}

/// Inside a structure only the model's members are copied, at every depth: a refused
/// request's body is whatever the caller sent, and a name that does not look secret can
/// hold a secret all the same.
#[test]
fn a_structure_keeps_only_its_model_members() {
    let request = json!({"KeyId": "k", "GranteePrincipal": "p", "Operations": ["Decrypt"],
        "Constraints": {"EncryptionContextSubset": {"a": "b"}, "Note": "TOP-SECRET-1"}});
    let text = json!(request_parameters("CreateGrant", &request)).to_string();
    assert!(!text.contains("TOP-SECRET"), "{text}");
    let request = json!({"Tags": [{"TagKey": "t", "TagValue": "v", "Data": "TOP-SECRET-2"}]});
    let text = json!(request_parameters("CreateKey", &request)).to_string();
    assert!(!text.contains("TOP-SECRET"), "{text}");
    let response = json!({"KeyMetadata": {"KeyId": "k", "Extra": "TOP-SECRET-3",
        "MultiRegionConfiguration": {"PrimaryKey": {"Arn": "a", "Material": "TOP-SECRET-4"},
            "ReplicaKeys": [{"Arn": "b", "Region": "r", "Seed": "TOP-SECRET-5"}]},
        "XksKeyConfiguration": {"Id": "x", "Key": "TOP-SECRET-6"}}});
    for op in ["CreateKey", "ReplicateKey"] {
        let response = match op {
            "CreateKey" => response.clone(),
            _ => json!({"ReplicaKeyMetadata": response["KeyMetadata"].clone()}),
        };
        let kept = response_elements(op, &response).unwrap();
        let text = kept.to_string();
        assert!(!text.contains("TOP-SECRET"), "{op}: {text}");
        let metadata = &kept[if op == "CreateKey" {
            "keyMetadata"
        } else {
            "replicaKeyMetadata"
        }];
        assert_eq!(
            metadata["multiRegionConfiguration"]["replicaKeys"][0]["region"],
            "r"
        );
        assert_eq!(metadata["xksKeyConfiguration"]["id"], "x");
    }
}

/// `KeyMetadata`'s allowlist names every member the model gives it (none is secret).
#[test]
fn key_metadata_records_every_model_member() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let mut filler = Filler {
        shapes,
        secrets: Vec::new(),
        label: "CreateKey".into(),
    };
    let response = filler.value("CreateKeyResponse", "", false, 0);
    let kept = response_elements("CreateKey", &response).unwrap();
    let recorded: BTreeSet<String> = kept["keyMetadata"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<String> = shapes["KeyMetadata"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| cloudtrail_name(m[0].as_str().unwrap()))
        .collect();
    assert_eq!(recorded, expected);
}
