//! `GET /metrics`: anonymous, Prometheus text format; API requests are counted by operation
//! and outcome on the node that received them, and the Raft gauges agree with `/readyz`.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

/// Scrapes `node`'s `/metrics`.
pub(crate) async fn scrape(node: &TestNode) -> String {
    let response = reqwest::get(format!("{}/metrics", node.api()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (name with its labels, as exposed), if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_raft_positions_are_exposed() {
    let cluster = TestCluster::start(74, 3, &[]);
    let leader_id = cluster.leader().await;
    let follower = cluster.nodes.iter().find(|n| n.id != leader_id).unwrap();
    let leader = cluster.nodes.iter().find(|n| n.id == leader_id).unwrap();
    let requests = |op: &str, outcome: &str| {
        format!("trent_api_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}}")
    };

    let before = scrape(follower).await;
    let created = |text: &str| sample(text, &requests("CreateKey", "ok")).unwrap_or(0.0);
    let client = follower.client();
    create_key(&client).await.unwrap();
    let missing = json!({"KeyId": "00000000-0000-4000-8000-000000000000"});
    let err = client.kms("DescribeKey", &missing).await.unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"), "{err}");

    let text = scrape(follower).await;
    assert_eq!(created(&text), created(&before) + 1.0, "{text}");
    assert_eq!(
        sample(&text, &requests("DescribeKey", "NotFoundException")),
        Some(1.0),
        "{text}"
    );
    let count = "trent_api_request_duration_seconds_count{operation=\"CreateKey\"}";
    assert!(sample(&text, count).unwrap() >= 1.0, "{text}");
    // The follower forwarded both requests to the leader, which counted them as received.
    assert!(
        sample(&text, "trent_forward_sent_total").unwrap() >= 2.0,
        "{text}"
    );
    let on_leader = scrape(leader).await;
    assert!(sample(&on_leader, "trent_forward_received_total").unwrap() >= 2.0);
    // Only the receiving node counts an API request.
    assert_eq!(
        sample(&on_leader, &requests("DescribeKey", "NotFoundException")),
        None
    );

    // Raft gauges: the same leader and term as /readyz, indexes in order. Read together
    // until no election fell between the two reads.
    let (local, text) = wait_for(
        "the gauges and /readyz read in one term",
        Duration::from_secs(30),
        || async {
            let local = follower.local().await?;
            let text = scrape(follower).await;
            let same = sample(&text, "trent_raft_term") == Some(local.term as f64)
                && sample(&text, "trent_raft_leader_id") == local.leader.map(|l| l as f64);
            same.then_some((local, text))
        },
    )
    .await;
    let gauge = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name}: {text}"));
    let leads = local.leader == Some(follower.id);
    assert_eq!(gauge("trent_raft_is_leader"), if leads { 1.0 } else { 0.0 });
    assert!(gauge("trent_raft_leader_id") > 0.0, "{text}");
    let applied = gauge("trent_raft_last_applied_index");
    assert!(applied >= local.last_applied.unwrap() as f64 && applied > 0.0);
    assert!(gauge("trent_raft_commit_index") >= applied);
    assert!(gauge("trent_raft_last_log_index") >= applied);
    assert!(gauge("trent_raft_apply_lag") >= 0.0);
    assert!(gauge("trent_storage_size_bytes") > 0.0);
    for name in [
        "trent_raft_snapshot_index",
        "trent_raft_snapshot_size_bytes",
    ] {
        gauge(name);
    }
    assert_eq!(sample(&on_leader, "trent_raft_is_leader"), Some(1.0));
}
