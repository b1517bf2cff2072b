//! Real `trentd` processes on loopback addresses of their own, real RocksDB data dirs, and
//! helpers that wait on conditions with deadlines (never fixed sleeps).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;
use trent_client::{Client, ClientError};

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
/// The root credentials every test node bootstraps (tests only).
pub const ROOT_ACCESS_KEY_ID: &str = "TKIATESTROOT00000001";
pub const ROOT_SECRET: &str = "tEsT/sEcReT+oF+tHe+rOoT+oF+aCcOuNt+1111";

/// Makes an AWS client process (boto3, the AWS CLI) sign as the test root, with none of the
/// machine's own AWS profile or endpoint settings leaking in.
pub trait AsTestRoot {
    fn as_test_root(&mut self) -> &mut Self;
}

impl AsTestRoot for Command {
    fn as_test_root(&mut self) -> &mut Self {
        self.env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_KMS")
    }
}

/// A node's own view of the cluster, from its anonymous `/readyz` probe.
#[derive(Debug, Clone, Deserialize)]
pub struct Local {
    /// Bootstrapped (root access key in place) and a leader known.
    pub ready: bool,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
}

/// Polls `check` until it yields `Some`, or panics after `timeout` naming `what`.
/// Sends the admin call `op` until it answers something other than 503, for a minute: a
/// membership change whose catch-up outlasts the request timeout answers 503 and is finished
/// by asking again (docs/OPERATIONS.md); any other answer is the verdict.
pub async fn admin_past_503(client: &Client, op: &str, input: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.admin(op, input).await {
            Err(ClientError::Api { status: 503, .. }) if Instant::now() < deadline => {}
            answer => return answer.unwrap_or_else(|e| panic!("{op}: {e}")),
        }
    }
}

pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    // reqwest has no TLS provider of its own: a bare `reqwest::get` in a check needs this.
    trent_client::tls::install_default_provider();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `command` (a `trentd` invocation) until it exits; returns its exit code and stderr.
