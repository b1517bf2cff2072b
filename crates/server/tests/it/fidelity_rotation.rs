//! Every refusal of the rotation and import operations (issue 24) as AWS answers it: code,
//! HTTP status and message, on one real `trentd`, and none of them changes a key. The limit of
//! on-demand rotations, the origin check and the missing validTo are AWS's recorded texts; an
//! unrotatable key gets AWS's empty message.

use serde_json::json;

use crate::fidelity::{answered_as_aws_without_change, case, null, one, silent, Case};
use crate::harness::*;

struct Keys {
    enabled: String,
    disabled: String,
    pending: String,
    hmac: String,
    limited: String,
    external: String,
    external_rsa: String,
}

fn cases(k: &Keys, arn: impl Fn(&str) -> String) -> Vec<Case> {
    let unknown = "0000aaaa-12ab-34cd-56ef-1234567890ab";
    let mut cases = vec![
        case("EnableKeyRotation", json!({"KeyId": k.enabled, "RotationPeriodInDays": 89}), "ValidationException",
            &one("Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90")),
        case("EnableKeyRotation", json!({"KeyId": k.enabled, "RotationPeriodInDays": 2561}), "ValidationException",
            &one("Value '2561' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560")),
        case("EnableKeyRotation", json!({}), "ValidationException", &null("keyId")),
        case("EnableKeyRotation", json!({"KeyId": "alias/rotating"}), "NotFoundException",
            "Invalid keyId 'alias/rotating'"),
        case("ListKeyRotations", json!({"KeyId": k.enabled, "Limit": 0}), "ValidationException",
            &one("Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")),
        case("ListKeyRotations", json!({"KeyId": k.enabled, "IncludeKeyMaterial": "ALL"}), "ValidationException",
            &one("Value 'ALL' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]")),
        silent("ListKeyRotations", json!({"KeyId": k.enabled, "Marker": "zzz"}), "InvalidMarkerException"),
        case("RotateKeyOnDemand", json!({"KeyId": k.limited}), "LimitExceededException",
            &format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}", arn(&k.limited))),
    ];
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
    ] {
        cases.push(case(
            op,
            json!({"KeyId": k.disabled}),
            "DisabledException",
            &format!("{} is disabled.", arn(&k.disabled)),
        ));
        cases.push(case(
            op,
            json!({"KeyId": k.pending}),
            "KMSInvalidStateException",
            &format!("{} is pending deletion.", arn(&k.pending)),
        ));
    }
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "GetKeyRotationStatus",
        "RotateKeyOnDemand",
        "ListKeyRotations",
    ] {
        cases.push(silent(
            op,
            json!({"KeyId": k.hmac}),
            "UnsupportedOperationException",
        ));
        cases.push(case(
            op,
            json!({"KeyId": unknown}),
            "NotFoundException",
            &format!("Key '{}' does not exist", arn(unknown)),
        ));
        cases.push(case(
            op,
            json!({"KeyId": "arn:aws:kms"}),
            "InvalidArnException",
            "Invalid arn arn:aws:kms",
        ));
    }
    let params = |key: &str, alg: &str, spec: &str| json!({"KeyId": key, "WrappingAlgorithm": alg, "WrappingKeySpec": spec});
    let ext = &k.external;
    cases.extend([
        case("GetParametersForImport", params(&k.enabled, "RSAES_OAEP_SHA_256", "RSA_2048"), "UnsupportedOperationException",
            &format!("{} origin is AWS_KMS which is not valid for this operation.", arn(&k.enabled))),
        case("ImportKeyMaterial", json!({"KeyId": k.enabled, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
            "UnsupportedOperationException", &format!("{} origin is AWS_KMS which is not valid for this operation.", arn(&k.enabled))),
        case("DeleteImportedKeyMaterial", json!({"KeyId": k.enabled}), "UnsupportedOperationException",
            &format!("{} origin is AWS_KMS which is not valid for this operation.", arn(&k.enabled))),
        case("GetParametersForImport", params(ext, "RSAES_PKCS1_V1_5", "RSA_2048"), "UnsupportedOperationException",
            "WrappingAlgorithm RSAES_PKCS1_V1_5 (retired by AWS KMS in 2023) is not supported for importing key material"),
        case("GetParametersForImport", params(ext, "RSAES_OAEP_SHA_256", "SM2"), "UnsupportedOperationException",
            "KeySpec SM2 is available only in the AWS China Regions; trent does not offer it."),
        case("GetParametersForImport", params(&k.external_rsa, "RSAES_OAEP_SHA_256", "RSA_4096"), "ValidationException",
            "RSA key material must be wrapped with RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256."),
        case("GetParametersForImport", json!({"KeyId": ext, "WrappingKeySpec": "RSA_2048"}), "ValidationException", &null("wrappingAlgorithm")),
        case("ImportKeyMaterial", json!({"KeyId": ext, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA"}), "ValidationException",
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
        case("ImportKeyMaterial", json!({"KeyId": ext, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": 4102444800u64}),
            "ValidationException", "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"),
        case("ImportKeyMaterial", json!({"KeyId": ext, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
            "InvalidImportTokenException", "The import token is invalid or is associated with a different KMS key."),
        case("ImportKeyMaterial", json!({"KeyId": ext, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "EXISTING_KEY_MATERIAL"}),
            "IncorrectKeyMaterialException", "No key material was imported into this KMS key before: use ImportType NEW_KEY_MATERIAL"),
        case("ImportKeyMaterial", json!({"KeyId": k.external_rsa, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "NEW_KEY_MATERIAL"}),
            "ValidationException", "ImportType is only valid for SYMMETRIC_DEFAULT keys, not RSA_2048"),
        case("ImportKeyMaterial", json!({"KeyId": ext, "ImportToken": "AAAA", "EncryptedKeyMaterial": "AAAA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": "ab".repeat(32)}),
            "ValidationException", "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL."),
        case("DeleteImportedKeyMaterial", json!({"KeyId": ext, "KeyMaterialId": "ab".repeat(32)}), "IncorrectKeyMaterialException",
            &format!("KeyMaterialId {} does not identify key material of this KMS key.", "ab".repeat(32))),
        case("CreateKey", json!({"Origin": "EXTERNAL", "KeySpec": "ML_DSA_65", "KeyUsage": "SIGN_VERIFY"}), "UnsupportedOperationException",
            "Key material of KeySpec ML_DSA_65 cannot be imported."),
        case("Encrypt", json!({"KeyId": ext, "Plaintext": "aGk="}), "KMSInvalidStateException", &format!("{} is pending import.", arn(ext))),
        case("RotateKeyOnDemand", json!({"KeyId": ext}), "KMSInvalidStateException", &format!("{} is pending import.", arn(ext))),
        case("EnableKeyRotation", json!({"KeyId": ext}), "KMSInvalidStateException", &format!("{} is pending import.", arn(ext))),
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_of_the_rotation_operations_is_answered_as_aws_answers_it() {
    let cluster = TestCluster::start(191, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let made = client.kms("CreateKey", &json!({})).await.unwrap();
    let arn = made["KeyMetadata"]["Arn"].as_str().unwrap();
    let prefix = arn.rsplit_once('/').unwrap().0.to_owned();
    let key = |made: serde_json::Value| made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let keys = Keys {
        enabled: key(made.clone()),
        disabled: key(client.kms("CreateKey", &json!({})).await.unwrap()),
        pending: key(client.kms("CreateKey", &json!({})).await.unwrap()),
        hmac: key(client
            .kms(
                "CreateKey",
                &json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            )
            .await
            .unwrap()),
        limited: key(client.kms("CreateKey", &json!({})).await.unwrap()),
        external: key(client
            .kms("CreateKey", &json!({"Origin": "EXTERNAL"}))
            .await
            .unwrap()),
        external_rsa: key(client
            .kms(
                "CreateKey",
                &json!({"Origin": "EXTERNAL", "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}),
            )
            .await
            .unwrap()),
    };
    client
        .kms("DisableKey", &json!({"KeyId": keys.disabled}))
        .await
        .unwrap();
    let pending = json!({"KeyId": keys.pending, "PendingWindowInDays": 7});
    client.kms("ScheduleKeyDeletion", &pending).await.unwrap();
    for _ in 0..25 {
        let input = json!({"KeyId": keys.limited});
        client.kms("RotateKeyOnDemand", &input).await.unwrap();
    }
    let before = list_keys(&client).await.unwrap();
    let cases = cases(&keys, |id| format!("{prefix}/{id}"));
    answered_as_aws_without_change(&client, &cases, before).await;
}
