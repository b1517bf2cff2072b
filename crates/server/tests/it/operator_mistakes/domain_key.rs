//! Item 4: a node started with another domain key. Joining, the leader refuses it; as a
//! founding member, it stops before the cluster forms around it; restarted with it, a member
//! stops at start, before Raft runs. Each says "domain key mismatch"; the cluster keeps
//! serving. Subnets 244-246.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// Another domain key than the harness's [`DOMAIN_KEY`].
const OTHER_KEY: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";

fn with_other_key(node: &mut TestNode) {
    node.extra_env
        .push(("TRENT_DOMAIN_KEY".into(), OTHER_KEY.into()));
}

/// Waits until `node` exits by itself; returns its log.
async fn exits_saying(node: &mut TestNode, what: &str) -> String {
    let status = wait_for(
        &format!("node {} to exit", node.id),
        Duration::from_secs(30),
        || {
            let exited = node.exited();
            async move { exited }
        },
    )
    .await;
    assert!(!status.success(), "{status:?}");
    let log = node.log_text();
    assert!(log.contains(what), "{log}");
    log
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_another_domain_key_is_not_added() {
    let mut cluster = TestCluster::start(244, 3, &[]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();

    let mut fourth = cluster.new_node(4, "");
    with_other_key(&mut fourth);
    fourth.start();
    wait_for("node 4 to serve", Duration::from_secs(30), || {
        fourth.local()
    })
    .await;
    let admin = cluster.client(leader);
    let input = json!({"NodeId": 4, "Address": fourth.peer_addr()});
    let err = admin.admin("AddNode", &input).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err}");
    assert!(err.to_string().contains("domain key mismatch"), "{err}");

    // Not a member, not ready, no log; the cluster serves its key as before.
    let s = status(&admin).await.unwrap();
    assert_eq!(s["Members"].as_array().unwrap().len(), 3, "{s}");
    let local = fourth.local().await.unwrap();
    assert!(!local.ready, "{local:?}");
    assert_eq!(local.last_log_index, None, "{local:?}");
    let described = describe(&cluster.client(leader), &key).await.unwrap();
    assert_eq!(described["KeyMetadata"]["Enabled"], true);
    cluster.nodes.push(fourth);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_restarted_with_another_domain_key_stops_at_start() {
    let mut cluster = TestCluster::start(245, 3, &[]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();
    cluster_id(&cluster.client(leader)).await;
    cluster.wait_all_applied().await;

    let f = (1..=3).find(|&id| id != leader).unwrap();
    let node = cluster.node(f);
    node.kill();
    let before = node.log_text().len();
    with_other_key(node);
    node.start();
    let log = exits_saying(node, "domain key mismatch").await;
    // Stopped inside the cluster layer's start, before Raft or the API ran.
    assert!(!log[before..].contains("trentd started"), "{log}");
    let described = describe(&cluster.client(leader), &key).await.unwrap();
    assert_eq!(described["KeyMetadata"]["KeyId"], key.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_founding_member_with_another_domain_key_stops_and_the_others_form() {
    let subnet = 246;
    let mut cluster = TestCluster::start(subnet, 0, &[]);
    let initial: Vec<String> = (1..=3)
        .map(|id| format!("{id}={}:7701", TestCluster::ip(subnet, id)))
        .collect();
    for id in 1..=3 {
        let mut node = cluster.new_node(id, &initial.join(","));
        if id == 3 {
            with_other_key(&mut node);
        }
        node.start();
        cluster.nodes.push(node);
    }
    exits_saying(cluster.node(3), "domain key mismatch").await;
    let leader = cluster.leader().await;
    assert!(leader == 1 || leader == 2, "leader {leader}");
    create_key(&cluster.client(leader)).await.unwrap();
    cluster_id(&cluster.client(leader)).await;
}
