//! trentd with its keys in PKCS#11 tokens (issue 26): three SoftHSM2 tokens, one per node,
//! each its own token directory as each of three hosts would have its own device. The key
//! ceremony (`trentd hsm init --component-file`, two custodians' components) gives every
//! token the same domain key, shown by equal key check values. Then the whole interop suite
//! (boto3, the AWS CLI, the AWS Encryption SDK) and the key-type script's signing, HMAC and
//! ECDH sections run through the 3-node cluster, with the specs SoftHSM2 cannot serve refused
//! by name; the audit trail exports and verifies with digests signed by the token's audit key;
//! and a node whose token holds another key is refused before it can join.
//!
//! Subnet 208.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audit::audit_cli;
use crate::harness::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4321";
const COMPONENTS: [&str; 2] = [
    "6a0f3c9e1b2d4f5a6c7e8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5",
    "13579bdf02468ace13579bdf02468ace13579bdf02468ace13579bdf02468ace",
];

/// One node's token: its SoftHSM2 configuration (token directory of its own) and label.
struct Token {
    conf: PathBuf,
    label: String,
}

impl Token {
    /// A fresh, empty token (softhsm2-util --init-token), not yet holding any key.
    fn new(dir: &Path, name: &str) -> Token {
        assert!(
            Path::new(MODULE).exists(),
            "{MODULE} is missing: scripts/test installs softhsm2"
        );
        let tokens = dir.join(format!("{name}-tokens"));
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join(format!("{name}-softhsm2.conf"));
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", name])
            .args(["--pin", PIN, "--so-pin", "87654321"])
            .output()
            .unwrap();
        assert!(output.status.success(), "softhsm2-util: {output:?}");
        Token {
            conf,
            label: name.into(),
        }
    }

    /// `trentd hsm init` with the given component files; its success and output.
    async fn init(&self, pin: &Path, components: &[PathBuf]) -> (bool, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
        command
            .args(["hsm", "init", "--pkcs11-module", MODULE])
            .args(["--pkcs11-token-label", &self.label])
            .arg("--pkcs11-pin-file")
            .arg(pin)
            .env("SOFTHSM2_CONF", &self.conf);
        for component in components {
            command.arg("--component-file").arg(component);
        }
        output_of(command).await
    }

    /// Points `node` at this token instead of a domain key.
    fn serve(&self, node: &mut TestNode, pin: &Path) {
        node.extra_args = vec![
            "--hsm".into(),
            "pkcs11".into(),
            "--pkcs11-module".into(),
            MODULE.into(),
            "--pkcs11-token-label".into(),
            self.label.clone(),
            "--pkcs11-pin-file".into(),
            pin.display().to_string(),
        ];
        node.extra_env = vec![("SOFTHSM2_CONF".into(), self.conf.display().to_string())];
        node.env_remove = vec!["TRENT_DOMAIN_KEY"];
    }
}

/// A secret file (mode 0600) holding `text`.
fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The key check value `trentd hsm init` printed.
fn check_value(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("key check value: "))
        .unwrap_or_else(|| panic!("no key check value in: {output}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_on_pkcs11_tokens_serves_every_client_with_one_ceremony_key() {
    let setup = tempfile::tempdir().unwrap();
    let pin = secret_file(setup.path(), "pin", PIN);
    let components: Vec<PathBuf> = COMPONENTS
        .iter()
        .enumerate()
        .map(|(i, hex)| secret_file(setup.path(), &format!("component-{i}"), hex))
        .collect();
    let tokens: Vec<Token> = (1..=3)
        .map(|id| Token::new(setup.path(), &format!("trent-{id}")))
        .collect();
    let mut values = vec![];
    for token in &tokens {
        let (ok, output) = token.init(&pin, &components).await;
        assert!(ok, "trentd hsm init: {output}");
        assert!(output.contains("component"), "{output}");
        values.push(check_value(&output));
    }
    assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
    // A second ceremony on a token refuses: the key may wrap every key of a cluster.
    let (ok, output) = tokens[0].init(&pin, &components).await;
    assert!(!ok && output.contains("already holds"), "{output}");

    let cluster = TestCluster::start_with(208, 3, |node| {
        tokens[node.id as usize - 1].serve(node, &pin);
    });
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("PKCS#11 token opened"), "{log}");
    let mut nodes: Vec<&TestNode> = cluster.nodes.iter().collect();
    nodes.sort_by_key(|n| n.id != leader);
    let endpoints: Vec<String> = nodes.iter().map(|n| n.api()).collect();

    crate::interop::interop_suite(&endpoints).await;
    key_types_in_the_token(&endpoints).await;
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
/// keys it cannot wrap; ML-DSA, which PKCS#11 2.40 has no mechanism for) refused by name.
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
                "signing_keys,hmac_keys,key_agreement",
            )
            .env(
                "TRENT_REFUSED_SPECS",
                "ECC_NIST_EDWARDS25519,ML_DSA_44,ML_DSA_65,ML_DSA_87",
            )
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
