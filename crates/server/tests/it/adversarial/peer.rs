//! Item 1: only signed client requests cross the network. An attacker on the peer port
//! (any local process with plain peers, any holder of a certificate from the cluster CA with
//! TLS) tries to act as a principal without a signature, to speak as a node it is not, and to
//! vote as a non-member; `trentd dev` serves no peer port; plain peers stay on loopback.
//! Subnets 100-109.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use openraft::{CommittedLeaderId, LogId, Vote};
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use trent_cluster::proto::peer_client::PeerClient;
use trent_cluster::proto::{ForwardRequest, RaftRequest};

use crate::harness::*;

/// A peer-port client; with `tls` = (certs dir, certificate name, node id to verify the
/// server as), it presents that certificate.
async fn peer_client(addr: &str, tls: Option<(&Path, &str, u64)>) -> PeerClient<Channel> {
    let endpoint = match tls {
        None => Endpoint::from_shared(format!("http://{addr}")).unwrap(),
        Some((dir, name, server)) => {
            let read = |f: String| std::fs::read(dir.join(f)).unwrap();
            let config = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("ca.pem".into())))
                .identity(Identity::from_pem(
                    read(format!("{name}.pem")),
                    read(format!("{name}-key.pem")),
                ))
                .domain_name(trent_cluster::peer_name("it", server));
            Endpoint::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(config)
                .unwrap()
        }
    };
    PeerClient::new(endpoint.connect().await.unwrap())
}

