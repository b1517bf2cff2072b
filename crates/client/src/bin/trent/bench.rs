//! `trent bench`: load against a trent cluster and, for side-by-side figures, against its
//! peers (etcd for replicated writes), with the same engine and the same connection model:
//! one keep-alive HTTP connection per worker, workers spread round-robin over the endpoints.

use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Args, Subcommand};
use trent_client::bench::{self, Report, Worker};
use trent_client::AdminClient;
use trent_model::{AccountId, KeyId, KeyMetadata, KeyRecord, WrappedMaterial};
use trent_state::Command;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Replicated writes through trent's admin state API: each worker creates a key, then
    /// updates its description (of --size bytes) in a loop, each update a new request id.
    RaftWrite(Load),
    /// Puts of --size bytes into etcd through its v3 JSON gateway (`/v3/kv/put`), one key per
    /// worker.
    EtcdPut(Load),
    /// Kills the leader (`kill -9 <pid>`) and reports the time until a write sent to
    /// --endpoint is acknowledged.
    Failover {
        /// A node that is not the leader.
        #[arg(long)]
        endpoint: String,
        /// The leader's process id.
        #[arg(long)]
        kill_pid: u32,
    },
}

#[derive(Args)]
pub struct Load {
    /// Comma-separated endpoints; workers are spread over them round-robin.
    #[arg(long, value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Payload bytes per write.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd {
        BenchCmd::RaftWrite(load) => {
            let mut workers = Vec::new();
            for i in 0..load.workers {
                let endpoint = &load.endpoints[i % load.endpoints.len()];
                workers.push(RaftWrite::start(endpoint, load.size).await?);
            }
            print(&load, bench::run(workers, load.duration()).await);
        }
        BenchCmd::EtcdPut(load) => {
            let workers = (0..load.workers)
                .map(|i| EtcdPut::new(&load.endpoints[i % load.endpoints.len()], i, load.size))
                .collect();
            print(&load, bench::run(workers, load.duration()).await);
        }
        BenchCmd::Failover { endpoint, kill_pid } => failover(&endpoint, kill_pid).await?,
    }
    Ok(())
}

impl Load {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }
}

fn print(load: &Load, report: Report) {
    if load.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serializes")
        );
    } else {
        eprintln!();
        println!("{}", report.line());
        if let Some(e) = &report.first_error {
            println!("  first error: {e}");
        }
    }
}

struct RaftWrite {
    client: AdminClient,
    key_id: KeyId,
    description: String,
}

impl RaftWrite {
    async fn start(endpoint: &str, size: usize) -> Result<RaftWrite, String> {
        let client = AdminClient::new(endpoint);
        let key_id = KeyId(Uuid::new_v4());
        let record = bench_key(key_id);
        client
            .command(
                Some(Uuid::new_v4()),
                &Command::CreateKey {
                    record,
                    max_keys_per_account: None,
                },
            )
            .await
            .map_err(|e| format!("creating the bench key through {endpoint}: {e}"))?;
        Ok(RaftWrite {
            client,
            key_id,
            description: "d".repeat(size),
        })
    }
}

#[async_trait::async_trait]
impl Worker for RaftWrite {
    async fn call(&mut self) -> Result<(), String> {
        let command = Command::UpdateKeyDescription {
            key_id: self.key_id,
            description: self.description.clone(),
        };
        self.client
            .command(Some(Uuid::new_v4()), &command)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn bench_key(key_id: KeyId) -> KeyRecord {
    KeyRecord {
        metadata: KeyMetadata::symmetric(
            key_id,
            "111122223333".parse::<AccountId>().expect("valid account"),
            "bench",
            0,
            "",
        ),
        tags: vec![],
        material: vec![WrappedMaterial {
            version: 1,
            created: 0,
            blob: vec![0; 60],
        }],
    }
}

struct EtcdPut {
    http: reqwest::Client,
    url: String,
    body: serde_json::Value,
}

impl EtcdPut {
    fn new(endpoint: &str, worker: usize, size: usize) -> EtcdPut {
        let b64 = base64::engine::general_purpose::STANDARD;
        EtcdPut {
            http: reqwest::Client::new(),
            url: format!("{}/v3/kv/put", endpoint.trim_end_matches('/')),
            body: serde_json::json!({
                "key": b64.encode(format!("bench/{worker}")),
                "value": b64.encode("d".repeat(size)),
            }),
        }
    }
}

#[async_trait::async_trait]
impl Worker for EtcdPut {
    async fn call(&mut self) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .json(&self.body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        match status.is_success() && !text.contains("\"error\"") {
            true => Ok(()),
            false => Err(format!("etcd answered {status}: {text}")),
        }
    }
}

/// Kills the leader, then writes through `endpoint` until a write is acknowledged; prints
/// the milliseconds from the kill to that acknowledgement.
async fn failover(endpoint: &str, pid: u32) -> Result<(), String> {
    let mut writer = RaftWrite::start(endpoint, 256).await?;
    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .map_err(|e| format!("kill -9 {pid}: {e}"))?;
    if !status.success() {
        return Err(format!("kill -9 {pid} failed: {status}"));
    }
    let deadline = killed + Duration::from_secs(30);
    while Instant::now() < deadline {
        if writer.call().await.is_ok() {
            println!(
                "{{\"failover_ms\": {:.1}}}",
                killed.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(());
        }
    }
    Err("no write was acknowledged within 30 s of the kill".into())
}
