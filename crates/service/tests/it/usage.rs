//! GetKeyLastUsage: the leader's notes answer at once, the replicated record survives a
//! leader change, and alias names and foreign keys are refused.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn last_usage_is_seen_at_once_and_survives_a_leader_change() {
    let mut c = Cluster::start(79, 3).await;
    let id = c.create_key().await;
    let fresh = c.ok("GetKeyLastUsage", json!({"KeyId": id})).await;
    assert_eq!(fresh["KeyLastUsage"], json!({}));
    assert_eq!(fresh["KeyId"], id);
    assert_eq!(fresh["TrackingStartDate"], fresh["KeyCreationDate"]);

    let e = c
        .ok("Encrypt", json!({"KeyId": id, "Plaintext": b64(b"m")}))
        .await;
    let used = c.ok("GetKeyLastUsage", json!({"KeyId": id})).await;
    assert_eq!(used["KeyLastUsage"]["Operation"], "Encrypt");
    c.ok("Decrypt", json!({"CiphertextBlob": e["CiphertextBlob"]}))
        .await;
    let arn = format!("arn:aws:kms:{REGION}:111122223333:key/{id}");
    let used = c.ok("GetKeyLastUsage", json!({"KeyId": arn})).await;
    assert_eq!(used["KeyLastUsage"]["Operation"], "Decrypt");
    let request_id = used["KeyLastUsage"]["KmsRequestId"].clone();
    assert!(request_id.is_string(), "{used}");

    // Persist the notes, then lose the leader: the new leader answers the same use.
    let leader = c.leader().await;
    assert_eq!(c.node(leader).service.flush_key_usage().await.unwrap(), 1);
    c.node(leader).service.node().shutdown().await;
    c.nodes.retain(|n| n.id != leader);
    c.leader().await;
    let after = c.ok("GetKeyLastUsage", json!({"KeyId": id})).await;
    assert_eq!(after["KeyLastUsage"]["Operation"], "Decrypt");
    assert_eq!(after["KeyLastUsage"]["KmsRequestId"], request_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn last_usage_refuses_aliases_and_unknown_keys() {
    let c = Cluster::start(80, 1).await;
    let id = c.create_key().await;
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/used", "TargetKeyId": id}),
    )
    .await;
    c.fails(
        "GetKeyLastUsage",
        json!({"KeyId": "alias/used"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "GetKeyLastUsage",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        "NotFoundException",
    )
    .await;
    c.fails("GetKeyLastUsage", json!({}), "ValidationException")
        .await;
    c.fails(
        "GetKeyLastUsage",
        json!({"KeyId": id, "Extra": 1}),
        "ValidationException",
    )
    .await;
}
