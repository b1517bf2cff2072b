//! Mutual TLS on the peer transport: a cluster whose nodes hold certificates from one CA
//! (made by `trentd certs`) forms and forwards; a node with a certificate from another CA
//! never catches up; the peer port refuses clients without a certificate from the CA.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use trent_cluster::proto::peer_client::PeerClient;
use trent_cluster::proto::HelloRequest;

use crate::harness::*;

/// A node of `cluster` serving the peer transport with `name`'s certificate from `certs`.
fn tls_node(cluster: &TestCluster, id: u64, initial: &str, certs: &Path, name: &str) -> TestNode {
    let mut node = cluster.new_node(id, initial);
    let file = |f: String| certs.join(f).to_str().unwrap().to_owned();
    node.extra_args = vec![
        "--peer-tls-ca-file".into(),
        file("ca.pem".into()),
        "--peer-tls-cert-file".into(),
        file(format!("{name}.pem")),
        "--peer-tls-key-file".into(),
        file(format!("{name}-key.pem")),
    ];
    node.peer_tls = true;
    node
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mtls_cluster_serves_and_a_node_from_another_ca_never_catches_up() {
    let mut cluster = TestCluster::start(71, 0, &[]);
    let ip = |id| TestCluster::ip(71, id);
    let names: Vec<String> = [1, 2, 3, 5]
        .iter()
        .map(|&id| format!("{id}:n{id}={}", ip(id)))
        .collect();
    let ours = trentd_certs(cluster.dir.path().join("certs"), &names.join(","));
    let theirs = trentd_certs(cluster.dir.path().join("rogue"), &format!("4:n4={}", ip(4)));
    let initial = format!("1={}:7701,2={}:7701,3={}:7701", ip(1), ip(2), ip(3));
    for id in 1..=3 {
        let mut node = tls_node(&cluster, id, &initial, &ours, &format!("n{id}"));
        node.start();
        cluster.nodes.push(node);
    }
    let leader = cluster.leader().await;

    // Written through one follower, read through the other: both forward over mTLS.
    let followers: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let key = create_key(&cluster.client(followers[0])).await.unwrap();
    let described = describe(&cluster.client(followers[1]), &key).await.unwrap();
    assert_eq!(described["KeyMetadata"]["KeyId"], key.as_str());

    // A node whose certificate comes from another CA (and which trusts only that CA).
    let mut rogue = tls_node(&cluster, 4, "", &theirs, "n4");
    rogue.start();
    // Serving its API means its peer listener is up: what stops it below is TLS alone.
    wait_for("node 4 to serve", Duration::from_secs(30), || rogue.local()).await;
    let admin = cluster.client(leader);
    // The leader asks the node who it is before adding it: the handshake fails, so it is
    // refused before any membership change.
    let refused = admin
        .admin(
            "AddNode",
            &json!({"NodeId": 4, "Address": rogue.peer_addr()}),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("does not answer"), "{refused}");

    // An honest node added after it catches up and becomes a voter...
    let mut honest = tls_node(&cluster, 5, "", &ours, "n5");
    honest.start();
    // AddNode is bounded by the request timeout: a learner still catching up on a loaded
    // machine answers 503, and the operator (or the StatefulSet's join) retries it, as here.
    let add = json!({"NodeId": 5, "Address": honest.peer_addr()});
    wait_for(
        "AddNode of node 5 to succeed",
        Duration::from_secs(60),
        || async {
            match admin.admin("AddNode", &add).await {
                Ok(_) => Some(()),
                Err(e) if e.code() == Some("ServiceUnavailable") => None,
                Err(e) => panic!("AddNode of a node with a certificate from the cluster CA: {e}"),
            }
        },
    )
    .await;
    let fifth = honest.local().await.expect("node 5 answers");
    assert!(fifth.last_applied.unwrap_or(0) > 0, "{fifth:?}");

    // ...while the foreign node is no member and has never received a single entry.
    let s = status(&admin).await.unwrap();
    let member = |id: u64| {
        s["Members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["NodeId"] == id)
            .cloned()
    };
    assert_eq!(member(5).unwrap()["Voter"], true, "{s}");
    assert!(member(4).is_none(), "{s}");
    let fourth = rogue.local().await.expect("node 4 answers its probe");
    assert_eq!(
        (fourth.leader, fourth.last_log_index),
        (None, None),
        "{fourth:?}"
    );
    cluster.nodes.extend([rogue, honest]);
}

/// A TLS client for the peer port: trusts `ca`, presents `identity` (cert, key) if given.
/// True if the server answered the HTTP/2 preface, false if the connection failed.
fn peer_port_answers(addr: &str, ca: &Path, identity: Option<(&Path, &Path)>) -> bool {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let host = addr.rsplit_once(':').unwrap().0.to_owned();
    let name = ServerName::try_from(host).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    // The HTTP/2 preface and an empty SETTINGS frame; a server that accepted us answers
    // with its SETTINGS. (With TLS 1.3 a refused client certificate shows only here.)
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    if tls.write_all(preface).and_then(|_| tls.flush()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(tls.read(&mut buf), Ok(n) if n > 0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_peer_port_refuses_clients_without_a_certificate_from_the_cluster_ca() {
    let mut cluster = TestCluster::start(72, 0, &[]);
    let ip = TestCluster::ip(72, 1);
    let ours = trentd_certs(
        cluster.dir.path().join("certs"),
        &format!("1:n1={ip},client"),
    );
    let theirs = trentd_certs(cluster.dir.path().join("rogue"), "client");
    let mut node = tls_node(&cluster, 1, &format!("1={ip}:7701"), &ours, "n1");
    node.start();
    let addr = node.peer_addr();
    cluster.nodes.push(node);
    cluster.leader().await;

    let ca = ours.join("ca.pem");
    let probe = move |identity: Option<(PathBuf, PathBuf)>| {
        let (addr, ca) = (addr.clone(), ca.clone());
        tokio::task::spawn_blocking(move || {
            let identity = identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
            peer_port_answers(&addr, &ca, identity)
        })
    };
    let pair = |dir: &Path| Some((dir.join("client.pem"), dir.join("client-key.pem")));
    assert!(
        probe(pair(&ours)).await.unwrap(),
        "a certificate from the CA is accepted"
    );
    assert!(
        !probe(None).await.unwrap(),
        "a client without a certificate was served"
    );
    assert!(
        !probe(pair(&theirs)).await.unwrap(),
        "a certificate from another CA was served"
    );

    // Plain gRPC gets nothing either.
    let plain = PeerClient::connect(format!("http://{ip}:7701")).await;
    if let Ok(mut peer) = plain {
        let hello = HelloRequest {
            cluster: "it".into(),
            node_id: 9,
            initial_cluster: String::new(),
            ..Default::default()
        };
        assert!(peer.hello(hello).await.is_err(), "plain gRPC was served");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_unreadable_peer_tls_file_stops_trentd_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let ours = trentd_certs(dir.path().join("certs"), "n1");
    let theirs = trentd_certs(dir.path().join("rogue"), "n1");
    let run = |extra: Vec<String>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
        command
            .args(["run", "--node-id", "1", "--plain-http"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--api-listen",
                "127.73.0.1:7700",
                "--peer-listen",
                "127.73.0.1:7701",
            ])
            .args(extra)
            .env("TRENT_DOMAIN_KEY", DOMAIN_KEY);
        exit_of(command)
    };
    let file = |d: &Path, f: &str| d.join(f).to_str().unwrap().to_owned();
    let args = |ca: String, cert: String, key: String| {
        vec![
            "--peer-tls-ca-file".into(),
            ca,
            "--peer-tls-cert-file".into(),
            cert,
            "--peer-tls-key-file".into(),
            key,
        ]
    };
    for (extra, says) in [
        (vec![], "peer_tls_ca_file: required"),
        (
            vec!["--peer-tls-ca-file".into(), file(&ours, "ca.pem")],
            "peer_tls_cert_file: required",
        ),
        (
            args(
                file(&ours, "n1-key.pem"),
                file(&ours, "n1.pem"),
                file(&ours, "n1-key.pem"),
            ),
            "peer_tls_ca_file: no certificate",
        ),
        (
            args(
                file(&ours, "ca.pem"),
                file(&theirs, "n1.pem"),
                file(&theirs, "n1-key.pem"),
            ),
            "peer_tls_cert_file: does not chain",
        ),
        (
            args(
                file(&ours, "ca.pem"),
                file(&ours, "n1.pem"),
                file(&theirs, "n1-key.pem"),
            ),
            "peer_tls_key_file: does not fit",
        ),
    ] {
        let (code, stderr) = run(extra).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing may be created");
}
