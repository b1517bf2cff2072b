//! Imported key material on a 3-node cluster, with the (injected, shared) clock driving
//! expiry and the import token's 24 hours: material wrapped outside the HSM (RSA-OAEP with
//! the answered public key) encrypts; it expires when its ValidTo passes, leaving the key
//! unusable until the same material comes back; other material, a spent token, another key's
//! token and a token past its 24 hours are refused.

use std::time::Duration;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use serde_json::{json, Value};

use crate::harness::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// `material` wrapped as RSAES_OAEP_SHA_256 under the DER public key `public`.
pub(crate) fn wrap(public: &[u8], material: &[u8]) -> String {
    let key = PublicEncryptingKey::from_der(public).unwrap();
    let oaep = OaepPublicEncryptingKey::new(key).unwrap();
    let mut out = vec![0; oaep.ciphertext_size()];
    let sealed = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap();
    b64(sealed)
}

/// GetParametersForImport for `key`: the public key and the token (base64).
pub(crate) async fn parameters(c: &Cluster, key: &str) -> (Vec<u8>, Value) {
    let input = json!({"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"});
    let out = c.ok("GetParametersForImport", input).await;
    assert!(out["KeyId"].as_str().unwrap().ends_with(key), "{out}");
    assert!(out["ParametersValidTo"].is_number(), "{out}");
    (unb64(&out["PublicKey"]), out["ImportToken"].clone())
}

/// ImportKeyMaterial of `material` (not expiring) into `key`, with `extra` members.
pub(crate) async fn import(
    c: &Cluster,
    key: &str,
    material: &[u8],
    extra: Value,
) -> Result<Value, trent_model::Error> {
    let (public, token) = parameters(c, key).await;
    let mut input = json!({
        "KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": wrap(&public, material),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    });
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c.call("ImportKeyMaterial", input).await
}

pub(crate) async fn state(c: &Cluster, key: &str) -> Value {
    c.ok("DescribeKey", json!({"KeyId": key})).await["KeyMetadata"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_material_encrypts_expires_and_only_the_same_comes_back() {
    let c = Cluster::start(88, 3).await;
    let made = c.ok("CreateKey", json!({"Origin": "EXTERNAL"})).await;
    let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let m = state(&c, &key).await;
    assert_eq!(
        (m["KeyState"].as_str(), m["Enabled"].as_bool()),
        (Some("PendingImport"), Some(false)),
        "{m}"
    );
    assert!(
        m.get("CurrentKeyMaterialId").is_none() && m.get("ExpirationModel").is_none(),
        "{m}"
    );
    let refused = c
        .fails(
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"x")}),
            "KMSInvalidStateException",
        )
        .await;
    assert!(refused.ends_with("is pending import."), "{refused}");

    // Imported, expiring in two days.
    let material = [0x42u8; 32];
    // The cluster's clock is the injected one, which moves only when the test moves it.
    let leader = c.leader().await;
    let now = c.node(leader).service.node().wall_clock() as f64 / 1000.0;
    let expiring =
        json!({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now + 2.0 * 86400.0});
    let (public, token) = parameters(&c, &key).await;
    let mut input = json!({"KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": wrap(&public, &material)});
    input
        .as_object_mut()
        .unwrap()
        .extend(expiring.as_object().unwrap().clone());
    let imported = c.ok("ImportKeyMaterial", input.clone()).await;
    assert!(
        imported["KeyId"].as_str().unwrap().starts_with("arn:"),
        "{imported}"
    );
    let m = state(&c, &key).await;
    assert_eq!(m["KeyState"], "Enabled", "{m}");
    assert_eq!(m["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert!(m["ValidTo"].is_number(), "{m}");
    assert_eq!(m["CurrentKeyMaterialId"], imported["KeyMaterialId"]);
    let sealed = c
        .ok(
            "Encrypt",
            json!({"KeyId": key, "Plaintext": b64(b"kept secret")}),
        )
        .await["CiphertextBlob"]
        .clone();
    for node in &c.nodes {
        let out = c
            .call_as(
                node.id,
                &root(),
                "Decrypt",
                json!({"CiphertextBlob": sealed}),
            )
            .await
            .unwrap();
        assert_eq!(unb64(&out["Plaintext"]), b"kept secret");
    }
    // The same token again: spent.
    c.fails("ImportKeyMaterial", input, "InvalidImportTokenException")
        .await;

    // A day early, nothing expires; at its date the leader's task deletes it.
    c.advance(DAY).await;
    let service = &c.node(leader).service;
    assert_eq!(service.expire_due_material().await.unwrap(), 0);
    service.spawn_expiry_task();
    c.advance(DAY + Duration::from_secs(1)).await;
    wait_for("the material expired", Duration::from_secs(10), || async {
        (state(&c, &key).await["KeyState"] == "PendingImport").then_some(())
    })
    .await;
    let m = state(&c, &key).await;
    assert!(m.get("ExpirationModel").is_none(), "{m}");
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": sealed}),
        "KMSInvalidStateException",
    )
    .await;

    // Other material cannot take its place; the same material brings the ciphertext back.
    let other = import(&c, &key, &[0x43; 32], json!({})).await.unwrap_err();
    assert_eq!(other.aws_code(), "IncorrectKeyMaterialException", "{other}");
    import(&c, &key, &material, json!({})).await.unwrap();
    let out = c.ok("Decrypt", json!({"CiphertextBlob": sealed})).await;
    assert_eq!(unb64(&out["Plaintext"]), b"kept secret");
    assert_eq!(
        state(&c, &key).await["ExpirationModel"],
        "KEY_MATERIAL_DOES_NOT_EXPIRE"
    );

    // A token past its 24 hours, and one of another key.
    let (public, token) = parameters(&c, &key).await;
    c.advance(DAY + Duration::from_secs(1)).await;
    let late = json!({"KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": wrap(&public, &material),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"});
    c.fails("ImportKeyMaterial", late, "ExpiredImportTokenException")
        .await;
    let second = c.ok("CreateKey", json!({"Origin": "EXTERNAL"})).await;
    let second = second["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let (public, token) = parameters(&c, &second).await;
    let foreign = json!({"KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": wrap(&public, &material),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"});
    c.fails("ImportKeyMaterial", foreign, "InvalidImportTokenException")
        .await;

    // Deleted: unusable again, until re-imported.
    let deleted = c
        .ok("DeleteImportedKeyMaterial", json!({"KeyId": key}))
        .await;
    assert_eq!(deleted["KeyMaterialId"], imported["KeyMaterialId"]);
    assert_eq!(state(&c, &key).await["KeyState"], "PendingImport");
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": sealed}),
        "KMSInvalidStateException",
    )
    .await;
    // And a key of trent's own material takes no import.
    let own = c.create_key().await;
    let input = json!({"KeyId": own, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"});
    let m = c
        .fails(
            "GetParametersForImport",
            input,
            "UnsupportedOperationException",
        )
        .await;
    assert!(
        m.ends_with("origin is AWS_KMS which is not valid for this operation."),
        "{m}"
    );
}
