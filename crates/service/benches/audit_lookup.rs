//! LookupEvents over a large trail (issue 25's benchmark, docs/BENCHMARKS.md): a one-node
//! cluster whose clock is moved by hand fills its trail with `TRENT_BENCH_EVENTS` events
//! (default 1 000 000) spread over 24 hours of 1 000 keys, through `AppendAudit` (the path
//! every call's event takes) in batches of `TRENT_BENCH_BATCH` events (default: the most the
//! service puts in one, [`trent_service::MAX_EVENTS_PER_BATCH`]; a lookup reads each event it
//! finds out of its batch, so full batches are its worst case), 64 writes in flight, then
//! times LookupEvents of one key's last hour, every page, as the API runs it (after the read
//! barrier, from RocksDB).
//!
//!   TRENT_BENCH_EVENTS=10000000 cargo bench -p trent-service --bench audit_lookup

use std::sync::Arc;
use std::time::{Duration, Instant};

use trent_audit::{Call as EventCall, Event, IdentityType, Resource, UserIdentity};
use trent_cluster::{ClusterConfig, ClusterNode, ManualClock, RaftTuning};
use trent_hsm::{DomainKey, SoftHsm};
use trent_model::{AccountId, Principal};
use trent_service::{HsmHooks, Limits, LookupQuery, RateQuotas, Service, ServiceConfig};
use trent_state::Command;
use uuid::Uuid;

const ACCOUNT: &str = "111122223333";
const KEYS: usize = 1000;
const IN_FLIGHT: usize = 64;
const HOURS: u64 = 24;

fn event(key: &str, at: time::OffsetDateTime, i: usize) -> String {
    let mut e = Event::kms(EventCall {
        identity: UserIdentity {
            kind: IdentityType::Root,
            principal_id: Some(ACCOUNT.into()),
            arn: Some(format!("arn:aws:iam::{ACCOUNT}:root")),
            account_id: Some(ACCOUNT.into()),
            access_key_id: Some("TKIABENCH00000000001".into()),
            user_name: None,
        },
        time: at,
        operation: "Encrypt".into(),
        region: "us-east-1".into(),
        source_ip: "10.0.0.1".into(),
        user_agent: "aws-sdk-rust/1.0 bench".into(),
        request_id: Uuid::from_u128(i as u128).to_string(),
        event_id: Uuid::from_u128(!(i as u128)).to_string(),
        read_only: true,
        recipient_account_id: ACCOUNT.into(),
    });
    let arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}");
    e.request_parameters = Some(serde_json::json!({
        "keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"tenant": "bench", "purpose": "audit-lookup"},
    }));
    e.resources = vec![Resource::key(ACCOUNT, &arn)];
    String::from_utf8(e.canonical_bytes()).unwrap()
}

#[tokio::main]
async fn main() {
    let setting = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let total = setting("TRENT_BENCH_EVENTS", 1_000_000);
    let per_batch = setting("TRENT_BENCH_BATCH", trent_service::MAX_EVENTS_PER_BATCH);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let peer = "127.93.0.1:7701".to_owned();
    let hsm = Arc::new(SoftHsm::new(DomainKey::from_bytes([3; 32]), 10_000));
    let config = ClusterConfig {
        cluster_name: "bench".into(),
        node_id: 1,
        data_dir: dir.path().join("n1"),
        peer_listen: peer.parse().unwrap(),
        peer_advertise: peer.clone(),
        initial_cluster: format!("1={peer}").parse().unwrap(),
        raft: RaftTuning::default(),
        request_timeout: Duration::from_secs(60),
        peer_tls: None,
        serve_peers: true,
        hooks: HsmHooks::new(hsm.clone()).hooks(),
    };
    let node = ClusterNode::start_with_clock(config, clock.clone())
        .await
        .unwrap();
    let service = Service::install(
        node.clone(),
        hsm,
        ServiceConfig {
            region: "us-east-1".into(),
            limits: Limits::default(),
            quotas: RateQuotas {
                enabled: false,
                ..RateQuotas::default()
            },
            audit_trail: true,
            audit_retention: Default::default(),
        },
    );
    node.bootstrap().await.unwrap();
    while !node.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let keys: Vec<String> = (0..KEYS)
        .map(|k| Uuid::from_u128(0x1000 + k as u128).to_string())
        .collect();
    let batches = total.div_ceil(per_batch);
    let rounds = batches.div_ceil(IN_FLIGHT);
    let step = Duration::from_millis(HOURS * 3_600_000 / rounds as u64);
    let filled = Instant::now();
    for round in 0..rounds {
        let now = node.now().await.unwrap();
        let at = time::OffsetDateTime::from_unix_timestamp((now / 1000) as i64).unwrap();
        let mut writes = tokio::task::JoinSet::new();
        for b in round * IN_FLIGHT..((round + 1) * IN_FLIGHT).min(batches) {
            let events = (0..per_batch)
                .map(|j| {
                    let i = b * per_batch + j;
                    event(&keys[i % KEYS], at, i)
                })
                .collect();
            let node = node.clone();
            writes.spawn(async move {
                let command = Command::AppendAudit { events };
                node.write(Uuid::new_v4(), command).await.unwrap().unwrap();
            });
        }
        while let Some(done) = writes.join_next().await {
            done.unwrap();
        }
        clock.advance(step);
    }
    let fill = filled.elapsed();
    let root = Principal::root(ACCOUNT.parse::<AccountId>().unwrap());
    let now = node.now().await.unwrap();
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..30 {
        let key = &keys[q * 7 % KEYS];
        let started = Instant::now();
        let mut token = None;
        found = 0;
        loop {
            let id = Uuid::new_v4();
            let call = trent_service::Call {
                caller: root.clone(),
                request_id: id,
                attempt: id,
                barrier_passed: false,
                origin: Default::default(),
                audit: Default::default(),
            };
            let query = LookupQuery {
                start_ms: Some(now - 3_600_000),
                end_ms: Some(now),
                attribute: Some(("ResourceName".into(), key.clone())),
                max_results: Some(50),
                next_token: token.take(),
            };
            let page = service.lookup_events(&call, query, true).await.unwrap();
            found += page["Events"].as_array().unwrap().len();
            match page["NextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {total} events, {KEYS} keys over {HOURS} h, {per_batch} per batch | fill {:.1} s ({:.0} events/s) | one key's last hour: {found} events, all pages | p50 {:.1} ms | p90 {:.1} ms | max {:.1} ms |",
        fill.as_secs_f64(),
        total as f64 / fill.as_secs_f64(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1]),
    );
}
