//! Membership changes under load: add a fourth node, then remove one; every write in between
//! is acknowledged.

use std::time::Duration;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn add_a_node_then_remove_one_while_serving() {
    let mut cluster = TestCluster::start(31, 3, &[]);
    let leader = cluster.leader().await;
    let mut acked = vec![create_key(&cluster.client(1)).await.unwrap()];

    // A new node starts empty, with no initial cluster: it waits to be added.
    let mut fourth = cluster.new_node(4, "");
    fourth.start();
    let entry = cluster.client(1);
    let adding = {
        let entry = entry.clone();
        let addr = fourth.peer_addr();
        tokio::spawn(async move { entry.add_node(4, &addr).await })
    };
    // Writes keep being acknowledged while the node joins.
    while !adding.is_finished() {
        acked.push(
            create_key(&cluster.client(2))
                .await
                .expect("write during add_node"),
        );
    }
    adding.await.unwrap().expect("add_node");
    cluster.nodes.push(fourth);
    wait_for_keys_locally(&cluster.client(4), &acked, Duration::from_secs(30)).await;
    let status = cluster.client(4).status().await.unwrap();
    assert!(
        status.members.iter().any(|m| m.id == 4 && m.voter),
        "{status:?}"
    );

    // Remove a follower that is not the entry point, while writes continue.
    let removed = [2, 3].into_iter().find(|&id| id != leader).unwrap();
    let removing = {
        let entry = entry.clone();
        tokio::spawn(async move { entry.remove_node(removed).await })
    };
    while !removing.is_finished() {
        acked.push(
            create_key(&cluster.client(4))
                .await
                .expect("write during remove_node"),
        );
    }
    removing.await.unwrap().expect("remove_node");
    cluster.node(removed).kill();

    acked.push(create_key(&cluster.client(4)).await.unwrap());
    let status = cluster.client(1).status().await.unwrap();
    let ids: Vec<u64> = status.members.iter().map(|m| m.id).collect();
    assert!(!ids.contains(&removed) && ids.contains(&4), "{status:?}");
    for id in ids {
        wait_for_keys_locally(&cluster.client(id), &acked, Duration::from_secs(30)).await;
    }

    // Bad membership requests are refused with a named reason and change nothing.
    let err = entry.remove_node(99).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err}");
    let err = entry.add_node(5, "no-port").await.unwrap_err();
    assert!(err.to_string().contains("has no port"), "{err}");
    assert_eq!(cluster.client(1).status().await.unwrap().members.len(), 3);
}
