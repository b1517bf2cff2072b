//! Item 8, files and secrets: what a local user other than trentd's can read, and the CLI's
//! TLS. The attacks: read the database or a snapshot out of a data dir that an older trentd
//! (or an umask) left world-readable; start trentd on a domain key (or root secret) file
//! every local user can read; talk to an HTTPS node with `trent admin`, which had no TLS.
//!
//! Subnets 127.160.0.x - 127.169.0.x.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn data_dir_db_and_snapshots_are_private_and_a_wide_old_data_dir_is_tightened() {
    // Snapshot early, so a snapshot file is written while the test looks.
    let mut cluster = TestCluster::start(160, 0, &[]);
    let mut fresh = cluster.new_node(1, "1=127.160.0.1:7701");
    fresh.extra_args = ["--snapshot-after-logs", "5"].map(String::from).to_vec();
    fresh.start();
    cluster.nodes.push(fresh);
    // Node 2 is a single-node cluster too, on a data dir an older version made 0755.
    let mut old = cluster.new_node(2, "2=127.160.0.2:7701");
    std::fs::create_dir_all(&old.data_dir).unwrap();
    std::fs::set_permissions(&old.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    old.start();
    cluster.nodes.push(old);
    for id in [1, 2] {
        let node = cluster.node(id);
        wait_for("a ready node", Duration::from_secs(30), || async {
            node.local().await.filter(|l| l.ready).map(|_| ())
        })
        .await;
    }
    let client = cluster.client(1);
    for _ in 0..10 {
        create_key(&client).await.unwrap();
    }
    let node = cluster.node(1);
    wait_for("a snapshot", Duration::from_secs(30), || async {
        node.local().await?.snapshot_index.map(|_| ())
    })
    .await;
    for node in &cluster.nodes {
        let data = &node.data_dir;
        for dir in [data.clone(), data.join("db"), data.join("snapshots")] {
            assert_eq!(
                mode(&dir),
                0o700,
                "node {}: {} is readable by others",
                node.id,
                dir.display()
            );
        }
    }
    let snapshots: Vec<PathBuf> = std::fs::read_dir(cluster.nodes[0].data_dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!snapshots.is_empty(), "no snapshot file was written");
    for file in snapshots {
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is readable by others",
            file.display()
        );
    }
    let log = std::fs::read_to_string(cluster.dir.path().join("node2.log")).unwrap();
    assert!(
        log.contains("tightened") && log.contains("0755"),
        "tightening the old data dir is not logged:\n{log}"
    );
}

