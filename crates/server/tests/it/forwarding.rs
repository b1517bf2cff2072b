//! A write sent to a follower is forwarded, acknowledged, and then served by every node.

use std::time::Duration;

use trent_client::Consistency;
use trent_state::{Command, Outcome};
use uuid::Uuid;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_write_to_a_follower_is_forwarded_and_every_node_serves_it() {
    let cluster = TestCluster::start(11, 3, &[]);
    let leader = cluster.leader().await;
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.id != leader)
        .unwrap()
        .client();

    let id = create_key(&follower)
        .await
        .expect("write through a follower is acknowledged");

    for node in &cluster.nodes {
        // A linearizable read anywhere reflects the acknowledged write at once...
        let key = node
            .client()
            .get_key(id, Consistency::Linearizable)
            .await
            .unwrap();
        assert_eq!(
            key.unwrap().metadata.key_id,
            id,
            "linearizable read on node {}",
            node.id
        );
        // ...and every node's own state machine gets it.
        wait_for_keys_locally(&node.client(), &[id], Duration::from_secs(10)).await;
    }
    let status = follower.status().await.unwrap();
    assert_eq!(status.leader, Some(leader));
    assert_eq!(status.members.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_write_is_applied_once_even_through_another_node() {
    let cluster = TestCluster::start(12, 3, &[]);
    cluster.leader().await;
    let key = create_key(&cluster.client(1)).await.unwrap();
    let request_id = Uuid::new_v4();
    let command = Command::CreateAlias {
        account: account(),
        name: "alias/once".parse().unwrap(),
        target: key,
        max_aliases_per_key: None,
    };
    assert_eq!(
        cluster
            .client(2)
            .command(Some(request_id), &command)
            .await
            .unwrap(),
        Outcome::Done
    );
    // The same request again, as a client would retry it after losing the answer: it answers
    // the first outcome instead of AlreadyExists.
    assert_eq!(
        cluster
            .client(3)
            .command(Some(request_id), &command)
            .await
            .unwrap(),
        Outcome::Done
    );
    // A new request for the same alias is a different write and is refused.
    let err = cluster
        .client(1)
        .command(Some(Uuid::new_v4()), &command)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
}
