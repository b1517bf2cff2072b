//! StatefulSet mode, simulated without Kubernetes: `trentd` processes with exactly the
//! environment the StatefulSet in deploy/kubernetes gives its pods (`HOSTNAME=trent-<n>`,
//! the same settings for every pod), whose peer names resolve through a hosts file that is
//! bind-mounted over /etc/hosts in a private mount namespace per process, as the headless
//! Service's DNS would resolve them. Each pod has its own loopback address (127.81.0.0/24,
//! 127.82.0.0/24).
//!
//! Three pods found the cluster; scaling to five adds two pods that join by themselves
//! (learners, then voters); scaling back to three runs both extra pods' preStop hooks
//! (`trentd leave`) together, as a Parallel StatefulSet does, before stopping them. A key
//! created first is readable at every step. The same over TLS, as deploy/kubernetes runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use trent_client::Client;

use crate::harness::*;

const SERVICE: &str = "trent-peer";

/// How the simulated StatefulSet is set up.
#[derive(Clone)]
struct Sim {
    subnet: u8,
    /// TRENT_STATEFULSET_REPLICAS.
    founding: u64,
    namespace: Option<&'static str>,
    /// A directory with ca.crt, tls.crt and tls.key (the `trent-tls` Secret): the API serves
    /// TLS and joining and leaving verify it with ca.crt.
    tls: Option<PathBuf>,
}

impl Sim {
    fn host(&self, ordinal: u64) -> String {
        match self.namespace {
            Some(ns) => format!("trent-{ordinal}.{SERVICE}.{ns}.svc"),
            None => format!("trent-{ordinal}.{SERVICE}"),
        }
    }
}

/// One pod of the simulated StatefulSet `trent`.
struct Pod {
    sim: Sim,
    ordinal: u64,
    data: PathBuf,
    log: PathBuf,
    hosts: PathBuf,
    child: Option<Child>,
}

impl Pod {
    fn new(sim: &Sim, dir: &Path, ordinal: u64, hosts: &Path) -> Pod {
        Pod {
            sim: sim.clone(),
            ordinal,
            data: dir.join(format!("trent-{ordinal}")),
            log: dir.join(format!("trent-{ordinal}.log")),
            hosts: hosts.to_owned(),
            child: None,
        }
    }

    fn ip(&self) -> String {
        format!("127.{}.0.{}", self.sim.subnet, self.ordinal + 1)
    }

    fn client(&self) -> Client {
        let credentials = trent_client::credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET);
        let api = format!("http://{}:7700", self.ip());
        Client::with_timeout(&api, REGION, credentials, Duration::from_secs(15)).unwrap()
    }

    async fn local(&self) -> Option<Local> {
        let url = format!("http://{}:7700/readyz", self.ip());
        reqwest::get(url).await.ok()?.json().await.ok()
    }

    /// `program`, in a mount namespace of its own where /etc/hosts is the pods' hosts file.
    fn resolving_pods(&self, program: &Path) -> Command {
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "sh",
                "-c",
                r#"mount --bind "$0" /etc/hosts && exec "$@""#,
            ])
            .arg(&self.hosts)
            .arg(program);
        command
    }

    /// `trentd <subcommand>` as the pod runs it: the pod's environment and name resolution.
    fn trentd(&self, subcommand: &str) -> Command {
        let mut command = self.resolving_pods(Path::new(env!("CARGO_BIN_EXE_trentd")));
        command
            .arg(subcommand)
            .env("HOSTNAME", format!("trent-{}", self.ordinal))
            .env("TRENT_STATEFULSET", "true")
            .env("TRENT_STATEFULSET_SERVICE", SERVICE)
            .env("TRENT_STATEFULSET_REPLICAS", self.sim.founding.to_string())
            .env("TRENT_CLUSTER_NAME", "sts")
            .env("TRENT_DATA_DIR", &self.data)
            .env("TRENT_API_LISTEN", format!("{}:7700", self.ip()))
            .env("TRENT_PEER_LISTEN", format!("{}:7701", self.ip()))
            .env("TRENT_PEER_PLAIN", "true")
            .env("TRENT_DOMAIN_KEY", DOMAIN_KEY)
            .env("TRENT_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("TRENT_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("TRENT_LOG", "info,openraft=info");
        if let Some(ns) = self.sim.namespace {
            command.env("TRENT_STATEFULSET_NAMESPACE", ns);
        }
        match &self.sim.tls {
            None => command.env("TRENT_PLAIN_HTTP", "true"),
            Some(dir) => command
                .env("TRENT_TLS_CERT_FILE", dir.join("tls.crt"))
                .env("TRENT_TLS_KEY_FILE", dir.join("tls.key"))
                .env("TRENT_JOIN_CA_FILE", dir.join("ca.crt")),
        };
        command
    }

    fn start(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = self
            .trentd("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux)");
        self.child = Some(child);
    }

    /// SIGTERM, as Kubernetes stops a container after its preStop hook; waits for the exit.
    async fn terminate(&mut self) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_for("the pod to stop", Duration::from_secs(30), || {
            let done = child.try_wait().unwrap();
            async move { done }
        })
        .await;
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            eprintln!("---- log of trent-{} ----\n{tail}", self.ordinal);
        }
    }
}

