//! A request sent to a follower is forwarded to the leader and answered as if the follower
//! had served it; a retried write (same SDK invocation id) is applied once, whichever node
//! receives the retry.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_write_to_a_follower_is_forwarded_and_every_node_serves_it() {
    let cluster = TestCluster::start(11, 3, &[]);
    let leader = cluster.leader().await;
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap();

    let id = create_key(&follower.client())
        .await
        .expect("write through a follower is acknowledged");

    // A read through any node reflects the acknowledged write at once...
    for node in &cluster.nodes {
        let key = describe(&node.client(), &id).await.unwrap();
        assert_eq!(key["KeyMetadata"]["KeyId"], id, "node {}", node.id);
    }
    // ...and every node's own state machine gets it.
    cluster.wait_all_applied().await;
    let status = status(&follower.client()).await.unwrap();
    assert!(
        status["Leader"]
            .as_u64()
            .is_some_and(|l| (1..=3).contains(&l)),
        "{status}"
    );
    assert_eq!(status["Members"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_write_is_applied_once_even_through_another_node() {
    let cluster = TestCluster::start(12, 3, &[]);
    cluster.leader().await;
    let key = create_key(&cluster.client(1)).await.unwrap();
    let input = json!({"AliasName": "alias/once", "TargetKeyId": key});
    let invocation = uuid::Uuid::new_v4().to_string();
    let target = "TrentService.CreateAlias";
    cluster
        .client(2)
        .call_with(target, &input, Some(&invocation))
        .await
        .unwrap();
    // The same call again, as an SDK retries it after losing the answer: it answers the
    // first outcome instead of AlreadyExists.
    cluster
        .client(3)
        .call_with(target, &input, Some(&invocation))
        .await
        .unwrap();
    // A new call for the same alias is a different write and is refused.
    let err = cluster
        .client(1)
        .kms("CreateAlias", &input)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"), "{err}");
}

/// A refused write stays refused: the same call again (an SDK retry, or an attempt the
/// network delayed past its retry) is answered the first refusal even when the state has
/// changed so that it would now pass, and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_write_stays_refused_for_its_retries_after_the_state_changes() {
    let cluster = TestCluster::start(13, 3, &[]);
    let leader = cluster.leader().await;
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    let (first, second) = (
        create_key(&cluster.client(leader)).await.unwrap(),
        create_key(&cluster.client(leader)).await.unwrap(),
    );
    let update = json!({"AliasName": "alias/refused", "TargetKeyId": first});
    let invocation = uuid::Uuid::new_v4().to_string();
    let target = "TrentService.UpdateAlias";
    let call = |node: u64| {
        let client = cluster.client(node);
        let (update, invocation) = (update.clone(), invocation.clone());
        async move { client.call_with(target, &update, Some(&invocation)).await }
    };
    let refused = call(follower).await.unwrap_err();
    assert_eq!(refused.code(), Some("NotFoundException"), "{refused}");

    let create = json!({"AliasName": "alias/refused", "TargetKeyId": second});
    cluster
        .client(leader)
        .kms("CreateAlias", &create)
        .await
        .unwrap();
    for node in [leader, follower] {
        let again = call(node).await.unwrap_err();
        assert_eq!(
            again.code(),
            Some("NotFoundException"),
            "node {node}: {again}"
        );
    }
    let key = describe(&cluster.client(follower), "alias/refused")
        .await
        .unwrap();
    assert_eq!(key["KeyMetadata"]["KeyId"], second);
}
