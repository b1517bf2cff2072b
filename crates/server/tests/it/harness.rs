//! Real `trentd` processes on loopback addresses of their own, real RocksDB data dirs, and
//! helpers that wait on conditions with deadlines (never fixed sleeps).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;
use trent_client::{AdminClient, ClientError, Consistency};
use trent_model::*;
use trent_state::Command as StateCommand;
use uuid::Uuid;

pub const ACCOUNT: &str = "111122223333";

pub fn account() -> AccountId {
    ACCOUNT.parse().unwrap()
}

/// Polls `check` until it yields `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
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

/// One `trentd` process (or its data dir while it is stopped).
pub struct TestNode {
    pub id: u64,
    pub ip: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    pub initial_cluster: String,
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl TestNode {
    pub fn api(&self) -> String {
        format!("http://{}:7700", self.ip)
    }
    pub fn peer_addr(&self) -> String {
        format!("{}:7701", self.ip)
    }
    pub fn client(&self) -> AdminClient {
        AdminClient::with_timeout(self.api(), Duration::from_secs(15))
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_trentd"))
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
            .args(&self.extra_args)
            .env("TRENT_LOG", "info,openraft=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
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
        let dir = tempfile::tempdir().unwrap();
        let initial: Vec<String> = (1..=n)
            .map(|id| format!("{id}={}:7701", Self::ip(subnet, id)))
            .collect();
        let mut cluster = TestCluster {
            nodes: vec![],
            subnet,
            dir,
        };
        for id in 1..=n {
            let mut node = cluster.new_node(id, &initial.join(","));
            node.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
            node.start();
            cluster.nodes.push(node);
        }
        cluster
    }

    /// A node that is not started yet.
    pub fn new_node(&self, id: u64, initial_cluster: &str) -> TestNode {
        let root = self.dir.path();
        TestNode {
            id,
            ip: Self::ip(self.subnet, id),
            data_dir: root.join(format!("node{id}")),
            log: root.join(format!("node{id}.log")),
            initial_cluster: initial_cluster.into(),
            extra_args: vec![],
            child: None,
        }
    }

    pub fn node(&mut self, id: u64) -> &mut TestNode {
        self.nodes.iter_mut().find(|n| n.id == id).unwrap()
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Waits until every running node names the same leader, itself among the running ones.
    pub async fn leader(&self) -> u64 {
        let running: Vec<u64> = self.running().map(|n| n.id).collect();
        let clients: Vec<AdminClient> = self.running().map(|n| n.client()).collect();
        wait_for("an agreed leader", Duration::from_secs(30), || {
            let clients = clients.clone();
            let running = running.clone();
            async move {
                let mut leader = None;
                for client in &clients {
                    let status = client.status().await.ok()?;
                    match (leader, status.leader) {
                        (_, None) => return None,
                        (None, Some(l)) => leader = Some(l),
                        (Some(a), Some(b)) if a != b => return None,
                        _ => {}
                    }
                }
                leader.filter(|l| running.contains(l))
            }
        })
        .await
    }

    pub fn client(&self, id: u64) -> AdminClient {
        self.nodes.iter().find(|n| n.id == id).unwrap().client()
    }
}

pub fn key_record(id: KeyId) -> KeyRecord {
    KeyRecord {
        metadata: KeyMetadata::symmetric(id, account(), "eu-west-1", 1, "integration test"),
        tags: vec![],
        material: vec![WrappedMaterial {
            version: 1,
            created: 1,
            blob: vec![0x5A; 60],
        }],
    }
}

/// Creates a key through `client`; returns its id once acknowledged.
pub async fn create_key(client: &AdminClient) -> Result<KeyId, ClientError> {
    let id = KeyId(Uuid::new_v4());
    client
        .command(
            Some(Uuid::new_v4()),
            &StateCommand::CreateKey {
                record: key_record(id),
                max_keys_per_account: None,
            },
        )
        .await?;
    Ok(id)
}

/// Waits until `client`'s node holds every key in `ids` in its own state.
pub async fn wait_for_keys_locally(client: &AdminClient, ids: &[KeyId], timeout: Duration) {
    let what = format!("{} keys on {}", ids.len(), client.endpoint());
    wait_for(&what, timeout, || async {
        let keys = client
            .list_keys(&account(), Consistency::Local)
            .await
            .ok()?;
        let have: std::collections::HashSet<KeyId> =
            keys.iter().map(|k| k.metadata.key_id).collect();
        ids.iter().all(|id| have.contains(id)).then_some(())
    })
    .await
}
