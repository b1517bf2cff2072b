//! Issue 20: faults of the disk, through real `trentd` processes whose data dirs are on
//! `trent-faultfs` mounts (FUSE, served by this test process): what a node did not sync is
//! gone after a power loss; a full disk stops a node serving until space returns; a failed
//! fsync stops the node, and a restart recovers from what is durable.

use std::time::Duration;

use serde_json::Value;
use trent_faultfs::Mount;

use crate::harness::*;

/// A cluster of `n` founding nodes, each with its data dir on a fault file system of its own.
struct FaultyCluster {
    // Field order: the nodes stop before their disks go.
    cluster: TestCluster,
    disks: Vec<Mount>,
}

impl FaultyCluster {
    fn start(subnet: u8, n: u64, env: &[(&str, &str)]) -> FaultyCluster {
        let mut disks = vec![];
        let cluster = TestCluster::start_with(subnet, n, |node| {
            let at = node.data_dir.with_extension("disk");
            std::fs::create_dir(&at).unwrap();
            disks.push(trent_faultfs::mount(&at).expect("mount trent-faultfs (root, /dev/fuse)"));
            node.data_dir = at.join("data");
            node.env = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        });
        FaultyCluster { cluster, disks }
    }

    fn disk(&self, id: u64) -> trent_faultfs::Control {
        self.disks[id as usize - 1].control()
    }

    /// kill -9 every node, then drop what each did not sync: a power cut.
    fn power_loss_all(&mut self) {
        for node in &mut self.cluster.nodes {
            node.kill();
        }
        for disk in &self.disks {
            disk.control().power_loss();
        }
    }
}

async fn readyz(node: &TestNode) -> Option<(u16, Value)> {
    let response = reqwest::get(format!("{}/readyz", node.api())).await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.json().await.ok()?))
}

/// Creates a key through any of `ids`, retrying while the cluster moves its leader.
async fn create_key_anywhere(cluster: &TestCluster, ids: &[u64]) -> String {
    wait_for(
        "a CreateKey to be acknowledged",
        Duration::from_secs(60),
        || async {
            for &id in ids {
                if let Ok(key) = create_key(&cluster.client(id)).await {
                    return Some(key);
                }
            }
            None
        },
    )
    .await
}

/// Creates 20 keys, takes power from every node, restarts them: the acknowledged keys the
/// cluster no longer lists.
/// Writes 20 keys, cuts the power of every node, restarts them and answers the acknowledged
/// keys that are gone; `None` when the restarted nodes agree on no leader within 25 s (what
/// they lost split them into clusters of their own).
async fn keys_lost_to_a_power_loss(faulty: &mut FaultyCluster) -> Option<Vec<String>> {
    let leader = faulty.cluster.leader().await;
    let mut acked = vec![];
    for _ in 0..20 {
        acked.push(create_key(&faulty.cluster.client(leader)).await.unwrap());
    }
    faulty.power_loss_all();
    for node in &mut faulty.cluster.nodes {
        node.start();
    }
    let agreed = tokio::time::timeout(Duration::from_secs(25), faulty.cluster.leader());
    let leader = agreed.await.ok()?;
    let listed = list_keys(&faulty.cluster.client(leader)).await.unwrap();
    acked.retain(|k| !listed.contains(k));
    Some(acked)
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_keys_survive_a_power_loss_of_every_node() {
    let mut faulty = FaultyCluster::start(201, 3, &[]);
    let lost = keys_lost_to_a_power_loss(&mut faulty)
        .await
        .expect("the nodes agree on a leader after the power loss");
    assert!(lost.is_empty(), "acknowledged keys lost: {lost:?}");
}

/// The test above can fail: with the log's sync skipped (a test-only fail point), the same
/// power loss loses acknowledged keys, or the records that make the nodes one cluster (they
/// then found clusters of their own and agree on no leader).
#[tokio::test(flavor = "multi_thread")]
async fn without_the_log_sync_a_power_loss_loses_acknowledged_keys() {
    let mut faulty = FaultyCluster::start(202, 3, &[("FAILPOINTS", "log-sync-skip=return")]);
    if let Some(lost) = keys_lost_to_a_power_loss(&mut faulty).await {
        assert!(
            !lost.is_empty(),
            "no key was lost, so the power loss dropped nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_a_node_serving_until_space_returns_and_it_recovers_by_itself() {
    let faulty = FaultyCluster::start(203, 3, &[]);
    let cluster = &faulty.cluster;
    let leader = cluster.leader().await;
    let before = create_key(&cluster.client(leader)).await.unwrap();
    // The leader's disk fills: its next append waits for space, it stops heartbeating, and
    // the others elect a leader that can write.
    faulty.disk(leader).set_disk_full(true);
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let during = create_key_anywhere(cluster, &others).await;
    let full = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    let (code, body) = wait_for(
        "the full node to say so",
        Duration::from_secs(30),
        || async { readyz(full).await.filter(|(_, b)| b["disk"].is_string()) },
    )
    .await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(metric(full, "trent_disk_full").await, Some(1.0));
    let refused = create_key(&full.client()).await.unwrap_err().to_string();
    assert!(refused.contains("ServiceUnavailable"), "{refused}");

    faulty.disk(leader).set_disk_full(false);
    wait_for(
        "the node to serve again",
        Duration::from_secs(60),
        || async { readyz(full).await.filter(|(code, _)| *code == 200) },
    )
    .await;
    assert_eq!(metric(full, "trent_disk_full").await, Some(0.0));
    let after = create_key(&full.client()).await.unwrap();
    let listed = list_keys(&full.client()).await.unwrap();
    for key in [&before, &during, &after] {
        assert!(
            listed.contains(key),
            "{key} missing after the disk had space again"
        );
    }
    assert!(
        cluster.running().count() == 3,
        "no node may exit for a full disk"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fsync_stops_the_node_and_a_restart_recovers_from_what_is_durable() {
    let mut faulty = FaultyCluster::start(204, 3, &[]);
    let leader = faulty.cluster.leader().await;
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    let before = create_key(&faulty.cluster.client(leader)).await.unwrap();
    faulty.cluster.wait_all_applied().await;
    faulty.disk(victim).set_fsync_fails(true);
    // Writes go on without it; its next sync of the log fails and it stops.
    let during = create_key(&faulty.cluster.client(leader)).await.unwrap();
    let status = wait_for("the node to stop", Duration::from_secs(30), || {
        let exited = faulty.cluster.node(victim).exited();
        async move { exited }
    })
    .await;
    assert!(!status.success(), "{status}");
    let log = faulty.cluster.node(victim).log_text();
    assert!(
        log.contains("failed") && log.contains("this node stops"),
        "{}",
        faulty.cluster.node(victim).log_tail()
    );
    // The disk heals; what the failed fsync left only in memory is gone; restart.
    faulty.disk(victim).set_fsync_fails(false);
    faulty.disk(victim).power_loss();
    faulty.cluster.node(victim).start();
    faulty.cluster.wait_all_applied().await;
    let listed = list_keys(&faulty.cluster.node(victim).client())
        .await
        .unwrap();
    for key in [&before, &during] {
        assert!(listed.contains(key), "{key} missing after the restart");
    }
}
