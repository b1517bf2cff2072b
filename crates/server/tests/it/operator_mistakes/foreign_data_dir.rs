//! Item 2: a member restarted with another cluster's data dir, of the same cluster name and
//! node id, at the same address (a reused test environment, a restored volume of the wrong
//! cluster). The clusters' ids differ: both sides refuse each other's messages ("cluster id
//! mismatch"), the foreign node never serves, and this cluster keeps its own keys and none of
//! the other's. Subnet 243 (the two clusters run one after the other on it).

use std::time::Duration;

use crate::harness::*;

/// Waits until `node`'s log says `what`.
async fn logged(node: &TestNode, what: &str) {
    wait_for(
        &format!("node {} to log '{what}'", node.id),
        Duration::from_secs(30),
        || {
            let log = node.log_text();
            async move { log.contains(what).then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_clusters_data_dir_is_refused_by_id_on_both_sides() {
    let subnet = 243;
    // Cluster "it" number one, with a key of its own; then stopped for good.
    let mut other = TestCluster::start(subnet, 3, &[]);
    let other_leader = other.leader().await;
    let other_key = create_key(&other.client(other_leader)).await.unwrap();
    cluster_id(&other.client(other_leader)).await;
    other.wait_all_applied().await;
    for id in 1..=3 {
        other.node(id).kill();
    }

    // Cluster "it" number two on the same addresses, with the same node ids.
    let mut cluster = TestCluster::start(subnet, 3, &[]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();
    let ours = cluster_id(&cluster.client(leader)).await;
    cluster.wait_all_applied().await;

    // A follower comes back with the first cluster's data dir for its id.
    let f = (1..=3).find(|&id| id != leader).unwrap();
    cluster.node(f).kill();
    let data_dir = cluster.node(f).data_dir.clone();
    std::fs::remove_dir_all(&data_dir).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&other.node(f).data_dir)
        .arg(&data_dir)
        .status()
        .unwrap();
    assert!(copied.success());
    cluster.node(f).start();

    // Both sides say why they refuse the other.
    logged(cluster.node(f), "cluster id mismatch").await;
    logged(cluster.node(leader), "cluster id mismatch").await;

    // The foreign node serves nothing, and this cluster is unchanged: its own id, its own
    // key on both remaining members, none of the other cluster's.
    let foreign = cluster
        .node(f)
        .local()
        .await
        .expect("node f answers its probe");
    assert!(!foreign.ready, "{foreign:?}");
    let third = (1..=3).find(|&id| id != leader && id != f).unwrap();
    for id in [leader, third] {
        let client = cluster.client(id);
        assert_eq!(
            list_keys(&client).await.unwrap(),
            std::slice::from_ref(&key),
            "node {id}"
        );
        assert_eq!(cluster_id(&client).await, ours, "node {id}");
        let err = describe(&client, &other_key).await.unwrap_err();
        assert_eq!(err.code(), Some("NotFoundException"), "{err}");
    }
    assert!(cluster.node(f).is_running(), "node {f} exited");
}