/// `trentd run` with `env` and `args` on a fresh data dir; returns (exit code, stderr).
async fn run_trentd(data: &Path, ip: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
    command
        .args(["run", "--node-id", "1", "--data-dir"])
        .arg(data)
        .args(["--api-listen", &format!("{ip}:7700")])
        .args(["--peer-listen", &format!("{ip}:7701")])
        .args(["--initial-cluster", &format!("1={ip}:7701")])
        .args(["--plain-http", "--peer-plain"])
        .args(args)
        .env_remove("TRENT_DOMAIN_KEY")
        .env_remove("TRENT_DOMAIN_KEY_FILE")
        .env_remove("TRENT_ROOT_SECRET_ACCESS_KEY")
        .env_remove("TRENT_ROOT_SECRET_ACCESS_KEY_FILE")
        .envs(env.iter().copied());
    exit_of(command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_files_that_others_can_read_stop_trentd_before_it_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("domain-key");
    write_mode(&key, DOMAIN_KEY, 0o644);
    let key_arg = key.to_str().unwrap();
    let (code, stderr) =
        run_trentd(&data, "127.161.0.1", &["--domain-key-file", key_arg], &[]).await;
    assert_eq!(code, 2, "{stderr}");
    for says in ["domain_key_file", key_arg, "0644", "chmod 0600"] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert!(
        !stderr.contains(DOMAIN_KEY),
        "the key itself must not be echoed"
    );
    assert!(
        !data.exists(),
        "the data dir was created before the key was refused"
    );

    // The root secret file, by the same rule.
    write_mode(&key, DOMAIN_KEY, 0o600);
    let secret = dir.path().join("root-secret");
    write_mode(&secret, ROOT_SECRET, 0o640);
    let secret_arg = secret.to_str().unwrap();
    let env = [
        ("TRENT_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
        ("TRENT_ROOT_SECRET_ACCESS_KEY_FILE", secret_arg),
    ];
    let (code, stderr) =
        run_trentd(&data, "127.161.0.2", &["--domain-key-file", key_arg], &env).await;
    assert_eq!(code, 2, "{stderr}");
    for says in ["TRENT_ROOT_SECRET_ACCESS_KEY_FILE", secret_arg, "0640"] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert!(
        !stderr.contains(ROOT_SECRET),
        "the secret itself must not be echoed"
    );
    assert!(
        !data.exists(),
        "the data dir was created before the secret was refused"
    );

    // Owner-only files are taken: the node starts and bootstraps the root from the file.
    write_mode(&secret, ROOT_SECRET, 0o400);
    let mut cluster = TestCluster::start(162, 0, &[]);
    let mut node = cluster.new_node(1, "1=127.162.0.1:7701");
    node.extra_args = vec!["--domain-key-file".into(), key_arg.into()];
    node.start();
    cluster.nodes.push(node);
    cluster.leader().await;
    create_key(&cluster.client(1)).await.unwrap();
}

/// The `trent` CLI beside this test's `trentd` (`cargo test --workspace` builds both; a
/// targeted run needs `cargo build -p trent-client --bin trent` first).
fn trent_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_trentd"))
        .parent()
        .unwrap()
        .join("trent");
    assert!(
        bin.exists(),
        "no {}: build it with `cargo build -p trent-client --bin trent`",
        bin.display()
    );
    bin
}

/// `trent <args>` against `endpoint` as the test root; `ca_env` sets AWS_CA_BUNDLE.
pub(crate) fn trent(
    endpoint: &str,
    args: &[&str],
    ca_env: Option<&Path>,
) -> (bool, String, String) {
    let mut command = Command::new(trent_bin());
    command
        .args(["--endpoint", endpoint])
        .args(args)
        .as_test_root()
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("TRENT_ENDPOINT");
    if let Some(ca) = ca_env {
        command.env("AWS_CA_BUNDLE", ca);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A development CA and a certificate for `ip`, from `trentd certs`: (CA, cert, key).
fn certificates(dir: &Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = trentd_certs(dir.to_path_buf(), &format!("n1={ip}"));
    (
        dir.join("ca.pem"),
        dir.join("n1.pem"),
        dir.join("n1-key.pem"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn trent_admin_and_kms_speak_https_trusting_the_given_ca_only() {
    let ip = "127.163.0.1";
    let mut cluster = TestCluster::start(163, 0, &[]);
    let (ca, cert, key) = certificates(&cluster.dir.path().join("pki"), ip);
    let mut node = cluster.new_node(1, &format!("1={ip}:7701"));
    node.extra_args = vec![
        "--tls-cert-file".into(),
        cert.to_str().unwrap().into(),
        "--tls-key-file".into(),
        key.to_str().unwrap().into(),
    ];
    node.tls = true;
    node.start();
    cluster.nodes.push(node);
    let endpoint = format!("https://{ip}:7700");
    let ca_arg = ca.to_str().unwrap();
    let status = wait_for(
        "the cluster status over HTTPS",
        Duration::from_secs(30),
        || {
            let (ok, stdout, _) = trent(
                &endpoint,
                &["--ca-bundle", ca_arg, "admin", "cluster", "status"],
                None,
            );
            let status: Option<Value> = serde_json::from_str(&stdout).ok();
            async move { status.filter(|s| ok && s["Leader"] == 1) }
        },
    )
    .await;
    assert_eq!(status["Leader"], 1, "{status}");

    let (ok, stdout, stderr) = trent(
        &endpoint,
        &["--ca-bundle", ca_arg, "kms", "create-key"],
        None,
    );
    assert!(ok, "{stdout}{stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for args in [
        &["--ca-bundle", ca_arg, "kms", "list-keys"][..],
        &["kms", "list-keys"][..],
    ] {
        let env = (args[0] != "--ca-bundle").then_some(ca.as_path());
        let (ok, stdout, stderr) = trent(&endpoint, args, env);
        assert!(ok, "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains(&key_id), "{args:?}: {stdout}");
    }
    let (ok, stdout, stderr) = trent(&endpoint, &["admin", "cluster", "status"], Some(&ca));
    assert!(ok, "AWS_CA_BUNDLE: {stdout}{stderr}");

    // Without the CA the node's certificate is not trusted, and the error says so.
    for args in [
        &["admin", "cluster", "status"][..],
        &["kms", "list-keys"][..],
    ] {
        let (ok, _, stderr) = trent(&endpoint, args, None);
        assert!(!ok, "{args:?} trusted a certificate of an unknown CA");
        assert!(
            stderr.contains("certificate") && stderr.contains("--ca-bundle"),
            "{args:?}: unclear error: {stderr}"
        );
    }
    // A CA bundle that is not there, or not PEM, is named.
    let missing = cluster.dir.path().join("no-such-ca.pem");
    let junk = cluster.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for bad in [&missing, &junk] {
        let bad_arg = bad.to_str().unwrap();
        for (args, env) in [
            (
                vec!["--ca-bundle", bad_arg, "admin", "cluster", "status"],
                None,
            ),
            (vec!["kms", "list-keys"], Some(bad.as_path())),
        ] {
            let (ok, _, stderr) = trent(&endpoint, &args, env);
            assert!(!ok, "{args:?} {env:?}");
            assert!(stderr.contains(bad_arg), "{args:?} {env:?}: {stderr}");
        }
    }
}
