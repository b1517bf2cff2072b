//! Scheduled deletion happens when the window passes on the leader's (injected) clock, and
//! removes the key's material and aliases on every node, and its unwrapped material from
//! every node's HSM cache as the deletion applies.

use std::time::Duration;

use serde_json::json;
use trent_hsm::Hsm;
use trent_model::KeyId;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_deletion_deletes_when_the_window_passes() {
    let c = Cluster::start(78, 3).await;
    let id = c.create_key().await;
    let kept = c.create_key().await;
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    )
    .await;
    let encrypted = c
        .ok("Encrypt", json!({"KeyId": id, "Plaintext": b64(b"m")}))
        .await;
    c.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .await;
    let leader = c.leader().await;
    let service = &c.node(leader).service;
    assert_eq!(
        c.node(leader).hsm.cached_keys(),
        1,
        "the used key is cached"
    );

    // Not yet due: nothing happens.
    c.clock.advance(Duration::from_secs(6 * 24 * 3600));
    assert_eq!(service.delete_due_keys().await.unwrap(), 0);
    c.ok("DescribeKey", json!({"KeyId": id})).await;

    // Due: the leader's deletion task deletes it; every node agrees.
    service.spawn_deletion_task();
    c.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let key_id: KeyId = id.parse().unwrap();
    for node in &c.nodes {
        wait_for("the key gone", Duration::from_secs(10), || async {
            node.service
                .node()
                .read_local(|s| s.key(&key_id).is_none())
                .then_some(())
        })
        .await;
        // Forgotten by the time the deletion is visible, not when the LRU gets to it.
        assert_eq!(
            node.hsm.cached_keys(),
            0,
            "node {} still caches it",
            node.id
        );
    }
    c.fails("DescribeKey", json!({"KeyId": id}), "NotFoundException")
        .await;
    c.fails(
        "DescribeKey",
        json!({"KeyId": "alias/doomed"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": encrypted["CiphertextBlob"]}),
        "AccessDeniedException",
    )
    .await;
    let listed = c.ok("ListKeys", json!({})).await;
    assert_eq!(listed["Keys"].as_array().unwrap().len(), 1);
    c.ok("DescribeKey", json!({"KeyId": kept})).await;
}