/// The pods' names as the headless Service would resolve them.
fn hosts_file(sim: &Sim, dir: &Path, pods: u64) -> PathBuf {
    let mut text = String::from("127.0.0.1 localhost\n");
    for i in 0..pods {
        let ip = format!("127.{}.0.{}", sim.subnet, i + 1);
        text.push_str(&format!("{ip} {}\n", sim.host(i)));
    }
    let path = dir.join("hosts");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until `pods` are ready and the cluster's voters are exactly `ids`, with no learner
/// left; returns the members as GetClusterStatus lists them.
async fn wait_voters(pods: &[Pod], ids: &[u64]) -> Vec<Value> {
    let want: BTreeSet<u64> = ids.iter().copied().collect();
    wait_for(
        &format!("voters {want:?}"),
        Duration::from_secs(90),
        || async {
            for pod in pods {
                pod.local().await.filter(|l| l.ready)?;
            }
            let status = status(&pods[0].client()).await.ok()?;
            let members = status["Members"].as_array()?.clone();
            let voters: BTreeSet<u64> = members
                .iter()
                .filter(|m| m["Voter"] == json!(true))
                .filter_map(|m| m["NodeId"].as_u64())
                .collect();
            (voters == want && members.len() == want.len()).then_some(members)
        },
    )
    .await
}

async fn encrypt(client: &Client, key: &str) -> String {
    let out = client
        .kms(
            "Encrypt",
            &json!({"KeyId": key, "Plaintext": "c3RzIHNlY3JldA=="}),
        )
        .await
        .unwrap();
    out["CiphertextBlob"].as_str().unwrap().to_owned()
}

/// The key is there and its ciphertext decrypts, through `client`.
async fn still_readable(client: &Client, key: &str, blob: &str) {
    let described = describe(client, key).await.unwrap();
    assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
    let out = client
        .kms("Decrypt", &json!({"CiphertextBlob": blob}))
        .await
        .unwrap();
    assert_eq!(out["Plaintext"], "c3RzIHNlY3JldA==");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statefulset_forms_grows_and_shrinks_by_itself_and_keeps_serving() {
    let sim = Sim {
        subnet: 81,
        founding: 3,
        namespace: None,
        tls: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let hosts = hosts_file(&sim, dir.path(), 5);
    let mut pods: Vec<Pod> = (0..5)
        .map(|i| Pod::new(&sim, dir.path(), i, &hosts))
        .collect();

    // Three founding pods, started together (podManagementPolicy: Parallel).
    for pod in &mut pods[..3] {
        pod.start();
    }
    let members = wait_voters(&pods[..3], &[1, 2, 3]).await;
    let addresses: Vec<&str> = members
        .iter()
        .filter_map(|m| m["Address"].as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "trent-0.trent-peer:7701",
            "trent-1.trent-peer:7701",
            "trent-2.trent-peer:7701"
        ]
    );
    let key = create_key(&pods[0].client()).await.unwrap();
    let blob = encrypt(&pods[1].client(), &key).await;

    // Scale to 5: the new pods ask a founding member to add them.
    for pod in &mut pods[3..] {
        pod.start();
    }
    wait_voters(&pods, &[1, 2, 3, 4, 5]).await;
    still_readable(&pods[4].client(), &key, &blob).await;
    create_key(&pods[3].client()).await.unwrap();

    // Scale back to 3. With podManagementPolicy: Parallel both pods go at once: both
    // preStop hooks run together, then both pods get SIGTERM.
    let (four, three) = tokio::join!(
        exit_of(pods[4].trentd("leave")),
        exit_of(pods[3].trentd("leave"))
    );
    for (ordinal, (code, stderr)) in [(4, four), (3, three)] {
        assert_eq!(code, 0, "trentd leave of trent-{ordinal}: {stderr}");
        assert!(stderr.contains("left the cluster"), "{stderr}");
        pods[ordinal].terminate().await;
    }
    wait_voters(&pods[..3], &[1, 2, 3]).await;
    still_readable(&pods[2].client(), &key, &blob).await;

    // A founding member's hook leaves the membership alone.
    let (code, stderr) = exit_of(pods[0].trentd("leave")).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("founding member"), "{stderr}");
    wait_voters(&pods[..3], &[1, 2, 3]).await;
    still_readable(&pods[2].client(), &key, &blob).await;
    create_key(&pods[1].client()).await.unwrap();
}

impl Pod {
    fn https(&self) -> String {
        format!("https://{}:7700", self.sim.host(self.ordinal))
    }

    fn ca(&self) -> PathBuf {
        self.sim.tls.as_ref().unwrap().join("ca.crt")
    }

    /// Waits until `trentd healthcheck` (over TLS, verifying the pod's certificate) passes.
    async fn healthy(&self) {
        wait_for(
            &format!("trent-{} to be ready", self.ordinal),
            Duration::from_secs(90),
            || {
                let ok = self
                    .trentd("healthcheck")
                    .args(["--url", &format!("{}/readyz", self.https())])
                    .arg("--ca-file")
                    .arg(self.ca())
                    .output()
                    .unwrap()
                    .status
                    .success();
                async move { ok.then_some(()) }
            },
        )
        .await;
    }

    /// deploy/check-cluster (boto3) through this pod, over TLS.
    fn check_cluster(&self, action: &str, record: &Path) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/check-cluster");
        let out = self
            .resolving_pods(&crate::interop::venv_python())
            .arg(script)
            .args([action, "--keys", "2", "--endpoint", &self.https()])
            .arg("--record")
            .arg(record)
            .env("AWS_CA_BUNDLE", self.ca())
            .as_test_root()
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "check-cluster {action}: {text}");
    }
}

