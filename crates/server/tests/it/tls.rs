//! The client API over TLS: trentd serves the configured certificate, refuses plain HTTP on
//! that port, and refuses to start with a certificate it cannot load. `openssl` makes the
//! certificate and `curl` is the client (scripts/test installs both).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

/// A self-signed certificate for `ip`, written to `dir`; returns (cert, key) paths.
pub fn self_signed(dir: &std::path::Path, ip: &str) -> (String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=trent-test"])
        .args(["-addext", &format!("subjectAltName=IP:{ip}")])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .status()
        .expect("openssl (scripts/test installs it)");
    assert!(status.success());
    (
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

/// `curl` of `url` trusting `ca`; returns (exit code, body).
fn curl(url: &str, ca: &str) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "--cacert", ca, url])
        .output()
        .expect("curl (scripts/test installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_is_served_over_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.66.0.1";
    let (cert, key) = self_signed(dir.path(), ip);
    let mut cluster = TestCluster::start(66, 0, &[]);
    let mut node = cluster.new_node(1, &format!("1={ip}:7701"));
    node.extra_args = vec![
        "--tls-cert-file".into(),
        cert.clone(),
        "--tls-key-file".into(),
        key,
    ];
    node.tls = true;
    node.start();
    cluster.nodes.push(node);
    let url = format!("https://{ip}:7700/healthz");
    let body = wait_for("trentd over TLS", Duration::from_secs(30), || {
        let (code, body) = curl(&url, &cert);
        async move { (code == 0).then_some(body) }
    })
    .await;
    assert_eq!(body, "ok");
    // The same port does not speak plain HTTP.
    let (code, _) = curl(&format!("http://{ip}:7700/healthz"), &cert);
    assert_ne!(code, 0, "plain HTTP must not be served on the TLS port");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_cannot_be_loaded_stops_trentd_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    let cert = dir.path().join("cert.pem");
    let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
    command
        .args(["run", "--node-id", "1", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--api-listen",
            "127.66.0.2:7700",
            "--peer-listen",
            "127.66.0.2:7701",
        ])
        .args(["--initial-cluster", "1=127.66.0.2:7701", "--tls-cert-file"])
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&cert)
        .arg("--peer-plain")
        .env("TRENT_DOMAIN_KEY", DOMAIN_KEY);
    let (code, stderr) = exit_of(command).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("tls_cert_file"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing may be created");
}
