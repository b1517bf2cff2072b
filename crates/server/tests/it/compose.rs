//! The container image and the compose deployment, end to end. deploy/local-image builds the
//! `FROM scratch` image from this test build's `trentd` and `trent` (target/debug);
//! deploy/compose.yaml brings up three nodes under a project name of their own; boto3
//! (deploy/check-cluster) creates keys and encrypts and decrypts through the published ports;
//! then one container is killed (SIGKILL) and another restarted, and every acknowledged key
//! is still there and decrypts, through every node. `compose down -v` always runs (a Drop
//! guard). Without a Docker engine the test fails, saying so. The local image with a PKCS#11
//! module (`--pkcs11-module`, SoftHSM2's) runs the key ceremony and `trentd --hsm pkcs11` in
//! a read-only container, on a token mounted into it.

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

/// A name no other test run uses (compose projects, images, containers).
fn unique() -> String {
    format!(
        "trentit{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

impl Project {
    fn new() -> Project {
        let unique = unique();
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
    build_image_with(tag, &[]);
}

fn build_image_with(tag: &str, extra: &[&str]) {
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
        .args(extra)
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

/// A container and the image it runs, removed when dropped.
struct Container {
    name: String,
    image: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(out) = Command::new("docker").args(["logs", &self.name]).output() {
                eprintln!("{}", text(&out));
            }
        }
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}

/// Hands `path` (and everything in it) to the image's user, uid 10001.
fn chown_tree(path: &Path) {
    std::os::unix::fs::chown(path, Some(10001), Some(10001)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path());
        }
    }
}

/// The PKCS#11 option of the local image: SoftHSM2's module, put in by `--pkcs11-module`
/// with the libraries it links, is loaded in a read-only container. The ceremony
/// (`trentd hsm init` with two custodians' component files) gives the token mounted into it
/// the key that this build's `trentd` gives a token on the host from the same components,
/// and `trentd run` with TRENT_HSM=pkcs11, the module, the token label and the PIN file
/// (as the Kubernetes overlay sets them) opens that token and turns healthy.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_image_runs_trentd_on_a_pkcs11_token() {
    use crate::pkcs11::{check_value, Token, COMPONENTS, MODULE, PIN};
    require_docker();
    // Declared first, dropped last: the container goes before its files.
    let dir = tempfile::tempdir().unwrap();
    let container = Container {
        name: unique(),
        image: format!("trent:{}", unique()),
    };
    build_image_with(&container.image, &["--pkcs11-module", MODULE]);

    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    write_secret(&secrets, "pin", PIN);
    write_secret(&secrets, "root-secret", ROOT_SECRET);
    for (i, component) in COMPONENTS.iter().enumerate() {
        write_secret(&secrets, &format!("component-{i}"), component);
    }
    // The reference: a token on the host, given the key by this build's trentd.
    let host = Token::new(dir.path(), "host");
    let host_pin = crate::pkcs11::secret_file(dir.path(), "host-pin", PIN);
    let components: Vec<PathBuf> = (0..COMPONENTS.len())
        .map(|i| {
            let path = dir.path().join(format!("host-component-{i}"));
            std::fs::write(&path, COMPONENTS[i]).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            path
        })
        .collect();
    let (ok, out) = host.init(&host_pin, &components).await;
    assert!(ok, "trentd hsm init on the host: {out}");
    let want = check_value(&out);

    // The container's token, its SoftHSM2 configuration naming the token dir as mounted.
    let token = Token::new(dir.path(), "trent-1");
    chown_tree(&token.dir);
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("softhsm2.conf"),
        "directories.tokendir = /var/lib/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
    )
    .unwrap();
    std::fs::set_permissions(
        conf.join("softhsm2.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chown_tree(&data);
    let docker = |args: &[&str]| {
        let mut command = Command::new("docker");
        command.args(args);
        command
    };
    let mounts = |command: &mut Command| {
        command
            .arg("--read-only")
            .arg("-v")
            .arg(format!("{}:/var/lib/softhsm/tokens", token.dir.display()))
            .arg("-v")
            .arg(format!("{}:/etc/trent/pkcs11-config:ro", conf.display()))
            .arg("-v")
            .arg(format!("{}:/etc/trent/pkcs11:ro", secrets.display()))
            .arg("-v")
            .arg(format!("{}:/var/lib/trent", data.display()))
            .args(["-e", "SOFTHSM2_CONF=/etc/trent/pkcs11-config/softhsm2.conf"])
            .args(["-e", "TRENT_HSM=pkcs11"])
            .args(["-e", &format!("TRENT_PKCS11_MODULE={MODULE}")])
            .args(["-e", "TRENT_PKCS11_TOKEN_LABEL=trent-1"])
            .args(["-e", "TRENT_PKCS11_PIN_FILE=/etc/trent/pkcs11/pin"]);
    };

    let mut init = docker(&["run", "--rm"]);
    mounts(&mut init);
    init.arg(&container.image).args([
        "hsm",
        "init",
        "--component-file",
        "/etc/trent/pkcs11/component-0",
        "--component-file",
        "/etc/trent/pkcs11/component-1",
    ]);
    let (ok, out) = output_of(init).await;
    assert!(ok, "trentd hsm init in the container: {out}");
    assert_eq!(
        check_value(&out),
        want,
        "the container's key is not the host's: {out}"
    );

    let mut run = docker(&["run", "-d", "--name", &container.name]);
    mounts(&mut run);
    run.args(["-e", "TRENT_CLUSTER_NAME=pkcs11-image"])
        .args(["-e", "TRENT_NODE_ID=1"])
        .args(["-e", "TRENT_INITIAL_CLUSTER=1=127.0.0.1:7701"])
        .args(["-e", "TRENT_PEER_ADVERTISE=127.0.0.1:7701"])
        .args(["-e", "TRENT_PEER_LISTEN=127.0.0.1:7701"])
        .args(["-e", "TRENT_PEER_PLAIN=true"])
        .args(["-e", "TRENT_PLAIN_HTTP=true"])
        .args([
            "-e",
            &format!("TRENT_ROOT_ACCESS_KEY_ID={ROOT_ACCESS_KEY_ID}"),
        ])
        .args([
            "-e",
            "TRENT_ROOT_SECRET_ACCESS_KEY_FILE=/etc/trent/pkcs11/root-secret",
        ])
        .arg(&container.image);
    let (ok, out) = output_of(run).await;
    assert!(ok, "docker run: {out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (ok, out) =
            output_of(docker(&["exec", &container.name, "trentd", "healthcheck"])).await;
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trentd on the token never turned healthy: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, logs) = output_of(docker(&["logs", &container.name])).await;
    let opened = format!("key_check_value={want}");
    assert!(
        logs.lines()
            .any(|l| l.contains("HSM: PKCS#11 token opened") && l.contains(&opened)),
        "no 'HSM: PKCS#11 token opened' with {opened} in: {logs}"
    );
}
