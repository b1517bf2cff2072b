//! Imported key material (BYOK) through real `trentd` nodes: boto3 (`import.py`) imports
//! symmetric, HMAC, ECC and RSA material wrapped outside trent by the `openssl` command line
//! and by pyca/cryptography with every wrapping algorithm, checks every result outside trent
//! (a ciphertext opened locally with the material, MACs against Python's hmac, signatures
//! and public keys against the local key pair), every refusal, and the rotation of an imported
//! key; then the `trent kms` CLI walks an import and a rotation as docs/OPERATIONS.md does.
//!
//! Subnet 192.

use std::process::Command;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn material_wrapped_outside_trent_imports_with_every_wrapping_algorithm() {
    // Requests may take 30 s: a GetParametersForImport makes an RSA-4096 pair, which takes
    // seconds on a machine the rest of the suite loads.
    let cluster = TestCluster::start(192, 3, &["--request-timeout-ms", "30000"]);
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

/// Steps 2 and 3 of the walk-through: parameters for `key`, and fresh material (`name`)
/// wrapped under its public key with `openssl`; answers the token and wrapped material files.
fn wrapped_material(endpoint: &str, key: &str, dir: &std::path::Path, name: &str) -> [String; 2] {
    let path = |file: &str| {
        dir.join(format!("{name}-{file}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (public, token) = (path("WrappingPublicKey.bin"), path("ImportToken.bin"));
    let params = cli(
        endpoint,
        &[
            "kms",
            "get-parameters-for-import",
            "--key-id",
            key,
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
    let oaep = [
        "rsa_padding_mode:oaep",
        "rsa_oaep_md:sha256",
        "rsa_mgf1_md:sha256",
    ];
    let mut args = vec![
        "pkeyutl", "-encrypt", "-in", &plain, "-out", &wrapped, "-inkey", &public, "-keyform",
        "DER", "-pubin",
    ];
    for opt in oaep {
        args.extend(["-pkeyopt", opt]);
    }
    run("openssl", &args);
    [token, wrapped]
}

/// The walk-through of docs/OPERATIONS.md: the CLI and `openssl`, through a follower; an
/// import, a rotation to new imported material, and deletions.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_import_works_with_the_cli_and_openssl() {
    let cluster = TestCluster::start(194, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let endpoint = cluster.nodes.iter().find(|n| n.id != leader).unwrap().api();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let made = cli(&endpoint, &["kms", "create-key", "--origin", "EXTERNAL"]);
        let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let [token, wrapped] = wrapped_material(&endpoint, &key, dir.path(), "first");
        let in_90_days = (std::time::SystemTime::now()
            + std::time::Duration::from_secs(90 * 86400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
        let import = |token: &str, wrapped: &str, extra: &[&str]| {
            let mut args = vec![
                "kms",
                "import-key-material",
                "--key-id",
                &key,
                "--import-token-file",
                token,
                "--encrypted-key-material-file",
                wrapped,
            ];
            args.extend(extra);
            cli(&endpoint, &args)
        };
        let imported = import(&token, &wrapped, &["--valid-to", &in_90_days]);
        let first = imported["KeyMaterialId"].as_str().unwrap().to_owned();
        assert_eq!(first.len(), 64, "{imported}");
        let described = cli(&endpoint, &["kms", "describe-key", "--key-id", &key]);
        assert_eq!(
            described["KeyMetadata"]["KeyState"], "Enabled",
            "{described}"
        );

        // Rotating to new imported material.
        let [token, wrapped] = wrapped_material(&endpoint, &key, dir.path(), "second");
        let new = import(&token, &wrapped, &["--import-type", "NEW_KEY_MATERIAL"]);
        let second = new["KeyMaterialId"].as_str().unwrap().to_owned();
        assert_ne!(second, first);
        cli(
            &endpoint,
            &["kms", "rotate-key-on-demand", "--key-id", &key],
        );
        let listed = cli(
            &endpoint,
            &[
                "kms",
                "list-key-rotations",
                "--key-id",
                &key,
                "--all-key-material",
            ],
        );
        let states: Vec<_> = listed["Rotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["KeyMaterialId"].as_str().unwrap(),
                    r["KeyMaterialState"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                (first.as_str(), "NON_CURRENT"),
                (second.as_str(), "CURRENT")
            ],
            "{listed}"
        );
        let described = cli(&endpoint, &["kms", "describe-key", "--key-id", &key]);
        assert_eq!(described["KeyMetadata"]["CurrentKeyMaterialId"], second);

        // Deleting the old material makes the key unusable.
        let deleted = cli(
            &endpoint,
            &[
                "kms",
                "delete-imported-key-material",
                "--key-id",
                &key,
                "--key-material-id",
                &first,
            ],
        );
        assert_eq!(deleted["KeyMaterialId"], first);
        let described = cli(&endpoint, &["kms", "describe-key", "--key-id", &key]);
        assert_eq!(
            described["KeyMetadata"]["KeyState"], "PendingImport",
            "{described}"
        );
    })
    .await
    .unwrap();
}