/// A trentd that does not exit in time is killed, not left running.
pub async fn exit_of(mut command: Command) -> (i32, String) {
    let mut child = KillOnDrop(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = wait_for("trentd to exit", Duration::from_secs(30), || {
        let status = child.0.try_wait().unwrap();
        async move { status }
    })
    .await;
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// One `trentd` process (or its data dir while it is stopped).
/// The domain key every test node holds (tests only).
pub const DOMAIN_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

pub struct TestNode {
    pub id: u64,
    pub ip: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    pub initial_cluster: String,
    pub extra_args: Vec<String>,
    /// Environment variables set after the harness's own (so they override them).
    pub extra_env: Vec<(String, String)>,
    /// Serves TLS (its `extra_args` name the files) instead of `--plain-http`.
    pub tls: bool,
    /// Peer mutual TLS (its `extra_args` name the files) instead of `--peer-plain`.
    pub peer_tls: bool,
    /// More environment for the process (e.g. libfaketime's).
    pub env: Vec<(String, String)>,
    /// Variables of the harness's own environment left out (TRENT_DOMAIN_KEY for a node
    /// whose key is in a PKCS#11 token).
    pub env_remove: Vec<&'static str>,
    child: Option<Child>,
}

impl TestNode {
    pub fn api(&self) -> String {
        format!("http://{}:7700", self.ip)
    }
    pub fn peer_addr(&self) -> String {
        format!("{}:7701", self.ip)
    }
    /// A client signing as the root of [`ACCOUNT`].
    pub fn client(&self) -> Client {
        let credentials = trent_client::credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET);
        Client::with_timeout(&self.api(), REGION, credentials, Duration::from_secs(15)).unwrap()
    }

    /// The node's own status, if it answers.
    pub async fn local(&self) -> Option<Local> {
        let response = reqwest::get(format!("{}/readyz", self.api())).await.ok()?;
        response.json().await.ok()
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    /// The process id while the node runs (to read its /proc entries).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
        command
            .arg("run")
            .args(["--cluster-name", "it", "--node-id", &self.id.to_string()])
            .args(["--data-dir", self.data_dir.to_str().unwrap()])
            .args([
                "--api-listen",
                &format!("{}:7700", self.ip),
                "--peer-listen",
                &self.peer_addr(),
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args((!self.tls).then_some("--plain-http"))
            .args((!self.peer_tls).then_some("--peer-plain"))
            .args(&self.extra_args)
            .env("TRENT_LOG", "info,openraft=info")
            // Tests drive one account as fast as they can; the quota tests turn them back on
            // with a flag (flags win over the environment).
            .env("TRENT_REQUEST_QUOTAS", "false")
            .env("TRENT_DOMAIN_KEY", DOMAIN_KEY)
            .env("TRENT_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
            .env("TRENT_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET)
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log);
        for name in &self.env_remove {
            command.env_remove(name);
        }
        let child = command.spawn().unwrap();
        self.child = Some(child);
    }

    /// The exit status once the process has exited by itself (it is then no longer running).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(status)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Everything the node has logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- log of node {} ----\n{}", self.id, self.log_tail());
        }
        self.kill();
    }
}

/// A cluster of `trentd` processes on `127.<subnet>.0.<id>`. Each test uses its own subnet, so
/// tests run in parallel without sharing a port.
pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    pub subnet: u8,
    pub dir: tempfile::TempDir,
}

impl TestCluster {
    pub fn ip(subnet: u8, id: u64) -> String {
        format!("127.{subnet}.0.{id}")
    }

    /// Starts `n` founding nodes with extra `trentd` arguments.
    pub fn start(subnet: u8, n: u64, extra_args: &[&str]) -> TestCluster {
        Self::start_with(subnet, n, |node| {
            node.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
        })
    }

    /// Starts `n` founding nodes, each set up by `prepare` (its environment, its data dir)
    /// before it starts.
    pub fn start_with(subnet: u8, n: u64, mut prepare: impl FnMut(&mut TestNode)) -> TestCluster {
        let initial: Vec<String> = (1..=n)
            .map(|id| format!("{id}={}:7701", Self::ip(subnet, id)))
            .collect();
        let mut cluster = TestCluster {
            nodes: vec![],
            subnet,
            dir: tempfile::tempdir().unwrap(),
        };
        for id in 1..=n {
            let mut node = cluster.new_node(id, &initial.join(","));
            prepare(&mut node);
            node.start();
            cluster.nodes.push(node);
        }
        cluster
    }

    /// A node that is not started yet.
    pub fn new_node(&self, id: u64, initial_cluster: &str) -> TestNode {
        trent_client::tls::install_default_provider();
        let root = self.dir.path();
        TestNode {
            id,
            ip: Self::ip(self.subnet, id),
            data_dir: root.join(format!("node{id}")),
            log: root.join(format!("node{id}.log")),
            initial_cluster: initial_cluster.into(),
            extra_args: vec![],
            extra_env: vec![],
            tls: false,
            peer_tls: false,
            env: vec![],
            env_remove: vec![],
            child: None,
        }
    }

    /// A node that is not started yet, with a data dir and log of its own called `name`
    /// (a second process under an id the cluster already has, say).
    pub fn new_node_named(&self, id: u64, name: &str, initial_cluster: &str) -> TestNode {
        let mut node = self.new_node(id, initial_cluster);
        node.data_dir = self.dir.path().join(name);
        node.log = self.dir.path().join(format!("{name}.log"));
        node
    }

    pub fn node(&mut self, id: u64) -> &mut TestNode {
        self.nodes.iter_mut().find(|n| n.id == id).unwrap()
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Waits until every running node names the same leader, itself among the running ones.
    pub async fn leader(&self) -> u64 {
        let running: Vec<&TestNode> = self.running().collect();
        let ids: Vec<u64> = running.iter().map(|n| n.id).collect();
        wait_for("an agreed leader", Duration::from_secs(30), || {
            let running = running.clone();
            let ids = ids.clone();
            async move {
                let mut leader = None;
                for node in running {
                    let local = node.local().await.filter(|l| l.ready)?;
                    match (leader, local.leader) {
                        (_, None) => return None,
                        (None, Some(l)) => leader = Some(l),
                        (Some(a), Some(b)) if a != b => return None,
                        _ => {}
                    }
                }
                leader.filter(|l| ids.contains(l))
            }
        })
        .await
    }

    /// Makes `wanted` the leader every running node agrees on: the leader hands over to it
    /// (`TransferLeadership`, as an operator asks). Killing the leader until `wanted` wins
    /// an election, as this did before, could lose every round: openraft draws a node's
    /// election timeout once per start, and the follower with the shorter one always wins.
    pub async fn make_leader(&self, wanted: u64) {
        self.make_leader_among(&[wanted]).await;
    }

    /// [`TestCluster::make_leader`] for any of `wanted`: answers the one that leads.
    pub async fn make_leader_among(&self, wanted: &[u64]) -> u64 {
        for round in 0..10 {
            let leader = self.leader().await;
            if wanted.contains(&leader) {
                return leader;
            }
            let target = wanted[round % wanted.len()];
            let input = json!({"NodeId": target});
            if let Err(e) = self
                .client(leader)
                .admin("TransferLeadership", &input)
                .await
            {
                eprintln!("TransferLeadership from node {leader} to node {target}: {e}");
            }
        }
        panic!("none of nodes {wanted:?} took over the leadership");
    }

    pub fn client(&self, id: u64) -> Client {
        self.nodes.iter().find(|n| n.id == id).unwrap().client()
    }

    /// Waits until every running node has applied the leader's whole log as of now.
    pub async fn wait_all_applied(&self) {
        let leader = self.leader().await;
        let target = self
            .nodes
            .iter()
            .find(|n| n.id == leader)
            .unwrap()
            .local()
            .await
            .and_then(|l| l.last_log_index)
            .unwrap_or(0);
        for node in self.running() {
            wait_for(
                &format!("node {} to apply up to {target}", node.id),
                Duration::from_secs(30),
                || async { (node.local().await?.last_applied? >= target).then_some(()) },
            )
            .await;
        }
    }
}

/// `trentd certs --cluster-name it --out dir --nodes ...` (the test clusters' name): a
/// development CA and one certificate per entry (`[ID:]name[=ip]`); returns `dir`.
pub fn trentd_certs(dir: PathBuf, nodes: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_trentd"))
        .args([
            "certs",
            "--cluster-name",
            "it",
            "--out",
            dir.to_str().unwrap(),
        ])
        .args(["--nodes", nodes])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Creates a key through `client`; returns its id once acknowledged.
pub async fn create_key(client: &Client) -> Result<String, ClientError> {
    let out = client.kms("CreateKey", &json!({})).await?;
    Ok(out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned())
}

/// DescribeKey through `client`.
pub async fn describe(client: &Client, key_id: &str) -> Result<Value, ClientError> {
    client.kms("DescribeKey", &json!({ "KeyId": key_id })).await
}

/// Every key id of the account, through `client` (all pages).
pub async fn list_keys(client: &Client) -> Result<Vec<String>, ClientError> {
    let mut ids = vec![];
    let mut marker: Option<String> = None;
    loop {
        let mut input = json!({"Limit": 1000});
        if let Some(m) = &marker {
            input["Marker"] = json!(m);
        }
        let page = client.kms("ListKeys", &input).await?;
        for key in page["Keys"].as_array().unwrap() {
            ids.push(key["KeyId"].as_str().unwrap().to_owned());
        }
        match page["NextMarker"].as_str() {
            Some(m) if page["Truncated"] == json!(true) => marker = Some(m.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// The cluster's id (16 bytes, as peer messages carry it), once its leader recorded it.
pub async fn cluster_id(client: &Client) -> Vec<u8> {
    wait_for("the cluster id", Duration::from_secs(30), || async {
        let s = status(client).await.ok()?;
        let id: uuid::Uuid = s["ClusterId"].as_str()?.parse().ok()?;
        Some(id.as_bytes().to_vec())
    })
    .await
}

/// The value of the unlabelled metric `name` on `node`'s `/metrics`, once it answers.
pub async fn metric(node: &TestNode, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{}/metrics", node.api()))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The cluster status, through the admin target.
pub async fn status(client: &Client) -> Result<Value, ClientError> {
    client.admin("GetClusterStatus", &json!({})).await
}

/// Runs `command` to its end off the async runtime; answers whether it succeeded and its
/// stdout and stderr, one after the other (what a failing test prints).
pub async fn output_of(mut command: std::process::Command) -> (bool, String) {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs the boto3 case script `script` (beside these tests, e.g. `rotation.py`) with the test
/// venv's Python against `endpoints` (the leader first, then a follower) as the test root;
/// prints its output and asserts it ends with `all <label> cases passed`. Answers the output.
pub async fn python_cases(script: &str, endpoints: &[String], label: &str) -> String {
    python_cases_with(script, endpoints, label, &[]).await
}

/// [`python_cases`] with `env` set for the script.
pub async fn python_cases_with(
    script: &str,
    endpoints: &[String],
    label: &str,
    env: &[(&str, &str)],
) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it")
        .join(script);
    let (ok, text) = output_of({
        let mut command = Command::new(crate::interop::venv_python());
        command
            .arg(path)
            .env("TRENT_ENDPOINTS", endpoints.join(","))
            .env("TRENT_REGION", REGION)
            .envs(env.iter().copied())
            .as_test_root();
        command
    })
    .await;
    println!("{text}");
    assert!(
        ok && text.contains(&format!("all {label} cases passed")),
        "{script} failed: its output is above (the FAILED lines at its end)"
    );
    text
}
