//! The Python interop suite (`crates/api/tests/interop`: boto3, the AWS CLI, the AWS
//! Encryption SDK) against a 3-node cluster of real `trentd` processes. The venv comes from
//! `scripts/interop-venv`, which the test command (`scripts/test`) runs first.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;

pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TRENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/trent-venv")
        });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no interop venv at {}: run scripts/interop-venv (scripts/test does)",
        venv.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_the_aws_cli_and_the_encryption_sdk_work_unchanged() {
    let cluster = TestCluster::start(65, 3, &[]);
    cluster.leader().await;
    let endpoints: Vec<String> = cluster.nodes.iter().map(|n| n.api()).collect();
    interop_suite(&endpoints).await;
}

/// Runs the whole interop suite against `endpoints` as the test root and asserts it passed.
pub async fn interop_suite(endpoints: &[String]) {
    let python = venv_python();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (ok, text) = output_of({
        let mut command = Command::new(python);
        command
            .args([
                "-m",
                "pytest",
                "crates/api/tests/interop",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .current_dir(root)
            .env("TRENT_ENDPOINTS", endpoints.join(","))
            .as_test_root();
        command
    })
    .await;
    assert!(ok, "interop suite failed:\n{text}");
    assert!(text.contains("passed"), "{text}");
}