/// A forwarded KMS request as the pre-authenticated channel `K` carried it: a caller
/// principal and an operation, no signature.
fn unsigned_forward(operation: serde_json::Value, from: u64, cluster_id: &[u8]) -> ForwardRequest {
    let root = trent_model::Principal::root(ACCOUNT.parse().unwrap());
    let mut payload = vec![b'K'];
    payload.extend(serde_json::to_vec(&json!({"caller": root, "operation": operation})).unwrap());
    ForwardRequest {
        cluster: "it".into(),
        request_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
        hops: 0,
        payload,
        from,
        cluster_id: cluster_id.to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_request_on_the_peer_port_acts_as_nobody() {
    let cluster = TestCluster::start(100, 1, &[]);
    cluster.leader().await;
    let node = &cluster.nodes[0];
    let mut peer = peer_client(&node.peer_addr(), None).await;
    // As a forger who read it off the wire would send it: the checks these tests are about
    // come after the cluster id's.
    let id = cluster_id(&node.client()).await;

    let create = json!({"Operation": "CreateKey", "Input": {"Description": "forged"}});
    let answer = peer.forward(unsigned_forward(create, 1, &id)).await;
    assert!(
        answer.is_err(),
        "an unsigned CreateKey was served: {answer:?}"
    );
    let list = json!({"Operation": "ListKeys", "Input": {}});
    let answer = peer.forward(unsigned_forward(list, 1, &id)).await;
    assert!(
        answer.is_err(),
        "an unsigned ListKeys was served: {answer:?}"
    );
    assert_eq!(
        list_keys(&node.client()).await.unwrap(),
        Vec::<String>::new()
    );
}

/// The TCP ports process `pid` listens on (from /proc: its socket inodes in /proc/net/tcp).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening = f.get(3) == Some(&"0A");
            let ours = inodes.iter().any(|i| Some(&i.as_str()) == f.get(9));
            let port = f.get(1)?.rsplit(':').next()?;
            (listening && ours).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn trentd_dev_serves_no_peer_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trentd"))
        .args([
            "dev",
            "--data-dir",
            dir.path().join("dev").to_str().unwrap(),
        ])
        .args(["--api-listen", "127.101.0.1:7700"])
        .env_remove("TRENT_DOMAIN_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let api = "http://127.101.0.1:7700/readyz";
    wait_for(
        "trentd dev to be ready",
        Duration::from_secs(30),
        || async {
            let r = reqwest::get(api).await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
    let ports = listening_ports(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ports, vec![7700], "trentd dev listens on more than its API");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_peers_on_a_network_address_are_refused_without_the_named_override() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
    command
        .args(["run", "--node-id", "1", "--cluster-name", "it"])
        .args(["--data-dir", dir.path().join("n1").to_str().unwrap()])
        .args([
            "--api-listen",
            "127.103.0.1:7700",
            "--plain-http",
            "--peer-plain",
        ])
        .args([
            "--peer-listen",
            "0.0.0.0:7701",
            "--peer-advertise",
            "127.103.0.1:7701",
        ])
        .args(["--initial-cluster", "1=127.103.0.1:7701"])
        .env("TRENT_DOMAIN_KEY", DOMAIN_KEY);
    let (code, stderr) = exit_of(command).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("insecure_peer_plain_on_network"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("n1").exists(),
        "refused before the data dir is made"
    );
}

/// A Raft vote request from candidate `candidate` with a log far ahead of anyone's.
fn vote_from(candidate: u64, term: u64, from: u64, cluster_id: &[u8]) -> RaftRequest {
    let last = LogId::new(CommittedLeaderId::new(term, candidate), 1_000_000);
    let vote = openraft::raft::VoteRequest::new(Vote::new(term, candidate), Some(last));
    RaftRequest {
        cluster: "it".into(),
        data: bincode::serialize(&vote).unwrap(),
        from,
        cluster_id: cluster_id.to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_from_the_cluster_ca_speaks_only_for_its_own_member_node() {
    let subnet = 102;
    let ip = |id| TestCluster::ip(subnet, id);
    let mut cluster = TestCluster::start(subnet, 0, &[]);
    let spec: Vec<String> = [1, 2, 3, 9]
        .iter()
        .map(|&id| format!("{id}:n{id}={}", ip(id)))
        .collect();
    let ours = trentd_certs(cluster.dir.path().join("certs"), &spec.join(","));
    let rogue_ca = trentd_certs(cluster.dir.path().join("rogue"), &format!("1:n1={}", ip(1)));
    let initial = format!("1={}:7701,2={}:7701,3={}:7701", ip(1), ip(2), ip(3));
    for id in 1..=3 {
        let mut node = cluster.new_node(id, &initial);
        let file = |f: String| ours.join(f).to_str().unwrap().to_owned();
        node.extra_args = vec![
            "--peer-tls-ca-file".into(),
            file("ca.pem".into()),
            "--peer-tls-cert-file".into(),
            file(format!("n{id}.pem")),
            "--peer-tls-key-file".into(),
            file(format!("n{id}-key.pem")),
        ];
        node.peer_tls = true;
        node.start();
        cluster.nodes.push(node);
    }
    let leader = cluster.leader().await;
    let target = (1..=3).find(|&id| id != leader).unwrap();
    let other = (1..=3).find(|&id| id != leader && id != target).unwrap();
    let term = cluster.node(target).local().await.unwrap().term;
    let addr = cluster.node(target).peer_addr();
    let id = cluster_id(&cluster.client(target)).await;

    // Node 9 holds a certificate from the cluster CA, but is no member.
    let mut stranger = peer_client(&addr, Some((&ours, "n9", target))).await;
    let refused = stranger
        .vote(vote_from(9, term + 100, 9, &id))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let refused = stranger
        .forward(unsigned_forward(
            json!({"Operation": "ListKeys", "Input": {}}),
            9,
            &id,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // A member's certificate used for another member's id, either way of claiming it.
    let mut impostor = peer_client(&addr, Some((&ours, &format!("n{other}"), target))).await;
    let refused = impostor
        .vote(vote_from(leader, term + 100, leader, &id))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let refused = impostor
        .vote(vote_from(leader, term + 100, other, &id))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // No forged vote reached Raft: one would have moved the target to term + 100 (an
    // ordinary election under load moves it by one or two), and the cluster still serves.
    let now = cluster.node(target).local().await.unwrap().term;
    assert!(
        now < term + 100,
        "a forged vote moved the term from {term} to {now}"
    );
    cluster.leader().await;

    // A certificate from another CA fails the handshake, and the node says why.
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(
                    std::fs::read(ours.join("ca.pem")).unwrap(),
                ))
                .identity(Identity::from_pem(
                    std::fs::read(rogue_ca.join("n1.pem")).unwrap(),
                    std::fs::read(rogue_ca.join("n1-key.pem")).unwrap(),
                ))
                .domain_name(trent_cluster::peer_name("it", target)),
        );
    let connected = match endpoint.unwrap().connect().await {
        Ok(channel) => PeerClient::new(channel)
            .vote(vote_from(1, term + 100, 1, &id))
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!connected, "a certificate from another CA was served");
    let target_node = cluster.node(target);
    wait_for(
        "the refused handshake in the log",
        Duration::from_secs(10),
        || {
            let log = target_node.log_text();
            async move { log.contains("peer TLS handshake refused").then_some(()) }
        },
    )
    .await;
}
