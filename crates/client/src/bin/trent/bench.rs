//! `trent bench`: load against a trent cluster and, for side-by-side figures, against its
//! peers (any endpoint speaking the AWS KMS JSON protocol, e.g. moto; etcd for replicated
//! writes), with the same engine and the same connection model: one keep-alive HTTP
//! connection per worker, workers spread round-robin over the endpoints.

use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use trent_client::bench::{self, Report, Worker};
use trent_client::{Client, Credentials, Prepared};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// KMS operations in a loop, SigV4-signed, through any AWS KMS JSON endpoint: each
    /// worker creates its key, then cycles through --op (one or a comma-separated mix) with
    /// a --size-byte payload.
    Kms {
        /// The operations to cycle through.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "encrypt")]
        op: Vec<Op>,
        #[command(flatten)]
        load: Load,
    },
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

#[derive(Clone, Copy, ValueEnum)]
pub enum Op {
    /// Encrypt --size bytes.
    Encrypt,
    /// Decrypt a ciphertext of --size bytes.
    Decrypt,
    /// GenerateDataKey (256-bit).
    GenerateDataKey,
    /// A replicated write: the key's description, --size bytes.
    UpdateKeyDescription,
}

#[derive(Args)]
pub struct Load {
    /// Comma-separated endpoints; workers are spread over them round-robin.
    #[arg(long, value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Payload bytes per request.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Send this many requests per second in all (open loop, latency counted from when
    /// each request was due) instead of each worker sending as fast as it is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: BenchCmd, region: &str, credentials: Credentials) -> Result<(), String> {
    match cmd {
        BenchCmd::Kms { op, load } => {
            // Keys are created one worker at a time: a burst of CreateKey is not the load.
            let mut workers = Vec::new();
            for i in 0..load.workers {
                let endpoint = &load.endpoints[i % load.endpoints.len()];
                let client = Client::new(endpoint, region, credentials.clone())?;
                workers.push(KmsWorker::start(client, &op, load.size).await?);
            }
            print(
                &load,
                bench::run_paced(workers, load.duration(), load.pace()).await,
            );
        }
        BenchCmd::EtcdPut(load) => {
            let workers = (0..load.workers)
                .map(|i| EtcdPut::new(&load.endpoints[i % load.endpoints.len()], i, load.size))
                .collect();
            print(
                &load,
                bench::run_paced(workers, load.duration(), load.pace()).await,
            );
        }
        BenchCmd::Failover { endpoint, kill_pid } => {
            let client =
                Client::with_timeout(&endpoint, region, credentials, Duration::from_secs(2))?;
            failover(client, kill_pid).await?
        }
    }
    Ok(())
}

impl Load {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    fn pace(&self) -> Option<bench::Pace> {
        self.rate.map(|per_second| bench::Pace { per_second })
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

/// KMS operations in a loop through a SigV4-signed client; works against any endpoint
/// that speaks the AWS KMS JSON protocol.
struct KmsWorker {
    client: Client,
    /// The requests this worker cycles through, encoded and hashed once: a load generator
    /// sharing the machine with the service should spend its CPU on signing and sending,
    /// not on re-encoding the same body.
    requests: Vec<Prepared>,
    next: usize,
}

impl KmsWorker {
    /// Creates the worker's key through `client` and prepares the request of each op.
    async fn start(client: Client, ops: &[Op], size: usize) -> Result<KmsWorker, String> {
        let created = client
            .kms("CreateKey", &json!({"Description": "trent bench"}))
            .await
            .map_err(|e| format!("creating the bench key through {}: {e}", client.endpoint()))?;
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or("CreateKey answered no KeyId")?
            .to_owned();
        let mut requests = vec![];
        for op in ops {
            let (name, input) = Self::request(&client, *op, &key_id, size).await?;
            requests.push(client.prepare(&format!("TrentService.{name}"), &input));
        }
        Ok(KmsWorker {
            client,
            requests,
            next: 0,
        })
    }

    /// The request of `op` on `key_id` with a `size`-byte payload.
    async fn request(
        client: &Client,
        op: Op,
        key_id: &str,
        size: usize,
    ) -> Result<(&'static str, Value), String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let plaintext = b64.encode(vec![0x5a; size.clamp(1, 4096)]);
        Ok(match op {
            Op::Encrypt => ("Encrypt", json!({"KeyId": key_id, "Plaintext": plaintext})),
            Op::Decrypt => {
                let sealed = client
                    .kms("Encrypt", &json!({"KeyId": key_id, "Plaintext": plaintext}))
                    .await
                    .map_err(|e| format!("preparing a ciphertext: {e}"))?;
                (
                    "Decrypt",
                    json!({"CiphertextBlob": sealed["CiphertextBlob"]}),
                )
            }
            Op::GenerateDataKey => (
                "GenerateDataKey",
                json!({"KeyId": key_id, "KeySpec": "AES_256"}),
            ),
            Op::UpdateKeyDescription => (
                "UpdateKeyDescription",
                json!({"KeyId": key_id, "Description": "d".repeat(size.clamp(1, 8192))}),
            ),
        })
    }
}

#[async_trait::async_trait]
impl Worker for KmsWorker {
    async fn call(&mut self) -> Result<(), String> {
        let prepared = &self.requests[self.next % self.requests.len()];
        self.next += 1;
        self.client
            .send_prepared(prepared)
            .await
            .map_err(|e| e.to_string())
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
async fn failover(client: Client, pid: u32) -> Result<(), String> {
    let mut writer = KmsWorker::start(client, &[Op::UpdateKeyDescription], 256).await?;
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
