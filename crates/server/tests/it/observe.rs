//! What an operator sees (issue 19, items 6 and 8): per-peer liveness in the status and the
//! metrics, the build-info metric, one log line per leader or membership change, a removed
//! node that says so and stops campaigning, openraft's error flood about an unreachable
//! follower rate-limited, the JSON access log, and a TLS/plain mismatch between peers
//! logged as such.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::harness::*;
use crate::metrics::{sample, scrape};

const WAIT: Duration = Duration::from_secs(30);

/// Lines of `text` that contain every one of `needles`.
fn lines_with<'a>(text: &'a str, needles: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .collect()
}

/// The status member `id`, through `client` (the leader's view).
async fn member(client: &trent_client::Client, id: u64) -> Option<Value> {
    let s = status(client).await.ok()?;
    s["Members"]
        .as_array()?
        .iter()
        .find(|m| m["NodeId"] == id)
        .cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_follower_shows_in_status_and_metrics_and_does_not_flood_the_log() {
    let mut cluster = TestCluster::start(231, 3, &[]);
    let leader_id = cluster.leader().await;
    let dead = (1..=3).find(|&id| id != leader_id).unwrap();
    let live = (1..=3).find(|&id| id != leader_id && id != dead).unwrap();
    let admin = cluster.client(leader_id);
    create_key(&admin).await.unwrap();

    // Healthy: every peer reachable, heard from within a moment, caught up.
    for id in [dead, live] {
        let m = wait_for("a healthy member", WAIT, || async {
            let m = member(&admin, id).await?;
            (m["Reachable"] == true && m["Lag"] == 0).then_some(m)
        })
        .await;
        assert!(m["LastContactMs"].as_u64().unwrap() < 2_000, "{m}");
        assert_eq!(m["Error"], Value::Null, "{m}");
    }
    let leader = cluster.nodes.iter().find(|n| n.id == leader_id).unwrap();
    let peer = |name: &str, id: u64| format!("{name}{{peer=\"{id}\"}}");
    // Every call is audited, so each status call is itself a write that the follower is
    // briefly behind on: wait for a scrape that shows it caught up.
    let text = wait_for(
        "the leader's metrics to show the peer caught up",
        WAIT,
        || async {
            let text = scrape(leader).await;
            let lag = sample(&text, &peer("trent_peer_replication_lag", dead));
            (lag == Some(0.0)).then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(&text, &peer("trent_peer_reachable", dead)),
        Some(1.0)
    );
    let build = text
        .lines()
        .find(|l| l.starts_with("trent_build_info{"))
        .unwrap_or_else(|| panic!("no build info: {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{build}"
    );
    assert!(build.ends_with(" 1"), "{build}");

    // Kill a follower, keep writing: it turns unreachable, its last contact ages, its lag
    // grows; the live follower stays as it was.
    cluster.node(dead).kill();
    let killed = Instant::now();
    let log_before = cluster.node(leader_id).log_text().lines().count();
    let admin = cluster.client(leader_id);
    for _ in 0..3 {
        create_key(&admin).await.unwrap();
    }
    let m = wait_for("the dead follower reported unreachable", WAIT, || async {
        let m = member(&admin, dead).await?;
        let aged = m["LastContactMs"].as_u64()? >= 6_000;
        (m["Reachable"] == false && aged).then_some(m)
    })
    .await;
    assert!(m["Lag"].as_u64().unwrap() >= 3, "{m}");
    assert!(m["Error"].as_str().is_some(), "{m}");
    let ok = member(&admin, live).await.unwrap();
    assert_eq!(
        (&ok["Reachable"], &ok["Lag"]),
        (&json!(true), &json!(0)),
        "{ok}"
    );
    let text = scrape(cluster.nodes.iter().find(|n| n.id == leader_id).unwrap()).await;
    assert_eq!(
        sample(&text, &peer("trent_peer_reachable", dead)),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &peer("trent_peer_reachable", live)),
        Some(1.0)
    );
    assert!(sample(&text, &peer("trent_peer_last_contact_seconds", dead)).unwrap() >= 6.0);
    assert!(sample(&text, &peer("trent_peer_replication_lag", dead)).unwrap() >= 3.0);

    // The log: one "peer unreachable" line naming it; openraft's complaints (about 20 a
    // second without the limit) at most once per call site (about six complain about a
    // dead follower) per 10 s.
    let log = cluster.node(leader_id).log_text();
    let since_kill: Vec<&str> = log.lines().skip(log_before).collect();
    let since_kill = since_kill.join("\n");
    let unreachable = lines_with(&since_kill, &["peer unreachable", &format!("peer={dead}")]);
    assert_eq!(unreachable.len(), 1, "{since_kill}");
    let seconds = killed.elapsed().as_secs_f64();
    let openraft = lines_with(&since_kill, &["openraft"])
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    assert!(
        (openraft as f64) < 8.0 * (seconds / 10.0 + 1.0),
        "{openraft} openraft warnings in {seconds:.1} s:\n{since_kill}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_and_membership_changes_are_logged_once_each() {
    let mut cluster = TestCluster::start(232, 3, &[]);
    let first = cluster.leader().await;
    for node in &cluster.nodes {
        wait_for("the leader in every log", WAIT, || async {
            let log = node.log_text();
            let needle = format!("leader={first}");
            (!lines_with(&log, &["leader changed", &needle]).is_empty()).then_some(())
        })
        .await;
    }

    // Node 4 joins (learner, then voter), then a follower leaves: one line each, on every
    // member that saw it.
    let mut fourth = cluster.new_node(4, "");
    fourth.start();
    let input = json!({"NodeId": 4, "Address": fourth.peer_addr()});
    admin_past_503(&cluster.client(first), "AddNode", &input).await;
    cluster.nodes.push(fourth);
    let gone = (1..=3).find(|&id| id != first).unwrap();
    cluster
        .client(first)
        .admin("RemoveNode", &json!({"NodeId": gone}))
        .await
        .unwrap();
    cluster.node(gone).kill();
    let stay: Vec<u64> = [1, 2, 3, 4].into_iter().filter(|&id| id != gone).collect();
    for &id in &stay {
        let node = cluster.nodes.iter().find(|n| n.id == id).unwrap();
        let removed = format!("node={gone}");
        wait_for("the removal in the log", WAIT, || async {
            let log = node.log_text();
            (!lines_with(&log, &["node removed from the cluster", &removed]).is_empty())
                .then_some(())
        })
        .await;
        let log = node.log_text();
        let count = |needles: &[&str]| lines_with(&log, needles).len();
        assert_eq!(
            count(&["node removed from the cluster", &removed]),
            1,
            "{log}"
        );
        if id != 4 {
            // Node 4 learned the membership with itself in it: no join to see.
            // One join (as a learner, or as a voter if this node saw both steps at once),
            // and one line that made it a voter.
            assert_eq!(
                count(&["node joined the cluster", "node=4"]),
                1,
                "node {id}: {log}"
            );
            let voter = count(&["node became a voter", "node=4"])
                + count(&["node joined the cluster as a voter", "node=4"]);
            assert_eq!(voter, 1, "node {id}: {log}");
        }
    }

    // The leader dies: each survivor logs the new leader once, naming the old one.
    cluster.node(first).kill();
    let second = cluster.leader().await;
    assert_ne!(second, first);
    for node in cluster.running() {
        let (leader, previous) = (format!("leader={second}"), format!("previous={first}"));
        wait_for("the new leader in the log", WAIT, || async {
            let log = node.log_text();
            (!lines_with(&log, &["leader changed", &leader, &previous]).is_empty()).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_node_says_so_and_stops_campaigning() {
    let cluster = TestCluster::start(233, 3, &[]);
    let leader = cluster.leader().await;
    let removed = (1..=3).find(|&id| id != leader).unwrap();
    cluster
        .client(leader)
        .admin("RemoveNode", &json!({"NodeId": removed}))
        .await
        .unwrap();
    let node = cluster.nodes.iter().find(|n| n.id == removed).unwrap();
    wait_for("the removed node to say so", WAIT, || async {
        let log = node.log_text();
        (!lines_with(&log, &["this node was removed from the cluster"]).is_empty()).then_some(())
    })
    .await;
    let local = wait_for("the removed node to report it", WAIT, || async {
        let body: Value = reqwest::get(format!("{}/readyz", node.api()))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["state"] == "Removed").then_some(body)
    })
    .await;
    assert_eq!(sample(&scrape(node).await, "trent_node_removed"), Some(1.0));

    // For ten election timeouts (400 ms at most each), its term stands still: it no longer
    // calls elections. (Before, it campaigned forever, every timeout a new term.)
    let term = local["term"].as_u64().unwrap();
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(4) {
        let now = node.local().await.unwrap();
        assert_eq!(
            now.term,
            term,
            "the removed node campaigns:\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = node.log_text();
    assert_eq!(
        lines_with(&log, &["this node was removed from the cluster"]).len(),
        1,
        "{log}"
    );
    // The rest carry on without it (two voters: a slow heartbeat may elect the other one).
    let s = status(&cluster.client(leader)).await.unwrap();
    assert!(
        s["Leader"] != removed && s["Leader"].as_u64().is_some(),
        "{s}"
    );
    assert_eq!(s["Members"].as_array().unwrap().len(), 2, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_has_one_line_per_request_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let args = ["--http-access-log", path.to_str().unwrap()];
    let cluster = TestCluster::start(234, 1, &args);
    cluster.leader().await;
    let client = cluster.client(1);
    let plaintext = b"the access log must never hold this plaintext";
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let key = create_key(&client).await.unwrap();
    let sealed = client
        .kms(
            "Encrypt",
            &json!({"KeyId": key, "Plaintext": b64(plaintext)}),
        )
        .await
        .unwrap();
    let blob = sealed["CiphertextBlob"].as_str().unwrap().to_owned();
    let opened = client
        .kms("Decrypt", &json!({"CiphertextBlob": blob}))
        .await
        .unwrap();
    assert_eq!(opened["Plaintext"], b64(plaintext));
    let stranger = trent_client::Client::with_timeout(
        &cluster.nodes[0].api(),
        REGION,
        trent_client::credentials(ROOT_ACCESS_KEY_ID, "not-the-secret"),
        Duration::from_secs(15),
    )
    .unwrap();
    let refused = describe(&stranger, &key).await.unwrap_err();
    let code = refused.code().unwrap().to_owned();

    let lines: Vec<Value> = wait_for("four access log lines", WAIT, || async {
        let text = std::fs::read_to_string(&path).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() >= 4).then_some(lines)
    })
    .await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(lines.len(), 4, "one line per request:\n{text}");
    let ops: Vec<&str> = lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["CreateKey", "Encrypt", "Decrypt", "DescribeKey"]);
    for line in &lines {
        for field in ["time", "request_id", "client", "status", "duration_ms"] {
            assert!(!line[field].is_null(), "{field}: {line}");
        }
        let time = line["time"].as_str().unwrap();
        assert!(
            time.len() >= 20 && time.ends_with('Z') && &time[10..11] == "T",
            "{time}"
        );
        assert!(
            line["client"].as_str().unwrap().starts_with("127."),
            "{line}"
        );
        assert_eq!(line["access_key_id"], ROOT_ACCESS_KEY_ID, "{line}");
        assert_eq!(
            line["principal"],
            format!("arn:aws:iam::{ACCOUNT}:root"),
            "{line}"
        );
    }
    for line in &lines[..3] {
        assert_eq!(
            (&line["status"], &line["error_code"]),
            (&json!(200), &Value::Null)
        );
        assert!(line["key_id"].as_str().unwrap().contains(&key), "{line}");
    }
    assert_eq!(lines[3]["error_code"], code.as_str());
    assert_ne!(lines[3]["status"], 200);
    // Neither the plaintext, the ciphertext, the secret nor the signature.
    for secret in [
        b64(plaintext),
        String::from_utf8_lossy(plaintext).into_owned(),
        blob,
        ROOT_SECRET.to_owned(),
        "Signature=".to_owned(),
        "Credential=".to_owned(),
        "AWS4-HMAC-SHA256".to_owned(),
    ] {
        assert!(
            !text.contains(&secret),
            "{secret} in the access log:\n{text}"
        );
    }
    assert_mode_0600(&path);
}

fn assert_mode_0600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_plain_mismatch_between_peers_is_logged_as_such() {
    let mut cluster = TestCluster::start(235, 0, &[]);
    let ip = |id| TestCluster::ip(235, id);
    let certs = trentd_certs(
        cluster.dir.path().join("certs"),
        &format!("1:n1={},2:n2={}", ip(1), ip(2)),
    );
    let initial = format!("1={}:7701,2={}:7701", ip(1), ip(2));
    // Node 1 speaks mutual TLS to its peers, node 2 plain gRPC: they never agree.
    let mut tls = cluster.new_node(1, &initial);
    let file = |f: &str| certs.join(f).to_str().unwrap().to_owned();
    tls.extra_args = vec![
        "--peer-tls-ca-file".into(),
        file("ca.pem"),
        "--peer-tls-cert-file".into(),
        file("n1.pem"),
        "--peer-tls-key-file".into(),
        file("n1-key.pem"),
    ];
    tls.peer_tls = true;
    tls.start();
    let mut plain = cluster.new_node(2, &initial);
    plain.start();
    cluster.nodes.push(tls);
    cluster.nodes.push(plain);

    let plain_says = "a peer speaks TLS to this node's plain peer listener";
    let tls_says = "a peer speaks plain gRPC to this node's TLS peer listener";
    for (id, says) in [(2, plain_says), (1, tls_says)] {
        let node = cluster.nodes.iter().find(|n| n.id == id).unwrap();
        wait_for(&format!("node {id} to log the mismatch"), WAIT, || async {
            let log = node.log_text();
            (!lines_with(&log, &["TLS/plain mismatch", says]).is_empty()).then_some(())
        })
        .await;
    }
    // Rate-limited: the founding members greet each other every 300 ms, yet 20 greetings
    // later node 2 has said it once.
    let node = cluster.nodes.iter().find(|n| n.id == 2).unwrap();
    let waiting = lines_with(&node.log_text(), &["waiting for founding members"]).len();
    wait_for("20 more greetings", WAIT, || async {
        let now = lines_with(&node.log_text(), &["waiting for founding members"]).len();
        (now >= waiting + 20).then_some(())
    })
    .await;
    let log = node.log_text();
    let said = lines_with(&log, &["TLS/plain mismatch"]).len();
    assert!(said <= 2, "{said} mismatch lines:\n{log}");
}
