//! Every KMS operation trent implements answers, on success, exactly what AWS's model lists:
//! no member the output shape lacks, every member with its model type, and every member AWS
//! always sends (`trent_protocol::shape_check`). Checked on the raw bodies one real `trentd`
//! sends, for every key state an answer depends on (enabled, disabled, pending deletion).

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::{json, Value};
use trent_client::Client;
use trent_protocol::aws_model::model;
use trent_protocol::shape_check::check_output;
use trent_protocol::Operation;

use crate::harness::*;

/// The operations trent implements: `Operation::NAMES`, the one list
/// (`each_operation!` in crates/protocol/src/operation.rs).
const IMPLEMENTED: &[&str] = Operation::NAMES;

#[test]
fn the_list_is_every_implemented_operation() {
    for name in model().operation_names() {
        let parsed = Operation::from_target(name, json!({}));
        let unsupported =
            matches!(&parsed, Err(e) if e.aws_code() == "UnsupportedOperationException");
        assert_eq!(
            !unsupported,
            IMPLEMENTED.contains(&name),
            "{name}: {parsed:?}"
        );
    }
}

/// Calls `op` through `client`, checks the raw answer (HTTP 200, a JSON body of the AWS
/// shape), remembers that `op` was checked and returns the body.
async fn answer(client: &Client, checked: &mut BTreeSet<String>, op: &str, input: Value) -> Value {
    let body = serde_json::to_vec(&input).unwrap();
    let response = client
        .request(&format!("TrentService.{op}"), body, SystemTime::now())
        .unwrap()
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, 200, "{op} {input}: {text}");
    let value: Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{op}: {e}: {text:?}"));
    if let Err(problems) = check_output(op, &value) {
        panic!("{op} {input} answered {value}:\n{problems}");
    }
    checked.insert(op.to_owned());
    value
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_has_the_aws_shape() {
    let cluster = TestCluster::start(171, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let mut checked = BTreeSet::new();
    let c = &mut checked;
    let client = &client;

    // Keys, through every state an answer describes.
    let tags = json!([{"TagKey": "team", "TagValue": "kms"}]);
    let a = answer(
        client,
        c,
        "CreateKey",
        json!({"Description": "a", "Tags": tags}),
    )
    .await;
    let a = a["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let b = answer(client, c, "CreateKey", json!({})).await;
    assert_eq!(
        b["KeyMetadata"]["Description"], "",
        "AWS sends an empty description"
    );
    let b = b["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let d = answer(client, c, "DescribeKey", json!({"KeyId": a})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Enabled");
    answer(client, c, "ListKeys", json!({})).await;
    let page = answer(client, c, "ListKeys", json!({"Limit": 1})).await;
    assert_eq!(page["Truncated"], true);
    let marker = page["NextMarker"].clone();
    let rest = answer(client, c, "ListKeys", json!({"Marker": marker})).await;
    assert_eq!(rest["Truncated"], false);
    let empty = json!({});
    assert_eq!(
        answer(client, c, "DisableKey", json!({"KeyId": a})).await,
        empty
    );
    let d = answer(client, c, "DescribeKey", json!({"KeyId": a})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    assert_eq!(
        answer(client, c, "EnableKey", json!({"KeyId": a})).await,
        empty
    );
    let input = json!({"KeyId": a, "Description": "new"});
    assert_eq!(
        answer(client, c, "UpdateKeyDescription", input).await,
        empty
    );
    let never_used = answer(client, c, "GetKeyLastUsage", json!({"KeyId": b})).await;
    assert_eq!(never_used["KeyLastUsage"], empty);

    // Aliases.
    let input = json!({"AliasName": "alias/shapes", "TargetKeyId": a});
    assert_eq!(answer(client, c, "CreateAlias", input).await, empty);
    let input = json!({"AliasName": "alias/shapes-2", "TargetKeyId": a});
    assert_eq!(answer(client, c, "CreateAlias", input).await, empty);
    let input = json!({"AliasName": "alias/shapes", "TargetKeyId": b});
    assert_eq!(answer(client, c, "UpdateAlias", input).await, empty);
    let all = answer(client, c, "ListAliases", json!({})).await;
    assert_eq!(all["Aliases"].as_array().unwrap().len(), 2);
    answer(client, c, "ListAliases", json!({"KeyId": b})).await;
    let page = answer(client, c, "ListAliases", json!({"Limit": 1})).await;
    assert_eq!(page["Truncated"], true);
    let input = json!({"AliasName": "alias/shapes-2"});
    assert_eq!(answer(client, c, "DeleteAlias", input).await, empty);

    // Tags.
    let input = json!({"KeyId": b, "Tags": [{"TagKey": "k1", "TagValue": ""}, {"TagKey": "k2", "TagValue": "v"}]});
    assert_eq!(answer(client, c, "TagResource", input).await, empty);
    answer(client, c, "ListResourceTags", json!({"KeyId": b})).await;
    let page = answer(
        client,
        c,
        "ListResourceTags",
        json!({"KeyId": b, "Limit": 1}),
    )
    .await;
    assert_eq!(page["Truncated"], true);
    let input = json!({"KeyId": b, "TagKeys": ["k1"]});
    assert_eq!(answer(client, c, "UntagResource", input).await, empty);

    // Cryptography.
    let input = json!({"KeyId": a, "Plaintext": "c2VjcmV0", "EncryptionContext": {"k": "v"}});
    let e = answer(client, c, "Encrypt", input).await;
    let input = json!({"CiphertextBlob": e["CiphertextBlob"], "EncryptionContext": {"k": "v"}});
    let d = answer(client, c, "Decrypt", input).await;
    assert_eq!(d["Plaintext"], "c2VjcmV0");
    let input = json!({
        "CiphertextBlob": e["CiphertextBlob"],
        "SourceEncryptionContext": {"k": "v"},
        "DestinationKeyId": b,
    });
    answer(client, c, "ReEncrypt", input).await;
    let input = json!({"KeyId": "alias/shapes", "KeySpec": "AES_256"});
    answer(client, c, "GenerateDataKey", input).await;
    let input = json!({"KeyId": a, "NumberOfBytes": 16});
    answer(client, c, "GenerateDataKeyWithoutPlaintext", input).await;
    answer(client, c, "GenerateRandom", json!({"NumberOfBytes": 32})).await;
    answer(client, c, "GetKeyLastUsage", json!({"KeyId": a})).await;

    // Key policies.
    let p = answer(client, c, "GetKeyPolicy", json!({"KeyId": a})).await;
    assert_eq!(p["PolicyName"], "default");
    let input = json!({"KeyId": a, "Policy": p["Policy"], "PolicyName": "default"});
    assert_eq!(answer(client, c, "PutKeyPolicy", input).await, empty);
    let names = answer(client, c, "ListKeyPolicies", json!({"KeyId": a})).await;
    assert_eq!(names["PolicyNames"], json!(["default"]));

    // Grants: one with every optional member, one with none; pages of one.
    let me = format!("arn:aws:iam::{ACCOUNT}:root");
    let input = json!({
        "KeyId": a, "GranteePrincipal": me, "RetiringPrincipal": me, "Name": "full",
        "Operations": ["Encrypt", "Decrypt"],
        "Constraints": {"EncryptionContextSubset": {"k": "v"}},
    });
    let full = answer(client, c, "CreateGrant", input).await;
    let input = json!({"KeyId": a, "GranteePrincipal": ACCOUNT, "Operations": ["DescribeKey"]});
    let bare = answer(client, c, "CreateGrant", input).await;
    let listed = answer(client, c, "ListGrants", json!({"KeyId": a})).await;
    assert_eq!(listed["Grants"].as_array().unwrap().len(), 2);
    let page = answer(client, c, "ListGrants", json!({"KeyId": a, "Limit": 1})).await;
    assert_eq!(page["Truncated"], true);
    let input = json!({"RetiringPrincipal": me});
    let retirable = answer(client, c, "ListRetirableGrants", input).await;
    assert_eq!(retirable["Grants"].as_array().unwrap().len(), 1);
    let input = json!({"GrantToken": full["GrantToken"]});
    assert_eq!(answer(client, c, "RetireGrant", input).await, empty);
    let input = json!({"KeyId": a, "GrantId": bare["GrantId"]});
    assert_eq!(answer(client, c, "RevokeGrant", input).await, empty);

    // Every other key type: its metadata and each operation it offers.
    let key = |spec: &str, usage: &str| json!({"KeySpec": spec, "KeyUsage": usage});
    let signer = answer(client, c, "CreateKey", key("ECC_NIST_P256", "SIGN_VERIFY")).await;
    assert_eq!(
        signer["KeyMetadata"]["SigningAlgorithms"],
        json!(["ECDSA_SHA_256"])
    );
    assert!(signer["KeyMetadata"].get("EncryptionAlgorithms").is_none());
    let signer = signer["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let input = json!({"KeyId": signer, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"});
    let signed = answer(client, c, "Sign", input).await;
    let input = json!({
        "KeyId": signer, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256",
        "Signature": signed["Signature"],
    });
    assert_eq!(
        answer(client, c, "Verify", input).await["SignatureValid"],
        true
    );
    let public = answer(client, c, "GetPublicKey", json!({"KeyId": signer})).await;
    assert_eq!(public["SigningAlgorithms"], json!(["ECDSA_SHA_256"]));
    let mac_key = answer(
        client,
        c,
        "CreateKey",
        key("HMAC_256", "GENERATE_VERIFY_MAC"),
    )
    .await;
    let mac_key = mac_key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let input = json!({"KeyId": mac_key, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256"});
    let mac = answer(client, c, "GenerateMac", input).await;
    let input = json!({
        "KeyId": mac_key, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256", "Mac": mac["Mac"],
    });
    assert_eq!(
        answer(client, c, "VerifyMac", input).await["MacValid"],
        true
    );
    let agreeing = answer(
        client,
        c,
        "CreateKey",
        key("ECC_NIST_P256", "KEY_AGREEMENT"),
    )
    .await;
    let agreeing = agreeing["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let input = json!({
        "KeyId": agreeing, "KeyAgreementAlgorithm": "ECDH", "PublicKey": public["PublicKey"],
    });
    answer(client, c, "DeriveSharedSecret", input).await;
    let kem = answer(
        client,
        c,
        "CreateKey",
        key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
    )
    .await;
    let kem = kem["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let input = json!({"KeyId": kem, "EncapsulationAlgorithm": "ML_KEM"});
    let sealed = answer(client, c, "Encapsulate", input).await;
    let input = json!({
        "KeyId": kem, "EncapsulationAlgorithm": "ML_KEM",
        "SharedSecretCiphertextBlob": sealed["SharedSecretCiphertextBlob"],
    });
    let opened = answer(client, c, "Decapsulate", input).await;
    assert_eq!(opened["SharedSecret"], sealed["SharedSecret"]);
    let input = json!({"KeyId": a, "KeyPairSpec": "ECC_NIST_P256"});
    let pair = answer(client, c, "GenerateDataKeyPair", input.clone()).await;
    assert!(pair["PrivateKeyPlaintext"].is_string());
    let pair = answer(client, c, "GenerateDataKeyPairWithoutPlaintext", input).await;
    assert!(pair.get("PrivateKeyPlaintext").is_none());

    // Rotation: the status with and without a schedule, a rotation, the list with the first
    // material (no rotation date or type) and paged.
    let input = json!({"KeyId": a});
    let off = answer(client, c, "GetKeyRotationStatus", input.clone()).await;
    assert_eq!(off["KeyRotationEnabled"], false);
    answer(client, c, "EnableKeyRotation", input.clone()).await;
    let on = answer(client, c, "GetKeyRotationStatus", input.clone()).await;
    assert_eq!(on["KeyRotationEnabled"], true);
    answer(client, c, "RotateKeyOnDemand", input.clone()).await;
    let input = json!({"KeyId": a, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Limit": 1});
    let page = answer(client, c, "ListKeyRotations", input).await;
    assert_eq!(page["Truncated"], true);
    let input =
        json!({"KeyId": a, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Marker": page["NextMarker"]});
    let last = answer(client, c, "ListKeyRotations", input).await;
    assert_eq!(last["Rotations"][0]["RotationType"], "ON_DEMAND");
    answer(client, c, "DisableKeyRotation", json!({"KeyId": a})).await;

    // Import: an EXTERNAL key before, with and after its material.
    let external = answer(client, c, "CreateKey", json!({"Origin": "EXTERNAL"})).await;
    let external = external["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let input = json!({"KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"});
    let params = answer(client, c, "GetParametersForImport", input).await;
    let input = json!({
        "KeyId": external, "ImportToken": params["ImportToken"],
        "EncryptedKeyMaterial": wrap_for_import(&params["PublicKey"], &[7; 32]),
        "ExpirationModel": "KEY_MATERIAL_EXPIRES",
        "ValidTo": SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 86400,
    });
    answer(client, c, "ImportKeyMaterial", input).await;
    let d = answer(client, c, "DescribeKey", json!({"KeyId": external})).await;
    assert_eq!(
        d["KeyMetadata"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES",
        "{d}"
    );
    answer(
        client,
        c,
        "DeleteImportedKeyMaterial",
        json!({"KeyId": external}),
    )
    .await;
    let d = answer(client, c, "DescribeKey", json!({"KeyId": external})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingImport", "{d}");

    // Deletion: the pending key's metadata carries its date and window.
    let input = json!({"KeyId": b, "PendingWindowInDays": 7});
    let s = answer(client, c, "ScheduleKeyDeletion", input).await;
    assert_eq!(s["KeyState"], "PendingDeletion");
    let d = answer(client, c, "DescribeKey", json!({"KeyId": b})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingDeletion");
    assert_eq!(d["KeyMetadata"]["PendingDeletionWindowInDays"], 7);
    answer(client, c, "CancelKeyDeletion", json!({"KeyId": b})).await;
    let d = answer(client, c, "DescribeKey", json!({"KeyId": b})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");

    let implemented: BTreeSet<String> = IMPLEMENTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(checked, implemented);
}

/// `material` wrapped as RSAES_OAEP_SHA_256 under GetParametersForImport's `PublicKey`.
fn wrap_for_import(public_key: &Value, material: &[u8]) -> String {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let der = b64.decode(public_key.as_str().unwrap()).unwrap();
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
    let mut out = vec![0; key.ciphertext_size()];
    let sealed = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap();
    b64.encode(sealed)
}
