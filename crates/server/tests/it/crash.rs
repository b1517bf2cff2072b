//! Crashes: kill -9 of the leader under writes, of every node at once, and a node that falls
//! so far behind that it must catch up by snapshot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trent_client::Consistency;
use trent_model::KeyId;

use crate::harness::*;

/// Writes keys round-robin through every node in `endpoints` until `stop` is set; records
/// every acknowledged key.
fn spawn_writer(
    clients: Vec<trent_client::AdminClient>,
    acked: Arc<Mutex<Vec<KeyId>>>,
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

async fn wait_for_acks(acked: &Arc<Mutex<Vec<KeyId>>>, at_least: usize) {
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
    let acked = acked.lock().unwrap().clone();
    for node in &cluster.nodes {
        wait_for_keys_locally(&node.client(), &acked, Duration::from_secs(30)).await;
    }
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
    let keys = cluster
        .client(2)
        .list_keys(&account(), Consistency::Linearizable)
        .await
        .unwrap();
    let have: std::collections::HashSet<_> = keys.iter().map(|k| k.metadata.key_id).collect();
    assert!(
        acked.iter().all(|id| have.contains(id)),
        "lost {} of {}",
        acked.iter().filter(|id| !have.contains(id)).count(),
        acked.len()
    );
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
    let leader_client = cluster.client(leader);
    let purged = wait_for(
        "the leader to purge its log",
        Duration::from_secs(30),
        || async {
            leader_client
                .status()
                .await
                .ok()?
                .purged_index
                .filter(|&p| p > 20)
        },
    )
    .await;

    cluster.node(lagging).start();
    let client = cluster.client(lagging);
    wait_for_keys_locally(&client, &acked, Duration::from_secs(30)).await;
    let status = client.status().await.unwrap();
    // The entries it missed no longer exist in any log, so only a snapshot can have brought them.
    assert!(
        status.snapshot_index.is_some_and(|s| s >= purged),
        "{status:?} (leader purged up to {purged})"
    );
}
