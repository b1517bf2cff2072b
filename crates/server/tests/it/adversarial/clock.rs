//! Item 3: one node's clock cannot destroy keys, rotate them or move the dedup table. The
//! leader of a real 3-node cluster, each node under libfaketime reading its offset from a
//! file, sees its wall clock step 100 days ahead while it leads (as an NTP step would; its
//! monotonic clock, which Raft's timers use, untouched); it runs its deletion and rotation
//! scans several times, yet a key scheduled for deletion in 7 days stays PendingDeletion, a
//! key due for automatic rotation in 90 days is not rotated, and the replicated clock
//! (which expires request ids) does not leave the majority's time.
//!
//! The clock steps on the leader rather than on a follower that is then made leader: making
//! a chosen node win an election by killing the others' leaders loses every round when that
//! node drew a long election timeout (openraft draws it once per start), as full test runs met.
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
    let clocks = tempfile::tempdir().unwrap();
    let clock_file = |id: u64| clocks.path().join(format!("node{id}"));
    for id in 1..=3 {
        std::fs::write(clock_file(id), "+0d\n").unwrap();
    }
    let mut cluster = TestCluster::start_with(SUBNET, 3, |node| {
        node.extra_env = vec![
            ("LD_PRELOAD".into(), FAKETIME_LIB.into()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                clock_file(node.id).display().to_string(),
            ),
            // Read again every second, so a new offset takes effect in the running process.
            ("FAKETIME_CACHE_DURATION".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ];
    });
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

    // The leader's wall clock steps 100 days ahead while it leads.
    let skewed = first;
    std::fs::write(clock_file(skewed), "+100d\n").unwrap();

    // The skewed leader runs its deletion scan (once a second) several times, each time
    // finding its own clock far from the majority's, and says so in its metrics.
    let leader = cluster.nodes.iter().find(|n| n.id == skewed).unwrap();
    let text = wait_for(
        "three deletion scans by the skewed leader",
        Duration::from_secs(60),
        || async {
            // Only a leader scans: an election under load gives the lead back to it.
            if leader.local().await?.leader != Some(skewed) {
                cluster.make_leader(skewed).await;
                return None;
            }
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
