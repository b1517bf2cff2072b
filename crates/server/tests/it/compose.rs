//! The container image and the compose deployment, end to end. deploy/local-image builds the
//! `FROM scratch` image from this test build's `trentd` and `trent` (target/debug);
//! deploy/compose.yaml brings up three nodes under a project name of their own; boto3
//! (deploy/check-cluster) creates keys and encrypts and decrypts through the published ports;
//! then one container is killed (SIGKILL) and another restarted, and every acknowledged key
//! is still there and decrypts, through every node. `compose down -v` always runs (a Drop
//! guard). Without a Docker engine the test fails, saying so.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::*;
use crate::interop::venv_python;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails the test, clearly, when there is no Docker engine to talk to.
fn require_docker() {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Docker daemon does not answer (`docker info`: {}); this test needs the Docker engine running (service docker start)",
            text(&out).trim()
        ),
        Err(e) => panic!(
            "no docker command ({e}); this test needs the Docker engine (apt-get install docker.io)"
        ),
    }
}

/// Three free TCP ports on 127.0.0.1.
fn free_ports() -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// One compose project (and its image): torn down, volumes and all, when dropped.
struct Project {
    name: String,
    image: String,
    ports: Vec<u16>,
    secrets: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let unique = format!(
            "trentit{}x{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let secrets = tempfile::tempdir().unwrap();
        write_secret(secrets.path(), "domain-key", DOMAIN_KEY);
        write_secret(secrets.path(), "root-secret", ROOT_SECRET);
        Project {
            image: format!("trent:{unique}"),
            name: unique,
            ports: free_ports(),
            secrets,
        }
    }

    fn endpoint(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[node - 1])
    }

    /// `deploy/compose -f deploy/compose.yaml -p <name> <args>`.
    fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new(repo().join("deploy/compose"));
        command
            .arg("-f")
            .arg(repo().join("deploy/compose.yaml"))
            .args(["-p", &self.name])
            .args(args)
            .env("TRENT_IMAGE", &self.image)
            .env("TRENT_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("TRENT_SECRETS_DIR", self.secrets.path())
            .env("TRENT_BIND", "127.0.0.1");
        for (i, port) in self.ports.iter().enumerate() {
            command.env(format!("TRENT_PORT_{}", i + 1), port.to_string());
        }
        command.output().expect("deploy/compose")
    }

    fn compose_ok(&self, args: &[&str]) {
        let out = self.compose(args);
        assert!(out.status.success(), "compose {args:?}:\n{}", text(&out));
    }

    /// Waits until node `node` answers ready on its published port.
    async fn ready(&self, node: usize) {
        let url = format!("{}/readyz", self.endpoint(node));
        wait_for(
            &format!("trent-{node} to be ready"),
            Duration::from_secs(120),
            || async {
                let local: Local = reqwest::get(&url).await.ok()?.json().await.ok()?;
                local.ready.then_some(())
            },
        )
        .await;
    }

    /// Waits until Docker calls container `trent-<node>` healthy (`trentd healthcheck`).
    async fn healthy(&self, node: usize) {
        let id = text(&self.compose(&["ps", "-q", &format!("trent-{node}")]));
        let id = id.trim().to_owned();
        wait_for("a healthy container", Duration::from_secs(120), || {
            let out = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Health.Status}}", &id])
                .output()
                .unwrap();
            let healthy = text(&out).trim() == "healthy";
            async move { healthy.then_some(()) }
        })
        .await;
    }

    /// deploy/check-cluster `action` through node `node`, recording to `record`.
    fn check(&self, action: &str, node: usize, record: &Path) {
        let out = Command::new(venv_python())
            .arg(repo().join("deploy/check-cluster"))
            .args([action, "--endpoint", &self.endpoint(node), "--keys", "4"])
            .arg("--record")
            .arg(record)
            .as_test_root()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "check-cluster {action} via trent-{node}:\n{}",
            text(&out)
        );
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", text(&self.compose(&["logs", "--tail", "25"])));
        }
        let down = self.compose(&["down", "-v", "--remove-orphans"]);
        if !down.status.success() {
            eprintln!("compose down failed:\n{}", text(&down));
        }
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}

/// A secret file readable by the image's user (uid 10001) only: compose mounts it as is.
fn write_secret(dir: &Path, name: &str, value: &str) {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    std::os::unix::fs::chown(&path, Some(10001), Some(10001)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
}

/// Builds the local image from the binaries of this test build.
fn build_image(tag: &str) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_trentd")).parent().unwrap();
    assert!(
        bin_dir.join("trent").exists(),
        "no {}/trent: `cargo test --workspace` builds it (for trent-client's CLI tests)",
        bin_dir.display()
    );
    let out = Command::new(repo().join("deploy/local-image"))
        .arg("--bin-dir")
        .arg(bin_dir)
        .args(["--tag", tag])
        .output()
        .unwrap();
    assert!(out.status.success(), "deploy/local-image:\n{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_cluster_serves_boto3_and_loses_nothing_when_a_container_dies() {
    require_docker();
    let python = venv_python();
    assert!(python.exists());
    let project = Project::new();
    build_image(&project.image);
    project.compose_ok(&["up", "-d"]);
    for node in 1..=3 {
        project.ready(node).await;
    }
    // The scratch image's health check is `trentd healthcheck`.
    project.healthy(1).await;

    let record = project.secrets.path().join("acknowledged.jsonl");
    project.check("write", 1, &record);

    // kill -9 one container: the other two keep every acknowledged key, and take writes.
    project.compose_ok(&["kill", "-s", "SIGKILL", "trent-1"]);
    project.check("verify", 2, &record);
    project.check("write", 3, &record);

    // It comes back from its volume and catches up; a restart loses nothing either.
    project.compose_ok(&["start", "trent-1"]);
    project.ready(1).await;
    project.compose_ok(&["restart", "trent-2"]);
    project.ready(2).await;
    for node in 1..=3 {
        project.check("verify", node, &record);
    }
}
