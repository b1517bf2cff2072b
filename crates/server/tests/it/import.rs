//! Imported key material (BYOK) through real `trentd` nodes: boto3 (`import.py`) imports
//! symmetric, HMAC, ECC and RSA material wrapped outside trent by the `openssl` command line
//! and by pyca/cryptography with every wrapping algorithm, checks every result outside trent
//! (a ciphertext opened locally with the material, MACs against Python's hmac, signatures
//! and public keys against the local key pair), and every refusal; then the `trent kms` CLI
//! walks an import as docs/OPERATIONS.md does.
//!
//! Subnet 192.

use std::process::Command;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn material_wrapped_outside_trent_imports_with_every_wrapping_algorithm() {
    let cluster = TestCluster::start(192, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let leader_api = cluster.nodes.iter().find(|n| n.id == leader).unwrap().api();
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().api();
    python_cases("import.py", &[leader_api, follower], "import").await;
}

/// `trent kms ...` with the test root's credentials, answering JSON.
fn cli(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = crate::adversarial::files::trent(endpoint, args, None);
    assert!(ok, "trent {args:?}: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("trent {args:?}: {e}: {stdout}"))
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The walk-through of docs/OPERATIONS.md: the CLI and `openssl`, through a follower.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_import_works_with_the_cli_and_openssl() {
    let cluster = TestCluster::start(194, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let endpoint = cluster.nodes.iter().find(|n| n.id != leader).unwrap().api();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let made = cli(&endpoint, &["kms", "create-key", "--origin", "EXTERNAL"]);
        let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let (public, token) = (path("WrappingPublicKey.bin"), path("ImportToken.bin"));
        let params = cli(
            &endpoint,
            &[
                "kms",
                "get-parameters-for-import",
                "--key-id",
                &key,
                "--public-key-file",
                &public,
                "--import-token-file",
                &token,
            ],
        );
        assert!(params["ParametersValidTo"].is_number(), "{params}");
        let (plain, wrapped) = (
            path("PlaintextKeyMaterial.bin"),
            path("EncryptedKeyMaterial.bin"),
        );
        run("openssl", &["rand", "-out", &plain, "32"]);
        run(
            "openssl",
            &[
                "pkeyutl",
                "-encrypt",
                "-in",
                &plain,
                "-out",
                &wrapped,
                "-inkey",
                &public,
                "-keyform",
                "DER",
                "-pubin",
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
        );
        let in_90_days = (std::time::SystemTime::now()
            + std::time::Duration::from_secs(90 * 86400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
        let imported = cli(
            &endpoint,
            &[
                "kms",
                "import-key-material",
                "--key-id",
                &key,
                "--import-token-file",
                &token,
                "--encrypted-key-material-file",
                &wrapped,
                "--valid-to",
                &in_90_days,
            ],
        );
        assert_eq!(
            imported["KeyMaterialId"].as_str().map(str::len),
            Some(64),
            "{imported}"
        );
        let described = cli(&endpoint, &["kms", "describe-key", "--key-id", &key]);
        assert_eq!(
            described["KeyMetadata"]["KeyState"], "Enabled",
            "{described}"
        );
        cli(
            &endpoint,
            &["kms", "delete-imported-key-material", "--key-id", &key],
        );
        let described = cli(&endpoint, &["kms", "describe-key", "--key-id", &key]);
        assert_eq!(
            described["KeyMetadata"]["KeyState"], "PendingImport",
            "{described}"
        );
    })
    .await
    .unwrap();
}
