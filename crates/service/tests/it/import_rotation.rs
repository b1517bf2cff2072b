//! Rotation of imported key material on a 3-node cluster: new material imported with
//! `ImportType=NEW_KEY_MATERIAL` waits (PENDING_ROTATION) until RotateKeyOnDemand makes it
//! current; every version decrypts its ciphertexts on every node; deleting any version makes
//! the key unusable until that same material is imported again, found by its material or by
//! its KeyMaterialId; pending material can be deleted and replaced.

use serde_json::{json, Value};

use crate::harness::*;
use crate::import::{import, parameters, state, wrap};

const A: [u8; 32] = [0xa1; 32];
const B: [u8; 32] = [0xb2; 32];
const C: [u8; 32] = [0xc3; 32];

fn new_material() -> Value {
    json!({"ImportType": "NEW_KEY_MATERIAL", "KeyMaterialDescription": "second"})
}

async fn encrypt(c: &Cluster, key: &str, text: &[u8]) -> Value {
    let out = c
        .ok("Encrypt", json!({"KeyId": key, "Plaintext": b64(text)}))
        .await;
    out["CiphertextBlob"].clone()
}

/// Decrypts `sealed` on every node: its plaintext, and the material id each answered.
async fn decrypts_everywhere(c: &Cluster, sealed: &Value, text: &[u8], material_id: &Value) {
    for node in &c.nodes {
        let input = json!({"CiphertextBlob": sealed});
        let out = c.call_as(node.id, &root(), "Decrypt", input).await.unwrap();
        assert_eq!(unb64(&out["Plaintext"]), text, "node {}", node.id);
        assert_eq!(&out["KeyMaterialId"], material_id, "node {}", node.id);
    }
}

