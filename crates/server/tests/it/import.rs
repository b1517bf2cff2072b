//! Imported key material (BYOK) through real `trentd` nodes: boto3 (`import.py`) imports
//! symmetric, HMAC, ECC and RSA material wrapped outside trent by the `openssl` command line
//! and by pyca/cryptography with every wrapping algorithm, checks every result outside trent
//! (a ciphertext opened locally with the material, MACs against Python's hmac, signatures
//! and public keys against the local key pair), and every refusal; then the `trent kms` CLI
//! walks an import as docs/OPERATIONS.md does.
//!
//! Subnet 192.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;
use crate::interop::venv_python;

#[tokio::test(flavor = "multi_thread")]
async fn material_wrapped_outside_trent_imports_with_every_wrapping_algorithm() {
    let python = venv_python();
    let cluster = TestCluster::start(192, 3, &[]);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let leader_api = cluster.nodes.iter().find(|n| n.id == leader).unwrap().api();
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().api();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/import.py");
    let (ok, text) = output_of({
        let mut command = Command::new(python);
        command
            .arg(script)
            .env("TRENT_ENDPOINTS", format!("{leader_api},{follower}"))
            .env("TRENT_REGION", REGION)
            .as_test_root();
        command
    })
    .await;
    println!("{text}");
    assert!(
        ok && text.contains("all import cases passed"),
        "import.py failed: its output is above (the FAILED lines at its end)"
    );
}
