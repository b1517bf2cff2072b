//! Bad input stops `trentd` with a message naming the problem, or is refused at runtime
//! without changing anything.

use std::process::Command;

use trent_cluster::proto::peer_client::PeerClient;
use trent_cluster::proto::RaftRequest;

use crate::harness::*;

/// Runs `trentd run` with `args` and waits for it to exit; returns its exit code and stderr.
async fn run_to_exit(args: &[&str]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
    command
        .arg("run")
        .args(args)
        .env("TRENT_DOMAIN_KEY", DOMAIN_KEY);
    exit_of(command).await
}

fn node_args<'a>(ip: &'a str, dir: &'a str, id: &'a str, initial: &'a str) -> Vec<String> {
    vec![
        "--node-id".into(),
        id.into(),
        "--data-dir".into(),
        dir.into(),
        "--api-listen".into(),
        format!("{ip}:7700"),
        "--peer-listen".into(),
        format!("{ip}:7701"),
        "--initial-cluster".into(),
        initial.into(),
        "--plain-http".into(),
        "--peer-plain".into(),
    ]
}

async fn expect_refusal(args: &[String], says: &str) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stderr) = run_to_exit(&args).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_config_and_peer_lists_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let config = dir.path().join("trent.toml");
    std::fs::write(&config, "node_id = [\n").unwrap();
    expect_refusal(
        &["--config".into(), config.to_str().unwrap().into()],
        "trent.toml",
    )
    .await;
    std::fs::write(&config, "node_id = 1\nelection = 3\n").unwrap();
    expect_refusal(
        &["--config".into(), config.to_str().unwrap().into()],
        "unknown field `election`",
    )
    .await;

    let ip = "127.51.0.1";
    expect_refusal(
        &node_args(ip, data, "1", "2=127.51.0.2:7701"),
        "not in the member set",
    )
    .await;
    expect_refusal(&node_args(ip, data, "1", "1=127.51.0.9:7701"), "advertises").await;
    expect_refusal(
        &node_args(ip, data, "1", "1=127.51.0.1:7701,1=127.51.0.2:7701"),
        "listed twice",
    )
    .await;
    expect_refusal(&node_args(ip, data, "x", ""), "invalid value 'x'").await;
    let mut huge_wal = node_args(ip, data, "1", "1=127.51.0.1:7701");
    huge_wal.extend(["--wal-recycle-mb".into(), "1000000".into()]);
    expect_refusal(&huge_wal, "wal_recycle_mb: 1000000 is more than 1024").await;
    assert!(
        !std::path::Path::new(data).join("db").exists(),
        "a refused configuration created a database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn founding_nodes_with_different_member_sets_refuse_to_form_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (d1, d2) = (dir.path().join("n1"), dir.path().join("n2"));
    let two = "1=127.52.0.1:7701,2=127.52.0.2:7701";
    let three = "1=127.52.0.1:7701,2=127.52.0.2:7701,3=127.52.0.3:7701";
    let a1 = node_args("127.52.0.1", d1.to_str().unwrap(), "1", two);
    let a2 = node_args("127.52.0.2", d2.to_str().unwrap(), "2", three);
    let (a1, a2): (Vec<&str>, Vec<&str>) = (
        a1.iter().map(String::as_str).collect(),
        a2.iter().map(String::as_str).collect(),
    );
    let (r1, r2) = tokio::join!(run_to_exit(&a1), run_to_exit(&a2));
    for (code, stderr) in [r1, r2] {
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("different initial cluster"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_corrupt_and_misassigned_data_dirs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.53.0.1";
    let initial = "1=127.53.0.1:7701";

    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"someone else's").unwrap();
    expect_refusal(
        &node_args(ip, foreign.to_str().unwrap(), "1", initial),
        "no trent database",
    )
    .await;

    // A real data dir of node 1...
    let mut cluster = TestCluster::start(53, 1, &[]);
    cluster.leader().await;
    create_key(&cluster.client(1)).await.unwrap();
    cluster.node(1).kill();
    let data = cluster.node(1).data_dir.clone();
    let data = data.to_str().unwrap();
    // ...is not node 2's, nor another cluster's.
    expect_refusal(
        &node_args(ip, data, "2", ""),
        "belongs to node 1 of cluster 'it'",
    )
    .await;
    // ...and once damaged, is refused rather than silently reset.
    std::fs::write(
        cluster.node(1).data_dir.join("db/CURRENT"),
        b"MANIFEST-424242\n",
    )
    .unwrap();
    let mut args = node_args(ip, data, "1", initial);
    args.extend(["--cluster-name".into(), "it".into()]);
    expect_refusal(&args, "may be corrupt").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_raft_rpcs_are_rejected_and_not_applied() {
    let cluster = TestCluster::start(54, 3, &[]);
    let leader = cluster.leader().await;
    create_key(&cluster.client(leader)).await.unwrap();
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap();
    // The real cluster id (recorded by now): what is checked here comes after it.
    let id = cluster_id(&cluster.client(leader)).await;
    cluster.wait_all_applied().await;
    let before = follower.local().await.unwrap();

    let mut peer = PeerClient::connect(format!("http://{}", follower.peer_addr()))
        .await
        .unwrap();
    let garbage = RaftRequest {
        cluster: "it".into(),
        data: vec![0xFF; 64],
        from: leader,
        cluster_id: id.clone(),
        ..Default::default()
    };
    let status = peer.append_entries(garbage.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let status = peer.vote(garbage).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let foreign = RaftRequest {
        cluster: "other".into(),
        data: vec![],
        from: leader,
        cluster_id: id,
        ..Default::default()
    };
    let status = peer.install_snapshot(foreign).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    let after = follower.local().await.unwrap();
    assert_eq!(
        (after.last_log_index, after.leader, after.term),
        (before.last_log_index, before.leader, before.term)
    );
    create_key(&cluster.client(follower.id))
        .await
        .expect("the cluster still serves");

    // Requests that are not the API get an AWS-style client error, not a crash.
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/admin/v1/state/keys", follower.api()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException", "{body}");
}