async fn materials(c: &Cluster, key: &str, include: &str) -> Vec<Value> {
    let input = json!({"KeyId": key, "IncludeKeyMaterial": include});
    let out = c.ok("ListKeyRotations", input).await;
    out["Rotations"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_material_rotates_on_demand_and_every_version_must_be_there() {
    let c = Cluster::start(89, 3).await;
    let made = c.ok("CreateKey", json!({"Origin": "EXTERNAL"})).await;
    let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let arn = made["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let id_a = import(&c, &key, &A, json!({})).await.unwrap()["KeyMaterialId"].clone();
    let first = encrypt(&c, &key, b"under a").await;
    let m = c
        .fails(
            "RotateKeyOnDemand",
            json!({"KeyId": key}),
            "KMSInvalidStateException",
        )
        .await;
    assert_eq!(
        m,
        format!("No available key material pending rotation for the key: {arn}.")
    );

    // New material waits; the key still encrypts under A.
    let id_b = import(&c, &key, &B, new_material()).await.unwrap()["KeyMaterialId"].clone();
    assert_ne!(id_b, id_a);
    assert_eq!(state(&c, &key).await["CurrentKeyMaterialId"], id_a);
    let listed = materials(&c, &key, "ALL_KEY_MATERIAL").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (
            &listed[0]["KeyMaterialId"],
            listed[0]["KeyMaterialState"].as_str()
        ),
        (&id_a, Some("CURRENT"))
    );
    let pending = &listed[1];
    assert_eq!(pending["KeyMaterialId"], id_b);
    assert_eq!(pending["KeyMaterialState"], "PENDING_ROTATION");
    assert_eq!(pending["ImportState"], "IMPORTED");
    assert_eq!(pending["KeyMaterialDescription"], "second");
    assert!(pending.get("RotationDate").is_none(), "{pending}");
    assert!(materials(&c, &key, "ROTATIONS_ONLY").await.is_empty());
    // One waits at a time; a KeyMaterialId never goes with new material; A is not new.
    let m = import(&c, &key, &C, new_material()).await.unwrap_err();
    assert_eq!(m.aws_code(), "KMSInvalidStateException", "{m}");
    assert!(m.message.contains("pending rotation already exists"), "{m}");
    let with_id = json!({"ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": id_a});
    let m = import(&c, &key, &C, with_id).await.unwrap_err();
    assert_eq!(m.aws_code(), "ValidationException", "{m}");
    assert_eq!(
        m.message,
        "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL."
    );

    // The rotation: B is current, A still decrypts, everywhere.
    let rotated = c.ok("RotateKeyOnDemand", json!({"KeyId": key})).await;
    assert_eq!(rotated["KeyId"], arn.as_str());
    assert_eq!(state(&c, &key).await["CurrentKeyMaterialId"], id_b);
    let rotations = materials(&c, &key, "ROTATIONS_ONLY").await;
    assert_eq!(rotations.len(), 1, "{rotations:?}");
    assert_eq!(rotations[0]["KeyMaterialId"], id_b);
    assert_eq!(rotations[0]["RotationType"], "ON_DEMAND");
    assert_eq!(rotations[0]["KeyMaterialState"], "CURRENT");
    let second = encrypt(&c, &key, b"under b").await;
    decrypts_everywhere(&c, &first, b"under a", &id_a).await;
    decrypts_everywhere(&c, &second, b"under b", &id_b).await;
    let m = import(&c, &key, &A, new_material()).await.unwrap_err();
    assert_eq!(m.aws_code(), "IncorrectKeyMaterialException", "{m}");

    // A out: the key waits for A (other material will not do), found by its material alone.
    let deleted = c
        .ok(
            "DeleteImportedKeyMaterial",
            json!({"KeyId": key, "KeyMaterialId": id_a}),
        )
        .await;
    assert_eq!(deleted["KeyMaterialId"], id_a);
    assert_eq!(state(&c, &key).await["KeyState"], "PendingImport");
    assert_eq!(state(&c, &key).await["CurrentKeyMaterialId"], id_b);
    let refused = json!({"CiphertextBlob": second});
    c.fails("Decrypt", refused, "KMSInvalidStateException")
        .await;
    let m = import(&c, &key, &C, json!({})).await.unwrap_err();
    assert_eq!(m.aws_code(), "IncorrectKeyMaterialException", "{m}");
    let back = import(&c, &key, &A, json!({})).await.unwrap();
    assert_eq!(back["KeyMaterialId"], id_a);
    assert_eq!(state(&c, &key).await["KeyState"], "Enabled");
    decrypts_everywhere(&c, &first, b"under a", &id_a).await;
    decrypts_everywhere(&c, &second, b"under b", &id_b).await;
    // By KeyMaterialId: the material must be that version's.
    let named = json!({"ImportType": "EXISTING_KEY_MATERIAL", "KeyMaterialId": id_b});
    assert_eq!(
        import(&c, &key, &B, named.clone()).await.unwrap()["KeyMaterialId"],
        id_b
    );
    let m = import(&c, &key, &A, named).await.unwrap_err();
    assert_eq!(m.aws_code(), "IncorrectKeyMaterialException", "{m}");

    // Pending material can be deleted, leaving the key as it was.
    let id_c = import(&c, &key, &C, new_material()).await.unwrap()["KeyMaterialId"].clone();
    let deleted = c
        .ok(
            "DeleteImportedKeyMaterial",
            json!({"KeyId": key, "KeyMaterialId": id_c}),
        )
        .await;
    assert_eq!(deleted["KeyMaterialId"], id_c);
    assert_eq!(state(&c, &key).await["KeyState"], "Enabled");
    assert_eq!(materials(&c, &key, "ALL_KEY_MATERIAL").await.len(), 2);
    let m = c
        .fails(
            "RotateKeyOnDemand",
            json!({"KeyId": key}),
            "KMSInvalidStateException",
        )
        .await;
    assert!(
        m.starts_with("No available key material pending rotation"),
        "{m}"
    );
    // Without a KeyMaterialId, DeleteImportedKeyMaterial takes the current material.
    let deleted = c
        .ok("DeleteImportedKeyMaterial", json!({"KeyId": key}))
        .await;
    assert_eq!(deleted["KeyMaterialId"], id_b);
    c.fails(
        "Encrypt",
        json!({"KeyId": key, "Plaintext": b64(b"x")}),
        "KMSInvalidStateException",
    )
    .await;
    // A token of GetParametersForImport wraps for the key whatever the version.
    let (public, token) = parameters(&c, &key).await;
    let input = json!({"KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": wrap(&public, &B),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"});
    assert_eq!(
        c.ok("ImportKeyMaterial", input).await["KeyMaterialId"],
        id_b
    );
    decrypts_everywhere(&c, &second, b"under b", &id_b).await;
}
