//! Every KMS key type through real `trentd` nodes: boto3 (`key_types.py`) creates RSA, ECC,
//! Ed25519, ML-DSA, HMAC, ECDH and ML-KEM keys, and data key pairs, on the leader and on a
//! follower, and checks every answer outside trent: signatures with pyca/cryptography, the
//! `openssl` command line and RFC 8032's reference Ed25519ph verification; RSA ciphertexts,
//! ECDH secrets and ML-KEM encapsulations made with cryptography; data key pairs loaded by
//! it. Then the AWS CLI and the AWS Encryption SDK's RSA keyring, and the bad input AWS
//! refuses, each with its AWS error and no state change. Last, the bundled `trent kms` CLI
//! signs, MACs and encapsulates through a follower.
//!
//! Subnet 187.

use serde_json::Value;

use crate::adversarial::files::trent;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_key_type_works_with_real_clients_on_the_leader_and_a_follower() {
    let cluster = TestCluster::start(187, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    // The leader first: the script sends to it and to the next endpoint, a follower.
    let mut nodes: Vec<&TestNode> = cluster.nodes.iter().collect();
    nodes.sort_by_key(|n| n.id != leader);
    let endpoints: Vec<String> = nodes.iter().map(|n| n.api()).collect();
    python_cases("key_types.py", &endpoints, "key type").await;
    let follower = nodes[1].api();
    tokio::task::spawn_blocking(move || the_cli_signs_macs_and_encapsulates(&follower))
        .await
        .unwrap();
}

/// `trent kms ...` with the test root's credentials, answering JSON.
fn cli(endpoint: &str, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = trent(endpoint, args, None);
    assert!(ok, "trent {args:?}: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("trent {args:?}: {e}: {stdout}"))
}

fn the_cli_signs_macs_and_encapsulates(endpoint: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let message = file("message", b"a release to sign");
    let key = |spec: &str, usage: &str| {
        let made = cli(
            endpoint,
            &[
                "kms",
                "create-key",
                "--key-spec",
                spec,
                "--key-usage",
                usage,
            ],
        );
        assert_eq!(made["KeyMetadata"]["KeySpec"], spec, "{made}");
        made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    };

    let signer = key("ECC_NIST_P256", "SIGN_VERIFY");
    let algorithm = ["--signing-algorithm", "ECDSA_SHA_256"];
    let signed = cli(
        endpoint,
        &[
            &[
                "kms",
                "sign",
                "--key-id",
                &signer,
                "--message-file",
                &message,
            ][..],
            &algorithm,
        ]
        .concat(),
    );
    let signature = b64.decode(signed["Signature"].as_str().unwrap()).unwrap();
    let signature = file("signature", &signature);
    let verified = cli(
        endpoint,
        &[
            &[
                "kms",
                "verify",
                "--key-id",
                &signer,
                "--message-file",
                &message,
                "--signature-file",
                &signature,
            ][..],
            &algorithm,
        ]
        .concat(),
    );
    assert_eq!(verified["SignatureValid"], true, "{verified}");
    let public = cli(endpoint, &["kms", "get-public-key", "--key-id", &signer]);
    assert_eq!(
        public["SigningAlgorithms"],
        serde_json::json!(["ECDSA_SHA_256"])
    );

    let mac_key = key("HMAC_256", "GENERATE_VERIFY_MAC");
    let algorithm = ["--mac-algorithm", "HMAC_SHA_256"];
    let mac = cli(
        endpoint,
        &[
            &[
                "kms",
                "generate-mac",
                "--key-id",
                &mac_key,
                "--message-file",
                &message,
            ][..],
            &algorithm,
        ]
        .concat(),
    );
    let mac = file("mac", &b64.decode(mac["Mac"].as_str().unwrap()).unwrap());
    let checked = cli(
        endpoint,
        &[
            &[
                "kms",
                "verify-mac",
                "--key-id",
                &mac_key,
                "--message-file",
                &message,
                "--mac-file",
                &mac,
            ][..],
            &algorithm,
        ]
        .concat(),
    );
    assert_eq!(checked["MacValid"], true, "{checked}");

    let kem = key("ML_KEM_768", "ENCAPSULATE_DECAPSULATE");
    let sealed = cli(endpoint, &["kms", "encapsulate", "--key-id", &kem]);
    let ciphertext = b64
        .decode(sealed["SharedSecretCiphertextBlob"].as_str().unwrap())
        .unwrap();
    let ciphertext = file("kem", &ciphertext);
    let opened = cli(
        endpoint,
        &[
            "kms",
            "decapsulate",
            "--key-id",
            &kem,
            "--ciphertext-file",
            &ciphertext,
        ],
    );
    assert_eq!(opened["SharedSecret"], sealed["SharedSecret"]);
}