/// A CA and one certificate for every pod (`*.trent-peer.<namespace>.svc`), for server and
/// client authentication: the `trent-tls` Secret, made as docs/OPERATIONS.md makes it.
fn pod_certificates(dir: &Path, namespace: &str) -> PathBuf {
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).unwrap();
    let ext = format!(
        "subjectAltName=DNS:*.{SERVICE}.{namespace}.svc\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n"
    );
    std::fs::write(tls.join("ext.cnf"), ext).unwrap();
    let curve = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    for args in [
        format!("req -x509 {curve} -days 1 -subj /CN=trent-ca -keyout ca.key -out ca.crt"),
        format!("req {curve} -subj /CN=trent -keyout tls.key -out tls.csr"),
        "x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out tls.crt".into(),
    ] {
        let out = Command::new("openssl")
            .args(args.split(' '))
            .current_dir(&tls)
            .output()
            .expect("openssl (scripts/test installs it)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "openssl {args}: {stderr}");
    }
    tls
}

/// The Kubernetes set-up: the API serves TLS with one certificate for all pods, peer names
/// carry the namespace, and joining and leaving verify the founding members' certificates
/// (`join_ca_file`). One founding member, so a second voter that failed to leave would
/// take the quorum with it.
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_a_pod_joins_and_leaves_verifying_the_members_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim {
        subnet: 82,
        founding: 1,
        namespace: Some("sim"),
        tls: Some(pod_certificates(dir.path(), "sim")),
    };
    let hosts = hosts_file(&sim, dir.path(), 2);
    let mut pods: Vec<Pod> = (0..2)
        .map(|i| Pod::new(&sim, dir.path(), i, &hosts))
        .collect();
    for pod in &mut pods {
        pod.start();
    }
    // trent-1 is ready only once a member: it joined over TLS.
    pods[0].healthy().await;
    pods[1].healthy().await;
    let record = dir.path().join("acknowledged.jsonl");
    pods[1].check_cluster("write", &record);

    let (code, stderr) = exit_of(pods[1].trentd("leave")).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("left the cluster"), "{stderr}");
    pods[1].terminate().await;
    // Had trent-1 stayed a voter, trent-0 alone (1 of 2) could commit nothing.
    pods[0].check_cluster("write", &record);
    pods[0].check_cluster("verify", &record);
}
