//! What the benchmarks of this crate share: an in-process 3-node cluster.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use trent_cluster::{ClusterConfig, ClusterNode, RaftTuning};
use trent_hsm::{DomainKey, SoftHsm};
use trent_service::{HsmHooks, Limits, RateQuotas, Service, ServiceConfig};

/// Three nodes on 127.`subnet`.0.x; returns the leader's service.
pub async fn start_cluster(dir: &Path, subnet: u8) -> Service {
    let initial =
        format!("1=127.{subnet}.0.1:7701,2=127.{subnet}.0.2:7701,3=127.{subnet}.0.3:7701");
    let mut services = vec![];
    for id in 1..=3u64 {
        let peer = format!("127.{subnet}.0.{id}:7701");
        let hsm = Arc::new(SoftHsm::new(DomainKey::from_bytes([3; 32]), 10_000));
        let config = ClusterConfig {
            cluster_name: "bench".into(),
            node_id: id,
            data_dir: dir.join(format!("n{id}")),
            peer_listen: peer.parse().unwrap(),
            peer_advertise: peer,
            initial_cluster: initial.parse().unwrap(),
            raft: RaftTuning::default(),
            request_timeout: Duration::from_secs(5),
            peer_tls: None,
            serve_peers: true,
            hooks: HsmHooks::new(hsm.clone()).hooks(),
        };
        let node = ClusterNode::start(config).await.unwrap();
        let config = ServiceConfig {
            region: "us-east-1".into(),
            limits: Limits::default(),
            quotas: RateQuotas {
                enabled: false,
                ..RateQuotas::default()
            },
            audit_trail: true,
            audit_retention: Default::default(),
        };
        services.push(Service::install(node, hsm, config));
    }
    let boots: Vec<_> = services
        .iter()
        .map(|s| {
            let node = s.node().clone();
            tokio::spawn(async move { node.bootstrap().await })
        })
        .collect();
    for b in boots {
        b.await.unwrap().unwrap();
    }
    loop {
        if let Some(s) = services.iter().find(|s| s.node().is_leader()) {
            return s.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh call by `caller`, with a request id of its own.
pub fn call(caller: &trent_model::Principal) -> trent_service::Call {
    let id = uuid::Uuid::new_v4();
    trent_service::Call {
        caller: caller.clone(),
        request_id: id,
        attempt: id,
        barrier_passed: false,
        origin: Default::default(),
        audit: Default::default(),
    }
}
