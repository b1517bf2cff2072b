//! Every client through a 3-node cluster on PKCS#11 tokens: the whole interop suite (boto3,
//! the AWS CLI, the AWS Encryption SDK), the key-type script's signing, RSA encryption, HMAC,
//! ECDH and data key pair sections, and the import script (symmetric, HMAC, RSA and ECC material
//! imported into the tokens, rotated, deleted and imported again), with what SoftHSM2 cannot
//! serve and what the PKCS#11 backend does not offer yet refused by name; then a failover, after
//! which another token opens what the first leader's sealed and the audit trail, signed in
//! two tokens, verifies under one public key.
//!
//! Subnet 208.

use std::path::PathBuf;
use std::process::Command;

use super::Ceremony;
use crate::audit::audit_cli;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_on_pkcs11_tokens_serves_every_client_with_one_ceremony_key() {
    let ceremony = Ceremony::run(3).await;
    // A second ceremony on a token refuses: the key may wrap every key of a cluster.
    let (ok, output) = ceremony.tokens[0]
        .init(&ceremony.pin, &ceremony.components)
        .await;
    assert!(!ok && output.contains("already holds"), "{output}");

    // Requests may take 30 s: SoftHSM2 takes seconds per RSA-4096 pair (GenerateDataKeyPair,
    // GetParametersForImport) on a machine the rest of the suite loads, where the default
    // timeout's 503 can outlast the clients' retries.
    let cluster = ceremony.cluster_with(208, &["--request-timeout-ms", "30000"]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("PKCS#11 token opened"), "{log}");
    let mut nodes: Vec<&TestNode> = cluster.nodes.iter().collect();
    nodes.sort_by_key(|n| n.id != leader);
    let endpoints: Vec<String> = nodes.iter().map(|n| n.api()).collect();

    crate::interop::interop_suite(&endpoints).await;
    key_types_in_the_token(&endpoints).await;
    // Imports (BYOK) into the token, with the SHA-1 wrapping algorithms SoftHSM2 2.6 takes.
    let import_env = [("TRENT_IMPORT_ON_TOKEN", "1")];
    python_cases_with("import.py", &endpoints[..2], "import", &import_env).await;
    another_token_opens_what_the_leader_sealed(cluster, leader).await;
}

/// Crypto runs on the leader: what one leader's token sealed, the next leader's token opens,
/// since the ceremony gave them one key.
async fn another_token_opens_what_the_leader_sealed(mut cluster: TestCluster, leader: u64) {
    let client = cluster.client(leader);
    let key_id = create_key(&client).await.unwrap();
    let sealed = client
        .kms(
            "Encrypt",
            &serde_json::json!({"KeyId": key_id, "Plaintext": "c2VhbGVkIGluIHRva2VuIDE="}),
        )
        .await
        .unwrap();
    // The trail's digests are signed in the leader's token, and after the failover in
    // another token holding the same audit key (the ceremony made it from the domain key):
    // one public key verifies both exports.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let old_api = cluster.nodes[leader as usize - 1].api();
    let first = audit_cli(&old_api, &["export", path]).unwrap();
    let pem = audit_cli(&old_api, &["public-key"]).unwrap()["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_file = cluster.dir.path().join("audit-public-key.pem");
    std::fs::write(&key_file, &pem).unwrap();
    let key_path = key_file.to_str().unwrap();

    cluster.node(leader).kill();
    let next = cluster.leader().await;
    assert_ne!(next, leader);
    let opened = cluster
        .client(next)
        .kms(
            "Decrypt",
            &serde_json::json!({"CiphertextBlob": sealed["CiphertextBlob"]}),
        )
        .await
        .unwrap();
    assert_eq!(opened["Plaintext"], "c2VhbGVkIGluIHRva2VuIDE=", "{opened}");
    let api = cluster.nodes[next as usize - 1].api();
    let second = audit_cli(&api, &["export", path]).unwrap();
    assert!(
        second["Events"].as_u64() > first["Events"].as_u64(),
        "{first} {second}"
    );
    assert_eq!(second["PublicKey"], serde_json::json!(pem), "{second}");
    let verified = audit_cli(&api, &["verify", path, "--public-key", key_path]).unwrap();
    assert_eq!(verified["Events"], second["Events"], "{verified}");
}

/// The key-type script's sections the token serves, with what SoftHSM2 2.6 lacks (Ed25519
/// keys it cannot wrap, OAEP with SHA-256) and what the PKCS#11 backend does not offer yet
/// (ML-DSA, ML-KEM) refused by name.
async fn key_types_in_the_token(endpoints: &[String]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/key_types.py");
    let (ok, text) = output_of({
        let mut command = Command::new(crate::interop::venv_python());
        command
            .arg(path)
            .env("TRENT_ENDPOINTS", endpoints.join(","))
            .env("TRENT_REGION", REGION)
            .env(
                "TRENT_KEY_TYPES_ONLY",
                "signing_keys,rsa_encryption,hmac_keys,key_agreement,data_key_pairs,refused_by_the_hsm",
            )
            .env(
                "TRENT_REFUSED_SPECS",
                "ECC_NIST_EDWARDS25519,ML_DSA_44,ML_DSA_65,ML_DSA_87,ML_KEM_512,ML_KEM_768,ML_KEM_1024",
            )
            .env("TRENT_REFUSED_ALGORITHMS", "RSAES_OAEP_SHA_256")
            .as_test_root();
        command
    })
    .await;
    println!("{text}");
    assert!(
        ok && text.contains("all key type cases passed"),
        "key_types.py on PKCS#11 failed (its FAILED lines are above)"
    );
}
