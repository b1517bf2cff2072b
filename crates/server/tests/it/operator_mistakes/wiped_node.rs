//! Issue 19, item 3: a founding node whose data dir was deleted, restarted with its original
//! command (`--initial-cluster` and all), must not vote: it forgot the writes it acknowledged,
//! so its vote could elect a leader without them. It says why, and comes back only through
//! the replace step (RemoveNode, then AddNode: a learner that catches up, then a voter).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::harness::*;

/// A node's own `/readyz` body, if it answers.
async fn readyz(node: &TestNode) -> Option<Value> {
    let response = reqwest::get(format!("{}/readyz", node.api())).await.ok()?;
    response.json().await.ok()
}

/// Waits until node `id` answers its probe naming `leader` as the leader.
async fn wait_leader_named(cluster: &TestCluster, id: u64, leader: u64) {
    let node = cluster.nodes.iter().find(|n| n.id == id).unwrap();
    wait_for(
        &format!("node {id} to follow leader {leader}"),
        Duration::from_secs(30),
        || async { (readyz(node).await?["leader"].as_u64()? == leader).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wiped_founder_does_not_vote_until_it_is_replaced() {
    let mut cluster = TestCluster::start(193, 3, &[]);
    let leader = cluster.leader().await;
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let (wiped, lagging) = (others[0], others[1]);
    let first = create_key(&cluster.client(leader)).await.unwrap();
    cluster.wait_all_applied().await;
    // The leader has recorded the data dir every voter runs on.
    let leader_node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    wait_for(
        "the leader to record node's data dir",
        Duration::from_secs(30),
        || async {
            let log = leader_node.log_text();
            log.lines()
                .any(|l| {
                    l.contains("recorded a voter's data dir")
                        && l.contains(&format!("node={wiped}"))
                })
                .then_some(())
        },
    )
    .await;

    // A write acknowledged by the leader and the node about to be wiped only.
    cluster.node(lagging).kill();
    let acked = create_key(&cluster.client(leader)).await.unwrap();

    // The disk of `wiped` is lost; the leader crashes; the lagging node and the wiped one
    // come back, the wiped one with its original command.
    cluster.node(wiped).kill();
    std::fs::remove_dir_all(&cluster.node(wiped).data_dir).unwrap();
    cluster.node(leader).kill();
    cluster.node(lagging).start();
    cluster.node(wiped).start();
    for id in [lagging, wiped] {
        let node = cluster.nodes.iter().find(|n| n.id == id).unwrap();
        wait_for(
            &format!("node {id} to answer"),
            Duration::from_secs(30),
            || readyz(node),
        )
        .await;
    }
    // Together they are a majority of the voters, but the lagging node misses `acked`: the
    // wiped node's vote would elect it. Several election rounds (200-400 ms each) must pass
    // without a leader.
    let watch = Instant::now() + Duration::from_secs(8);
    while Instant::now() < watch {
        for id in [lagging, wiped] {
            let node = cluster.nodes.iter().find(|n| n.id == id).unwrap();
            if let Some(body) = readyz(node).await {
                // (A restarted node may name the dead leader it last followed.)
                let named = body["leader"].as_u64();
                assert!(
                    named != Some(lagging) && named != Some(wiped),
                    "node {id} names leader {} while the only node holding every acknowledged \
                     write is down: {body}",
                    body["leader"]
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wiped_node = cluster.nodes.iter().find(|n| n.id == wiped).unwrap();
    let body = readyz(wiped_node).await.unwrap();
    assert_eq!(body["ready"], json!(false), "{body}");
    assert!(
        body["quarantine"]
            .as_str()
            .unwrap_or("")
            .contains("does not vote"),
        "the wiped node says it does not vote: {body}"
    );
    assert!(
        wiped_node
            .log_text()
            .contains("the cluster has formed already"),
        "the wiped node says why it does not found the cluster again:\n{}",
        wiped_node.log_tail()
    );

    // The old leader returns: it and the lagging node elect a leader that holds `acked`.
    cluster.node(leader).start();
    wait_leader_named(&cluster, lagging, leader).await;
    describe(&cluster.client(leader), &acked).await.unwrap();
    // The wiped node catches up, learns the cluster recorded another data dir for its id and
    // says so; the replace step brings it back.
    replace(&cluster, leader, wiped, 0).await;
    let mut keys = vec![first, acked];

    // Wiped again, this time while the leader that replicated to it stays up (the leader
    // must find the follower's log gone and start over, not panic), under writes.
    keys.push(create_key(&cluster.client(leader)).await.unwrap());
    cluster.wait_all_applied().await;
    let logged = cluster
        .nodes
        .iter()
        .find(|n| n.id == wiped)
        .unwrap()
        .log_text()
        .len();
    cluster.node(wiped).kill();
    std::fs::remove_dir_all(&cluster.node(wiped).data_dir).unwrap();
    cluster.node(wiped).start();
    keys.push(create_key(&cluster.client(leader)).await.unwrap());
    replace(&cluster, leader, wiped, logged).await;
    keys.push(create_key(&cluster.client(wiped)).await.unwrap());

    // It votes and holds every acknowledged write: without the old leader, it and the
    // lagging node elect a leader, and every key is there.
    cluster.wait_all_applied().await;
    cluster.node(leader).kill();
    let new_leader = cluster.leader().await;
    assert!([wiped, lagging].contains(&new_leader));
    let listed = list_keys(&cluster.client(wiped)).await.unwrap();
    for key in &keys {
        assert!(listed.contains(key), "{key} missing from {listed:?}");
    }
}

/// Waits until the wiped node `wiped` says (in its log after byte `logged`, and its probe)
/// that it does not vote, checks that AddNode alone is refused naming the replace step,
/// then replaces it through `leader` (RemoveNode, AddNode) and waits until it votes.
async fn replace(cluster: &TestCluster, leader: u64, wiped: u64, logged: usize) {
    let wiped_node = cluster.nodes.iter().find(|n| n.id == wiped).unwrap();
    wait_for(
        "the wiped node to say it was wiped",
        Duration::from_secs(30),
        || async {
            let log = wiped_node.log_text();
            let log = log.get(logged..).unwrap_or_default();
            log.lines()
                .any(|l| l.contains("ERROR") && l.contains("its data dir was wiped or replaced"))
                .then_some(())
        },
    )
    .await;
    let body = readyz(wiped_node).await.unwrap();
    let why = body["quarantine"].as_str().unwrap_or_default();
    assert!(
        why.contains("wiped or replaced") && why.contains("remove-node"),
        "{body}"
    );
    assert_eq!(body["ready"], json!(false), "{body}");
    let admin = cluster.client(leader);
    let address = wiped_node.peer_addr();
    let err = admin
        .admin("AddNode", &json!({"NodeId": wiped, "Address": address}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("remove-node"), "{err}");

    // The replace step of docs/OPERATIONS.md: remove it, add it back.
    admin
        .admin("RemoveNode", &json!({"NodeId": wiped}))
        .await
        .expect("RemoveNode");
    let add = json!({"NodeId": wiped, "Address": address});
    admin_past_503(&admin, "AddNode", &add).await;
    let s = status(&admin).await.unwrap();
    assert!(
        s["Members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["NodeId"] == wiped && m["Voter"] == true),
        "{s}"
    );
    wait_for(
        "the replaced node to vote and be ready",
        Duration::from_secs(30),
        || async {
            let body = readyz(wiped_node).await?;
            (body["ready"] == json!(true) && body["quarantine"].is_null()).then_some(())
        },
    )
    .await;
}
