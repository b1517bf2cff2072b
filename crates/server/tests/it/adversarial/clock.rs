//! Item 3: one node's clock cannot destroy keys, rotate them or move the dedup table. A node
//! restarted under libfaketime 100 days ahead is made the leader of a real 3-node cluster; it
//! runs its deletion and rotation scans several times, yet a key scheduled for deletion in 7
//! days stays PendingDeletion, a key due for automatic rotation in 90 days is not rotated,
//! and the replicated clock (which expires request ids) does not leave the majority's time.
//!
//! Before the fix the skewed leader deleted the key within a second of winning and stamped
//! its own clock into every request, so the replicated clock jumped 30 days ahead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::harness::*;

const SUBNET: u8 = 120;
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const DAY_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// `node`'s `/metrics` text, if it answers.
async fn scrape(node: &TestNode) -> Option<String> {
    let response = reqwest::get(format!("{}/metrics", node.api())).await.ok()?;
    response.text().await.ok()
}

/// The value of the unlabelled sample `name`, if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

fn real_now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_a_hundred_days_ahead_deletes_and_rotates_no_key_and_moves_no_clock() {
    assert!(
        std::path::Path::new(FAKETIME_LIB).exists(),
        "this test needs libfaketime (apt-get install libfaketime; scripts/test installs it)"
    );
    let mut cluster = TestCluster::start(SUBNET, 3, &[]);
    let first = cluster.leader().await;
    let key = create_key(&cluster.client(first)).await.unwrap();
    let scheduled = cluster
        .client(first)
        .kms(
            "ScheduleKeyDeletion",
            &json!({"KeyId": key, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
    assert_eq!(scheduled["KeyState"], "PendingDeletion", "{scheduled}");
    let rotating = create_key(&cluster.client(first)).await.unwrap();
    let rotation = json!({"KeyId": rotating, "RotationPeriodInDays": 90});
    cluster
        .client(first)
        .kms("EnableKeyRotation", &rotation)
        .await
        .unwrap();
    let status = json!({"KeyId": rotating});
    let before = cluster
        .client(first)
        .kms("GetKeyRotationStatus", &status)
        .await
        .unwrap();

    // A follower comes back with its wall clock 100 days ahead (monotonic time untouched, as
    // with an NTP step), then wins an election.
    let skewed = cluster.nodes.iter().find(|n| n.id != first).unwrap().id;
    let node = cluster.node(skewed);
    node.kill();
    node.extra_env = vec![
        ("LD_PRELOAD".into(), FAKETIME_LIB.into()),
        ("FAKETIME".into(), "+100d".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    node.start();
    cluster.wait_all_applied().await;
    cluster.make_leader(skewed).await;

    // The skewed leader runs its deletion scan (once a second) several times, each time
    // finding its own clock far from the majority's, and says so in its metrics.
    let leader = cluster.nodes.iter().find(|n| n.id == skewed).unwrap();
    let text = wait_for(
        "three deletion scans by the skewed leader",
        Duration::from_secs(60),
        || async {
            let text = scrape(leader).await?;
            (sample(&text, "trent_timed_scans_skewed_total")? >= 3.0).then_some(text)
        },
    )
    .await;
    let offset_days = sample(&text, "trent_clock_offset_ms").unwrap() / DAY_MS;
    assert!((99.9..100.1).contains(&offset_days), "{text}");

    // Clients still get answers from it (SigV4's skew window uses the trusted time), and the
    // key is still pending deletion.
    let client = cluster.client(skewed);
    let described = describe(&client, &key).await.unwrap();
    assert_eq!(
        described["KeyMetadata"]["KeyState"], "PendingDeletion",
        "{described}"
    );
    create_key(&client).await.unwrap();
    let rotations = client.kms("ListKeyRotations", &status).await.unwrap();
    assert_eq!(
        rotations["Rotations"],
        json!([]),
        "rotated early: {rotations}"
    );
    let after = client.kms("GetKeyRotationStatus", &status).await.unwrap();
    assert_eq!(after, before, "the schedule moved");

    // No node's replicated clock (what expires request ids) left the majority's time.
    cluster.wait_all_applied().await;
    for node in cluster.running() {
        let text = scrape(node).await.unwrap();
        let replicated = sample(&text, "trent_clock_replicated_ms").unwrap();
        let ahead_s = (replicated - real_now_ms()) / 1000.0;
        assert!(
            ahead_s < 10.0,
            "node {}: replicated clock {ahead_s} s ahead\n{text}",
            node.id
        );
    }

    // And after the skewed node is gone, the healthy majority sees the key still there.
    cluster.node(skewed).kill();
    let healthy = cluster.leader().await;
    let described = describe(&cluster.client(healthy), &key).await.unwrap();
    assert_eq!(
        described["KeyMetadata"]["KeyState"], "PendingDeletion",
        "{described}"
    );
}
