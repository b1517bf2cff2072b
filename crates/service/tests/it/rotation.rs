//! Key rotation on a 3-node cluster: every material version decrypts on every node after
//! rotations, automatic rotation fires when the (injected, shared) clock passes its date, and
//! each refusal is AWS's.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn encrypt(c: &Cluster, key: &str, text: &[u8]) -> Value {
    c.ok("Encrypt", json!({"KeyId": key, "Plaintext": b64(text)}))
        .await["CiphertextBlob"]
        .clone()
}

fn current_material(described: &Value) -> String {
    described["KeyMetadata"]["CurrentKeyMaterialId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_version_decrypts_on_every_node_after_three_rotations() {
    let c = Cluster::start(85, 3).await;
    let key = c.create_key().await;
    let mut made = vec![];
    let mut materials = vec![];
    for round in 0..4u8 {
        if round > 0 {
            let rotated = c.ok("RotateKeyOnDemand", json!({"KeyId": key})).await;
            assert!(
                rotated["KeyId"].as_str().unwrap().ends_with(&key),
                "{rotated}"
            );
        }
        let described = c.ok("DescribeKey", json!({"KeyId": key})).await;
        materials.push(current_material(&described));
        made.push((vec![round; 20], encrypt(&c, &key, &[round; 20]).await));
    }
    assert_eq!(
        materials.iter().collect::<BTreeSet<_>>().len(),
        4,
        "each rotation makes a new current material: {materials:?}"
    );
    for node in &c.nodes {
        for ((plain, blob), material) in made.iter().zip(&materials) {
            let out = c
                .call_as(node.id, &root(), "Decrypt", json!({"CiphertextBlob": blob}))
                .await
                .unwrap();
            assert_eq!(unb64(&out["Plaintext"]), *plain, "node {}", node.id);
            assert_eq!(out["KeyMaterialId"], json!(material), "node {}", node.id);
        }
    }
    // ReEncrypt names the version that sealed the source and the one that seals anew.
    let re = c
        .ok(
            "ReEncrypt",
            json!({"CiphertextBlob": made[0].1, "DestinationKeyId": key}),
        )
        .await;
    assert_eq!(re["SourceKeyMaterialId"], json!(materials[0]));
    assert_eq!(re["DestinationKeyMaterialId"], json!(materials[3]));

    let listed = c.ok("ListKeyRotations", json!({"KeyId": key})).await;
    let rotations = listed["Rotations"].as_array().unwrap();
    assert_eq!(rotations.len(), 3, "{listed}");
    assert_eq!(listed["Truncated"], json!(false));
    for (entry, material) in rotations.iter().zip(&materials[1..]) {
        assert_eq!(entry["KeyMaterialId"], json!(material));
        assert_eq!(entry["RotationType"], "ON_DEMAND");
        assert!(entry["RotationDate"].is_number(), "{entry}");
    }
    assert_eq!(rotations[2]["KeyMaterialState"], "CURRENT");
    assert_eq!(rotations[0]["KeyMaterialState"], "NON_CURRENT");

    // With the first material, one per page.
    let mut seen = vec![];
    let mut marker: Option<String> = None;
    loop {
        let mut input = json!({"KeyId": key, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Limit": 1});
        if let Some(m) = &marker {
            input["Marker"] = json!(m);
        }
        let page = c.ok("ListKeyRotations", input).await;
        let entries = page["Rotations"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{page}");
        seen.push(entries[0]["KeyMaterialId"].as_str().unwrap().to_owned());
        match page["Truncated"].as_bool().unwrap() {
            true => marker = Some(page["NextMarker"].as_str().unwrap().to_owned()),
            false => break,
        }
    }
    assert_eq!(seen, materials, "the first material, then each rotation's");
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_rotation_fires_when_its_date_passes() {
    let c = Cluster::start(86, 3).await;
    let key = c.create_key().await;
    let before = encrypt(&c, &key, b"old").await;
    let off = c.ok("GetKeyRotationStatus", json!({"KeyId": key})).await;
    assert_eq!(off["KeyRotationEnabled"], json!(false), "{off}");
    assert!(off.get("NextRotationDate").is_none(), "{off}");

    c.ok(
        "EnableKeyRotation",
        json!({"KeyId": key, "RotationPeriodInDays": 90}),
    )
    .await;
    let on = c.ok("GetKeyRotationStatus", json!({"KeyId": key})).await;
    assert_eq!(on["KeyRotationEnabled"], json!(true), "{on}");
    assert_eq!(on["RotationPeriodInDays"], json!(90));
    let next = on["NextRotationDate"].as_f64().unwrap();
    let leader = c.leader().await;
    let service = &c.node(leader).service;

    // A day early: nothing.
    c.advance(DAY * 89).await;
    assert_eq!(service.rotate_due_keys().await.unwrap(), 0);
    let none = c.ok("ListKeyRotations", json!({"KeyId": key})).await;
    assert_eq!(none["Rotations"], json!([]), "{none}");

    // Due: the leader's task rotates it once, and schedules the next a period later.
    service.spawn_rotation_task();
    c.advance(DAY * 2).await;
    let listed = wait_for(
        "the automatic rotation",
        Duration::from_secs(10),
        || async {
            let listed = c.ok("ListKeyRotations", json!({"KeyId": key})).await;
            (!listed["Rotations"].as_array().unwrap().is_empty()).then_some(listed)
        },
    )
    .await;
    assert_eq!(
        listed["Rotations"][0]["RotationType"], "AUTOMATIC",
        "{listed}"
    );
    let later = c.ok("GetKeyRotationStatus", json!({"KeyId": key})).await;
    let moved = later["NextRotationDate"].as_f64().unwrap();
    assert!(moved >= next + 90.0 * 86400.0, "{next} -> {moved}");
    assert_eq!(
        c.ok("ListKeyRotations", json!({"KeyId": key})).await["Rotations"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "one rotation per date, not one per scan"
    );
    let out = c.ok("Decrypt", json!({"CiphertextBlob": before})).await;
    assert_eq!(unb64(&out["Plaintext"]), b"old");

    // Disabled: the schedule goes, the history stays.
    c.ok("DisableKeyRotation", json!({"KeyId": key})).await;
    let off = c.ok("GetKeyRotationStatus", json!({"KeyId": key})).await;
    assert_eq!(
        off,
        json!({"KeyId": off["KeyId"], "KeyRotationEnabled": false})
    );
    c.clock.advance(DAY * 400);
    assert_eq!(service.rotate_due_keys().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_aws_and_change_nothing() {
    let c = Cluster::start(87, 1).await;
    let key = c.create_key().await;
    let arn = c.ok("DescribeKey", json!({"KeyId": key})).await["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();

    // The on-demand limit.
    for _ in 0..25 {
        c.ok("RotateKeyOnDemand", json!({"KeyId": key})).await;
    }
    let message = c
        .fails(
            "RotateKeyOnDemand",
            json!({"KeyId": key}),
            "LimitExceededException",
        )
        .await;
    assert_eq!(
        message,
        format!(
            "The on-demand rotations limit has been reached for the given keyId. No more \
             on-demand rotations can be performed for this key: {arn}"
        )
    );
    let all = c
        .ok(
            "ListKeyRotations",
            json!({"KeyId": key, "Limit": 1000, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
        )
        .await;
    assert_eq!(all["Rotations"].as_array().unwrap().len(), 26);

    // Keys that do not rotate: no message, as AWS answers RotateKeyOnDemand on an RSA key.
    for spec in ["RSA_2048", "HMAC_256"] {
        let usage = match spec {
            "RSA_2048" => "SIGN_VERIFY",
            _ => "GENERATE_VERIFY_MAC",
        };
        let other = c
            .ok("CreateKey", json!({"KeySpec": spec, "KeyUsage": usage}))
            .await["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        for op in [
            "EnableKeyRotation",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
            "RotateKeyOnDemand",
            "ListKeyRotations",
        ] {
            let m = c
                .fails(op, json!({"KeyId": other}), "UnsupportedOperationException")
                .await;
            assert_eq!(m, "", "{op} {spec}");
        }
    }

    // Key states.
    let disabled = c.create_key().await;
    c.ok("DisableKey", json!({"KeyId": disabled})).await;
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
    ] {
        let m = c
            .fails(op, json!({"KeyId": disabled}), "DisabledException")
            .await;
        assert!(
            m.ends_with(&format!("key/{disabled} is disabled.")),
            "{op}: {m}"
        );
    }
    c.ok("GetKeyRotationStatus", json!({"KeyId": disabled}))
        .await;
    c.ok("ListKeyRotations", json!({"KeyId": disabled})).await;

    let pending = c.create_key().await;
    c.ok("EnableKeyRotation", json!({"KeyId": pending})).await;
    c.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": pending, "PendingWindowInDays": 7}),
    )
    .await;
    for op in [
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
    ] {
        let m = c
            .fails(op, json!({"KeyId": pending}), "KMSInvalidStateException")
            .await;
        assert!(m.ends_with("is pending deletion."), "{op}: {m}");
    }
    // Rotation reads off while pending deletion, and comes back when it is cancelled.
    let status = c
        .ok("GetKeyRotationStatus", json!({"KeyId": pending}))
        .await;
    assert_eq!(status["KeyRotationEnabled"], json!(false));
    c.ok("CancelKeyDeletion", json!({"KeyId": pending})).await;
    c.ok("EnableKey", json!({"KeyId": pending})).await;
    let status = c
        .ok("GetKeyRotationStatus", json!({"KeyId": pending}))
        .await;
    assert_eq!(status["KeyRotationEnabled"], json!(true));
    assert_eq!(status["RotationPeriodInDays"], json!(365));

    // Input the model refuses, and a marker that is not one.
    let m = c
        .fails(
            "EnableKeyRotation",
            json!({"KeyId": key, "RotationPeriodInDays": 89}),
            "ValidationException",
        )
        .await;
    assert!(m.contains("rotationPeriodInDays"), "{m}");
    c.fails(
        "ListKeyRotations",
        json!({"KeyId": key, "IncludeKeyMaterial": "SOME"}),
        "ValidationException",
    )
    .await;
    c.fails(
        "ListKeyRotations",
        json!({"KeyId": key, "Marker": "x"}),
        "InvalidMarkerException",
    )
    .await;
    let missing = "11111111-2222-3333-4444-555555555555";
    for op in [
        "EnableKeyRotation",
        "RotateKeyOnDemand",
        "GetKeyRotationStatus",
    ] {
        let m = c
            .fails(op, json!({"KeyId": missing}), "NotFoundException")
            .await;
        assert!(m.contains(missing), "{m}");
    }
    let status = c.ok("GetKeyRotationStatus", json!({"KeyId": key})).await;
    assert_eq!(
        status["KeyRotationEnabled"],
        json!(false),
        "refusals changed nothing"
    );
}
