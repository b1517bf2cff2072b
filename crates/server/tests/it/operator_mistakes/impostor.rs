//! Item 1: a second process under an existing node's id. Added under another id, it is
//! refused by the leader, which asks it who it is first; found at a member's address, it
//! refuses every message addressed to that member. Either way it never serves under an id
//! that is not its own, and the cluster keeps one leader and its keys. Subnets 241-242.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn member_ids(s: &serde_json::Value) -> Vec<u64> {
    s["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["NodeId"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_started_as_node_2_is_not_added_as_node_5() {
    let subnet = 241;
    let mut cluster = TestCluster::start(subnet, 3, &[]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();

    // `--node-id 2` on a new address, with an empty data dir and no initial cluster: what an
    // operator starts when they mean to add node 5 and copy node 2's command line.
    let mut impostor = cluster.new_node_named(2, "impostor", "");
    impostor.ip = TestCluster::ip(subnet, 5);
    impostor.start();
    wait_for("the impostor to serve", Duration::from_secs(30), || {
        impostor.local()
    })
    .await;

    let admin = cluster.client(leader);
    let input = json!({"NodeId": 5, "Address": impostor.peer_addr()});
    let err = admin.admin("AddNode", &input).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "node id: the node at {} is node 2, not node 5",
            impostor.peer_addr()
        )),
        "{err}"
    );

    // Nothing changed: three members, one leader, the key; the impostor holds no log.
    let s = status(&admin).await.unwrap();
    assert_eq!(member_ids(&s), [1, 2, 3], "{s}");
    assert!(
        [1, 2, 3].contains(&cluster.leader().await),
        "a member leads"
    );
    let local = impostor.local().await.unwrap();
    assert_eq!(
        (local.leader, local.last_log_index),
        (None, None),
        "{local:?}"
    );
    for id in 1..=3 {
        let keys = list_keys(&cluster.client(id)).await.unwrap();
        assert_eq!(keys, std::slice::from_ref(&key), "node {id}");
    }
    cluster.nodes.push(impostor);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_at_a_members_address_under_another_id_is_refused_every_message() {
    let subnet = 242;
    let mut cluster = TestCluster::start(subnet, 3, &[]);
    let leader = cluster.leader().await;
    let admin = cluster.client(leader);
    let mut fourth = cluster.new_node(4, "");
    fourth.start();
    let input = json!({"NodeId": 4, "Address": fourth.peer_addr()});
    admin_past_503(&admin, "AddNode", &input).await;
    let key = create_key(&admin).await.unwrap();
    cluster.nodes.push(fourth);
    cluster.wait_all_applied().await;

    // Node 4's machine is replaced by a process started as node 2, at node 4's address.
    cluster.node(4).kill();
    let mut impostor = cluster.new_node_named(2, "impostor", "");
    impostor.ip = TestCluster::ip(subnet, 4);
    impostor.start();
    wait_for(
        "the impostor to refuse the leader's messages for node 4",
        Duration::from_secs(30),
        || {
            let log = impostor.log_text();
            async move { log.contains("this is node 2, not node 4").then_some(()) }
        },
    )
    .await;

    // It took nothing: no log, no leader, never a vote. The cluster keeps its one leader
    // (three of four voters run) and serves its key through every running member.
    let local = impostor.local().await.unwrap();
    assert_eq!(
        (local.leader, local.last_log_index),
        (None, None),
        "{local:?}"
    );
    let leader_now = cluster.leader().await;
    assert!((1..=3).contains(&leader_now), "leader {leader_now}");
    let key2 = create_key(&cluster.client(leader_now)).await.unwrap();
    for id in 1..=3 {
        let mut keys = list_keys(&cluster.client(id)).await.unwrap();
        keys.sort();
        let mut want = vec![key.clone(), key2.clone()];
        want.sort();
        assert_eq!(keys, want, "node {id}");
    }
    let local = impostor.local().await.unwrap();
    assert_eq!(
        (local.leader, local.last_log_index),
        (None, None),
        "{local:?}"
    );
    cluster.nodes.push(impostor);
}
