//! Every KMS key type through real `trentd` nodes: boto3 (`key_types.py`) creates RSA, ECC,
//! Ed25519, ML-DSA, HMAC, ECDH and ML-KEM keys, and data key pairs, on the leader and on a
//! follower, and checks every answer outside trent: signatures with pyca/cryptography, the
//! `openssl` command line and RFC 8032's reference Ed25519ph verification; RSA ciphertexts,
//! ECDH secrets and ML-KEM encapsulations made with cryptography; data key pairs loaded by
//! it. Then the AWS CLI and the AWS Encryption SDK's RSA keyring, and the bad input AWS
//! refuses, each with its AWS error and no state change.
//!
//! Subnet 187.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;
use crate::interop::venv_python;

#[tokio::test(flavor = "multi_thread")]
async fn every_key_type_works_with_real_clients_on_the_leader_and_a_follower() {
    let python = venv_python();
    let cluster = TestCluster::start(187, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    // The leader first: the script sends to it and to the next endpoint, a follower.
    let mut nodes: Vec<&TestNode> = cluster.nodes.iter().collect();
    nodes.sort_by_key(|n| n.id != leader);
    let endpoints: Vec<String> = nodes.iter().map(|n| n.api()).collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/key_types.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("TRENT_ENDPOINTS", endpoints.join(","))
            .env("TRENT_REGION", REGION)
            .as_test_root()
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(
        output.status.success() && text.contains("all key type cases passed"),
        "key_types.py failed: its output is above (the FAILED lines at its end)"
    );
}
