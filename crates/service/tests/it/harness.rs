//! In-process clusters of service nodes, each with its own data dir and 127.x address.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use trent_cluster::{ClusterConfig, ClusterError, ClusterNode, ManualClock, RaftTuning};
use trent_hsm::{DomainKey, SoftHsm};
use trent_model::{AccountId, Error, Principal};
use trent_service::{
    Call, HsmHooks, Limits, OpError, Operation, RateQuotas, Service, ServiceConfig,
};
use uuid::Uuid;

pub const REGION: &str = "eu-west-1";

pub fn account() -> AccountId {
    "111122223333".parse().unwrap()
}
pub fn other_account() -> AccountId {
    "444455556666".parse().unwrap()
}
pub fn root() -> Principal {
    Principal::root(account())
}

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
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct Node {
    pub id: u64,
    pub service: Service,
    pub hsm: Arc<SoftHsm>,
    pub data_dir: std::path::PathBuf,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// The default tuning with 1 MB recycled WAL files instead of 64 MB, as `scripts/test`
/// gives every trentd: the same code path with less disk per node.
pub fn test_tuning() -> RaftTuning {
    RaftTuning {
        wal_recycle_mb: 1,
        ..RaftTuning::default()
    }
}

impl Cluster {
    /// `n` nodes on 127.`subnet`.0.x; returns once a leader is elected.
    pub async fn start(subnet: u8, n: u64) -> Cluster {
        Self::start_with(subnet, n, Limits::default(), test_tuning()).await
    }

    pub async fn start_with(subnet: u8, n: u64, limits: Limits, raft: RaftTuning) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let initial: String = (1..=n)
            .map(|i| format!("{i}=127.{subnet}.0.{i}:7701"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for id in 1..=n {
            let data_dir = dir.path().join(format!("n{id}"));
            let peer = format!("127.{subnet}.0.{id}:7701");
            let hsm = Arc::new(SoftHsm::new(DomainKey::from_bytes([7; 32]), 1000));
            let config = ClusterConfig {
                cluster_name: "svc".into(),
                node_id: id,
                data_dir: data_dir.clone(),
                peer_listen: peer.parse().unwrap(),
                peer_advertise: peer,
                initial_cluster: initial.parse().unwrap(),
                raft: raft.clone(),
                request_timeout: Duration::from_secs(5),
                peer_tls: None,
                serve_peers: true,
                hooks: HsmHooks::new(hsm.clone()).hooks(),
            };
            let node = ClusterNode::start_with_clock(config, clock.clone())
                .await
                .unwrap();
            let service = Service::install(
                node,
                hsm.clone(),
                ServiceConfig {
                    region: REGION.into(),
                    limits,
                    // These tests drive one account as fast as they can.
                    quotas: RateQuotas {
                        enabled: false,
                        ..RateQuotas::default()
                    },
                    audit_trail: true,
                    audit_retention: Default::default(),
                },
            );
            nodes.push(Node {
                id,
                service,
                hsm,
                data_dir,
            });
        }
        let boots: Vec<_> = nodes
            .iter()
            .map(|n| {
                let node = n.service.node().clone();
                tokio::spawn(async move { node.bootstrap().await })
            })
            .collect();
        for b in boots {
            b.await.unwrap().unwrap();
        }
        let cluster = Cluster {
            nodes,
            clock,
            _dir: dir,
        };
        cluster.leader().await;
        cluster
    }

    /// The leader every running node agrees on.
    pub async fn leader(&self) -> u64 {
        wait_for("a leader", Duration::from_secs(10), || async {
            let leaders: Vec<_> = self
                .nodes
                .iter()
                .map(|n| n.service.node().leader())
                .collect();
            let first = leaders[0]?;
            let live = self.nodes.iter().any(|n| n.id == first);
            (live && leaders.iter().all(|l| *l == Some(first))).then_some(first)
        })
        .await
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// Calls `op` (AWS name and JSON input) as `caller` through node `id`.
    pub async fn call_as(
        &self,
        id: u64,
        caller: &Principal,
        op: &str,
        input: Value,
    ) -> Result<Value, Error> {
        let op = Operation::from_target(op, input)?;
        self.execute(id, caller, Uuid::new_v4(), op).await
    }

    /// Executes `op` for a request that node `id` received, as the front end would: on the
    /// leader (these nodes share one process, so "forwarding" is calling the leader's
    /// service), retried under the same request id across leader changes until a deadline.
    /// Forwarding over the peer transport itself is tested with real processes
    /// (crates/server/tests/it/forwarding.rs).
    pub async fn execute(
        &self,
        id: u64,
        caller: &Principal,
        request_id: Uuid,
        op: Operation,
    ) -> Result<Value, Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let call = Call {
            caller: caller.clone(),
            request_id,
            attempt: request_id,
            barrier_passed: false,
            origin: Default::default(),
            audit: Default::default(),
        };
        loop {
            let receiver = self.node(id).service.node();
            let leader = receiver
                .leader()
                .filter(|l| self.nodes.iter().any(|n| n.id == *l));
            let outcome = match leader {
                Some(leader) => self.node(leader).service.execute(&call, op.clone()).await,
                None => Err(OpError::Cluster(ClusterError::NotLeader { leader: None })),
            };
            match outcome {
                Ok(output) => return Ok(output.into_value()),
                Err(OpError::Api(e)) => return Err(e),
                Err(OpError::Cluster(e)) if Instant::now() >= deadline => return Err(e.into()),
                Err(OpError::Cluster(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Calls `op` as the account root through the first node.
    pub async fn call(&self, op: &str, input: Value) -> Result<Value, Error> {
        let first = self.nodes[0].id;
        self.call_as(first, &root(), op, input).await
    }

    /// Like [`Cluster::call`], expecting success.
    pub async fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input.clone())
            .await
            .unwrap_or_else(|e| panic!("{op} {input}: {e}"))
    }

    /// Like [`Cluster::call`], expecting the AWS error `code`; returns its message.
    pub async fn fails(&self, op: &str, input: Value, code: &str) -> String {
        match self.call(op, input.clone()).await {
            Ok(v) => panic!("{op} {input} succeeded with {v}, expected {code}"),
            Err(e) => {
                assert_eq!(e.aws_code(), code, "{op} {input}: {}", e.message);
                e.message
            }
        }
    }

    /// Moves the shared clock `by`, and waits until the cluster's trusted time (what stamps
    /// requests and decides timed actions: the voters' clocks as last read, once a second)
    /// has followed.
    pub async fn advance(&self, by: Duration) {
        let leader = self.leader().await;
        let node = self.node(leader).service.node().clone();
        let target = node.wall_clock() + by.as_millis() as u64;
        self.clock.advance(by);
        wait_for(
            "the cluster's time to follow the clock",
            Duration::from_secs(10),
            || async { (node.now().await.ok()? >= target).then_some(()) },
        )
        .await;
    }

    /// Creates a symmetric key; returns its id.
    pub async fn create_key(&self) -> String {
        let out = self.ok("CreateKey", json!({})).await;
        out["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}
