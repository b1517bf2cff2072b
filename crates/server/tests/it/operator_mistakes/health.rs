//! Health tells the truth (issue 19, item 5): a leader whose followers are gone turns
//! unready within an election timeout and answers requests with AWS's bare, retryable 503
//! within the request timeout; stopping the leader never makes another node answer a 500.
//!
//! Subnets 217 and 218.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use trent_client::{Client, ClientError};

use crate::harness::*;

const REQUEST_TIMEOUT_MS: u64 = 3_000;
/// trentd's default `election_timeout_max_ms`.
const ELECTION_TIMEOUT_MS: u64 = 400;
/// What AWS says with its `ServiceUnavailable`; nothing about members, addresses or Raft.
const UNAVAILABLE: &str = "The request has failed due to a temporary failure of the server.";

/// Sends SIGTERM (what an operator, systemd or Kubernetes sends) and waits until the
/// process has exited; then reaps it.
pub(super) async fn terminate(node: &mut TestNode) {
    signal_term(node);
    reap_after_term(node).await;
}

/// Sends SIGTERM without waiting for the exit.
pub(super) fn signal_term(node: &TestNode) {
    let pid = node.pid().expect("the node runs");
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
}

/// Waits until a node sent SIGTERM has exited; then reaps it.
pub(super) async fn reap_after_term(node: &mut TestNode) {
    let pid = node.pid().expect("the node runs");
    wait_for(
        &format!("node {} to exit after SIGTERM", node.id),
        Duration::from_secs(30),
        || async move {
            // An exited, unreaped child is a zombie: state 'Z' in /proc/<pid>/stat.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit(')').next()?.split_whitespace().next()?;
            (state == "Z").then_some(())
        },
    )
    .await;
    node.kill();
}

async fn readyz_status(node: &TestNode) -> Option<u16> {
    let response = reqwest::get(format!("{}/readyz", node.api())).await.ok()?;
    Some(response.status().as_u16())
}

async fn encrypt(client: &Client, key: &str) -> Result<(), ClientError> {
    let input = json!({"KeyId": key, "Plaintext": "aGVhbHRo"});
    client.kms("Encrypt", &input).await.map(|_| ())
}

/// The error is AWS's `ServiceUnavailable` (HTTP 503, retried by every AWS SDK) and says
/// nothing about the cluster's insides.
fn assert_bare_unavailable(err: &ClientError) {
    match err {
        ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(
                (*status, code.as_str()),
                (503, "ServiceUnavailable"),
                "{err}"
            );
            assert_eq!(message, UNAVAILABLE, "no internal detail: {err}");
        }
        other => panic!("expected a 503 answer, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_whose_followers_died_turns_unready_and_answers_a_bare_503_in_time() {
    let timeout = REQUEST_TIMEOUT_MS.to_string();
    let mut cluster = TestCluster::start(217, 3, &["--request-timeout-ms", &timeout]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();
    let followers: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|&id| id != leader)
        .collect();
    for id in followers {
        cluster.node(id).kill();
    }

    // Unready within an election timeout (plus a tick and the probe's own time; the bound is
    // loose, for a loaded debug build: the point is that it turns unready by itself).
    let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    let killed = Instant::now();
    wait_for(
        "the stranded leader's /readyz to answer 503",
        Duration::from_millis(ELECTION_TIMEOUT_MS + 5_000),
        || async { (readyz_status(node).await? == 503).then_some(()) },
    )
    .await;
    eprintln!(
        "the stranded leader turned unready {:?} after its followers died",
        killed.elapsed()
    );
    let local = node.local().await.unwrap();
    assert!(!local.ready);
    // Its metrics say "no usable leader" too, so a no-leader alert fires.
    let metrics = reqwest::get(format!("{}/metrics", node.api()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "trent_raft_leader_id 0"),
        "a leader without a quorum must not report itself as the leader:\n{metrics}"
    );

    // A request waits at most about the request timeout, then answers a bare 503.
    let started = Instant::now();
    let err = encrypt(&cluster.client(leader), &key).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("a request to the stranded leader answered 503 after {took:?}");
    assert_bare_unavailable(&err);
    assert!(
        took < Duration::from_millis(REQUEST_TIMEOUT_MS + 5_000),
        "a request without a quorum took {took:?}, over the request timeout of {REQUEST_TIMEOUT_MS} ms"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_leader_makes_another_node_answer_a_retryable_503_never_a_500() {
    let timeout = REQUEST_TIMEOUT_MS.to_string();
    let mut cluster = TestCluster::start(218, 3, &["--request-timeout-ms", &timeout]);
    let leader = cluster.leader().await;
    let key = create_key(&cluster.client(leader)).await.unwrap();
    let others: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|&id| id != leader)
        .collect();
    let (gone, via) = (others[0], others[1]);
    // Two nodes left: stopping the leader takes the quorum with it.
    cluster.node(gone).kill();

    // Requests through `via`, one after the other, each outcome recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let client = cluster.client(via);
    let load = {
        let (stop, key) = (stop.clone(), key.clone());
        tokio::spawn(async move {
            let mut outcomes = vec![];
            while !stop.load(Ordering::SeqCst) {
                outcomes.push(encrypt(&client, &key).await);
            }
            outcomes
        })
    };
    wait_for(
        "requests through a follower",
        Duration::from_secs(30),
        || {
            let client = cluster.client(via);
            let key = key.clone();
            async move { encrypt(&client, &key).await.ok() }
        },
    )
    .await;

    terminate(cluster.node(leader)).await;
    // Alone, `via` cannot serve: it says so on /readyz within an election timeout of the
    // leader's exit (it may have become leader in the handover; either way it has no quorum).
    let via_node = cluster.nodes.iter().find(|n| n.id == via).unwrap();
    wait_for(
        "the last node's /readyz to answer 503",
        Duration::from_millis(ELECTION_TIMEOUT_MS + 5_000),
        || async { (readyz_status(via_node).await? == 503).then_some(()) },
    )
    .await;
    // Let requests that started after the exit answer too.
    wait_for(
        "requests through the last node to answer after the leader exited",
        Duration::from_millis(3 * REQUEST_TIMEOUT_MS + 5_000),
        || async {
            let probe = cluster.client(via);
            let err = encrypt(&probe, &key).await.err()?;
            assert_bare_unavailable(&err);
            Some(())
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let outcomes = load.await.unwrap();

    // Whatever answered while the leader stopped: never a 500 ("raft stopped"), never a
    // leak, only success or the retryable 503.
    assert!(!outcomes.is_empty());
    for err in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_bare_unavailable(err);
    }
}
