//! Crashes: kill -9 of the leader under writes, of every node at once, and a node that falls
//! so far behind that it must catch up by snapshot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::HashSet;

use trent_client::Client;

use crate::harness::*;

/// Writes keys round-robin through every node in `endpoints` until `stop` is set; records
/// every acknowledged key.
fn spawn_writer(
    clients: Vec<Client>,
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut failures = 0;
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            i += 1;
            match create_key(&clients[i % clients.len()]).await {
                Ok(id) => acked.lock().unwrap().push(id),
                Err(_) => failures += 1,
            }
        }
        failures
    })
}

async fn wait_for_acks(acked: &Arc<Mutex<Vec<String>>>, at_least: usize) {
    wait_for(
        &format!("{at_least} acknowledged writes"),
        Duration::from_secs(60),
        || async { (acked.lock().unwrap().len() >= at_least).then_some(()) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_leader_under_writes_loses_no_acknowledged_write() {
    let mut cluster = TestCluster::start(21, 3, &[]);
    let old_leader = cluster.leader().await;
    let clients: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != old_leader)
        .map(|n| n.client())
        .collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = spawn_writer(clients, acked.clone(), stop.clone());

    wait_for_acks(&acked, 30).await;
    cluster.node(old_leader).kill();
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, old_leader);
    let before = acked.lock().unwrap().len();
    wait_for_acks(&acked, before + 30).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();

    cluster.node(old_leader).start();
    cluster.wait_all_applied().await;
    let acked = acked.lock().unwrap().clone();
    // Every node, the restarted old leader included, serves every acknowledged key.
    for node in &cluster.nodes {
        assert_all_listed(&node.client(), &acked).await;
    }
}

/// Every key of `acked` is listed through `client`.
async fn assert_all_listed(client: &Client, acked: &[String]) {
    let have: HashSet<String> = list_keys(client).await.unwrap().into_iter().collect();
    let lost = acked.iter().filter(|id| !have.contains(*id)).count();
    assert_eq!(
        lost,
        0,
        "lost {lost} of {} through {}",
        acked.len(),
        client.endpoint()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_every_node_at_once_loses_no_acknowledged_write() {
    let mut cluster = TestCluster::start(22, 3, &[]);
    cluster.leader().await;
    let mut acked = Vec::new();
    for i in 0..40u64 {
        acked.push(create_key(&cluster.client(1 + i % 3)).await.unwrap());
    }
    for node in &mut cluster.nodes {
        node.kill();
    }
    for node in &mut cluster.nodes {
        node.start();
    }
    cluster.leader().await;
    assert_all_listed(&cluster.client(2), &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_missed_purged_entries_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start(
        23,
        3,
        &["--snapshot-after-logs", "20", "--logs-to-keep", "5"],
    );
    let leader = cluster.leader().await;
    let lagging = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    cluster.node(lagging).kill();

    let mut acked = Vec::new();
    for _ in 0..80 {
        acked.push(create_key(&cluster.client(leader)).await.unwrap());
    }
    let leader_node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    let purged = wait_for(
        "the leader to purge its log",
        Duration::from_secs(30),
        || async { leader_node.local().await?.purged_index.filter(|&p| p > 20) },
    )
    .await;

    cluster.node(lagging).start();
    cluster.wait_all_applied().await;
    let local = cluster.node(lagging).local().await.unwrap();
    // The entries it missed no longer exist in any log, so only a snapshot can have brought them.
    assert!(
        local.snapshot_index.is_some_and(|s| s >= purged),
        "{local:?} (leader purged up to {purged})"
    );
    // Without the third node, the lagging one is needed for every answer: it has the keys.
    let third = cluster
        .nodes
        .iter()
        .find(|n| n.id != leader && n.id != lagging)
        .unwrap()
        .id;
    cluster.node(third).kill();
    cluster.leader().await;
    assert_all_listed(&cluster.client(lagging), &acked).await;
}
