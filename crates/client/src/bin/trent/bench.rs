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
    /// worker creates its key (or all use --key-id), then cycles through --op (one or a
    /// comma-separated mix) with a --size-byte payload.
    Kms {
        /// The operations to cycle through.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "encrypt")]
        op: Vec<Op>,
        /// Use this existing key (id, ARN or alias) in every worker instead of creating one
        /// per worker (e.g. a key made by `trent bench setup-key`).
        #[arg(long)]
        key_id: Option<String>,
        /// An encryption context for every request that takes one, as `name=value` pairs,
        /// comma-separated.
        #[arg(long, value_delimiter = ',', value_parser = context_pair)]
        encryption_context: Vec<(String, String)>,
        /// The key spec of the keys workers create for sign, verify and generate-mac
        /// (ECC_NIST_P256, RSA_2048, ECC_NIST_EDWARDS25519, ML_DSA_65, HMAC_256, ...); with
        /// an RSA spec and an RSAES_* --algorithm, also for encrypt and decrypt.
        #[arg(long, default_value = "ECC_NIST_P256")]
        key_spec: String,
        /// The signing or MAC algorithm of sign, verify and generate-mac (ECDSA_SHA_256,
        /// RSASSA_PSS_SHA_256, ED25519_SHA_512, ML_DSA_SHAKE_256, HMAC_SHA_256, ...), or
        /// the RSAES_OAEP_* encryption algorithm of encrypt and decrypt with an RSA key.
        #[arg(long, default_value = "ECDSA_SHA_256")]
        algorithm: String,
        /// Rotate each worker's key this many times (RotateKeyOnDemand, at most 25) after its
        /// requests are prepared: a Decrypt then opens a ciphertext of the key's first
        /// material, and an Encrypt seals under a key with that many older versions.
        #[arg(long, default_value_t = 0)]
        rotations: u32,
        #[command(flatten)]
        load: Load,
    },
    /// Creates one key for a benchmark, with the key policy in --policy (AWS's default
    /// without it) and --grants grants to other principals, and prints its id as JSON
    /// (`{"KeyId": ..., "Grants": N}`), through the node of `trent --endpoint`.
    SetupKey {
        /// A file holding the key policy document.
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
        /// Grants to create on the key, to users `grantee-00000`, `grantee-00001`, ... of
        /// the key's account, each allowing Encrypt and Decrypt with the encryption context
        /// `grantee=<its name>` (so none of them allows the benchmark's own caller).
        #[arg(long, default_value_t = 0)]
        grants: usize,
        /// CreateGrant requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Puts of --size bytes into etcd through its v3 JSON gateway (`/v3/kv/put`), one key per
    /// worker.
    EtcdPut(Load),
    /// LookupEvents through the node of `trent --endpoint`: the first page's latency over
    /// --repeat asks, then the whole answer page by page.
    Lookup(crate::bench_lookup::LookupBench),
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
    /// Sign --size bytes (RAW) with --algorithm.
    Sign,
    /// Verify a signature of --size bytes made with --algorithm.
    Verify,
    /// GenerateMac of --size bytes with --algorithm.
    GenerateMac,
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

pub async fn run(
    cmd: BenchCmd,
    endpoint: &str,
    region: &str,
    credentials: Credentials,
) -> Result<(), String> {
    match cmd {
        BenchCmd::Kms {
            op,
            key_id,
            encryption_context,
            key_spec,
            algorithm,
            rotations,
            load,
        } => {
            let context: serde_json::Map<String, Value> = encryption_context
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            // Keys are created one worker at a time: a burst of CreateKey is not the load.
            let mut workers = Vec::new();
            for i in 0..load.workers {
                let endpoint = &load.endpoints[i % load.endpoints.len()];
                let client = Client::new(endpoint, region, credentials.clone())?;
                let shape = Shape {
                    size: load.size,
                    context: &context,
                    key_spec: &key_spec,
                    algorithm: &algorithm,
                    rotations,
                };
                workers.push(KmsWorker::start(client, &op, key_id.as_deref(), shape).await?);
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
        BenchCmd::SetupKey {
            policy,
            grants,
            concurrency,
        } => {
            let client = Client::new(endpoint, region, credentials)?;
            let policy = match policy {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let key_id = setup_key(&client, policy.as_deref(), grants, concurrency).await?;
            println!("{}", json!({"KeyId": key_id, "Grants": grants}));
        }
        BenchCmd::Lookup(lookup) => {
            let client = Client::new(endpoint, region, credentials)?;
            crate::bench_lookup::run(&client, lookup).await?
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

/// `name=value`.
fn context_pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Creates a key with `policy` (the default policy without one) and `grants` grants to
/// `grantee-NNNNN` users of its account, `concurrency` CreateGrant requests at a time;
/// answers its id.
async fn setup_key(
    client: &Client,
    policy: Option<&str>,
    grants: usize,
    concurrency: usize,
) -> Result<String, String> {
    let mut input = json!({"Description": "trent bench: a key with its own policy and grants"});
    if let Some(policy) = policy {
        input["Policy"] = json!(policy);
    }
    let created = client
        .kms("CreateKey", &input)
        .await
        .map_err(|e| format!("creating the key through {}: {e}", client.endpoint()))?;
    let meta = &created["KeyMetadata"];
    let (Some(key_id), Some(account)) = (meta["KeyId"].as_str(), meta["AWSAccountId"].as_str())
    else {
        return Err(format!(
            "CreateKey answered no KeyId or AWSAccountId: {created}"
        ));
    };
    let mut next = 0;
    while next < grants {
        let mut batch = tokio::task::JoinSet::new();
        let end = grants.min(next + concurrency.max(1));
        for n in next..end {
            let grantee = format!("grantee-{n:05}");
            let input = json!({
                "KeyId": key_id,
                "GranteePrincipal": format!("arn:aws:iam::{account}:user/{grantee}"),
                "Operations": ["Encrypt", "Decrypt"],
                "Constraints": {"EncryptionContextSubset": {"grantee": grantee}},
                "Name": grantee,
            });
            let client = client.clone();
            batch.spawn(async move {
                client
                    .kms("CreateGrant", &input)
                    .await
                    .map_err(|e| format!("CreateGrant {n}: {e}"))
            });
        }
        next = end;
        while let Some(result) = batch.join_next().await {
            result.map_err(|e| e.to_string())??;
        }
    }
    Ok(key_id.to_owned())
}

/// What each request carries: the payload size and the encryption context (if any).
#[derive(Clone, Copy)]
struct Shape<'a> {
    size: usize,
    context: &'a serde_json::Map<String, Value>,
    /// The spec of a created key for Sign, Verify and GenerateMac, and their algorithm.
    key_spec: &'a str,
    algorithm: &'a str,
    /// Rotations of the key once the requests are prepared.
    rotations: u32,
}

impl Shape<'_> {
    /// Encrypt and Decrypt with an RSA key (`--key-spec RSA_2048 --algorithm
    /// RSAES_OAEP_SHA_256`) rather than a symmetric one.
    fn rsa_encryption(&self) -> bool {
        self.key_spec.starts_with("RSA_") && self.algorithm.starts_with("RSAES_")
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
    /// Creates the worker's key through `client` (unless `key_id` names one to use) and
    /// prepares the request of each op.
    async fn start(
        client: Client,
        ops: &[Op],
        key_id: Option<&str>,
        shape: Shape<'_>,
    ) -> Result<KmsWorker, String> {
        let key_id = match key_id {
            Some(key_id) => key_id.to_owned(),
            None => {
                let usage = match ops.first() {
                    Some(Op::Sign | Op::Verify) => "SIGN_VERIFY",
                    Some(Op::GenerateMac) => "GENERATE_VERIFY_MAC",
                    _ => "ENCRYPT_DECRYPT",
                };
                let spec = match usage {
                    "ENCRYPT_DECRYPT" if !shape.rsa_encryption() => "SYMMETRIC_DEFAULT",
                    _ => shape.key_spec,
                };
                let created = client
                    .kms(
                        "CreateKey",
                        &json!({"Description": "trent bench", "KeySpec": spec, "KeyUsage": usage}),
                    )
                    .await
                    .map_err(|e| {
                        format!("creating the bench key through {}: {e}", client.endpoint())
                    })?;
                created["KeyMetadata"]["KeyId"]
                    .as_str()
                    .ok_or("CreateKey answered no KeyId")?
                    .to_owned()
            }
        };
        let mut requests = vec![];
        for op in ops {
            let (name, mut input) = Self::request(&client, *op, &key_id, shape).await?;
            let takes_context = matches!(*op, Op::Encrypt | Op::Decrypt | Op::GenerateDataKey);
            if !shape.context.is_empty() && takes_context {
                input["EncryptionContext"] = Value::Object(shape.context.clone());
            }
            requests.push(client.prepare(&format!("TrentService.{name}"), &input));
        }
        for _ in 0..shape.rotations {
            client
                .kms("RotateKeyOnDemand", &json!({"KeyId": key_id}))
                .await
                .map_err(|e| format!("rotating the bench key: {e}"))?;
        }
        Ok(KmsWorker {
            client,
            requests,
            next: 0,
        })
    }

    /// The request of `op` on `key_id` with a `shape.size`-byte payload (a Decrypt's
    /// ciphertext is sealed under `shape.context`).
    async fn request(
        client: &Client,
        op: Op,
        key_id: &str,
        shape: Shape<'_>,
    ) -> Result<(&'static str, Value), String> {
        let size = shape.size;
        let b64 = base64::engine::general_purpose::STANDARD;
        let plaintext = b64.encode(vec![0x5a; size.clamp(1, 4096)]);
        Ok(match op {
            Op::Encrypt if shape.rsa_encryption() => (
                "Encrypt",
                json!({"KeyId": key_id, "Plaintext": plaintext, "EncryptionAlgorithm": shape.algorithm}),
            ),
            Op::Encrypt => ("Encrypt", json!({"KeyId": key_id, "Plaintext": plaintext})),
            Op::Decrypt => {
                let mut input = json!({"KeyId": key_id, "Plaintext": plaintext});
                if !shape.context.is_empty() {
                    input["EncryptionContext"] = Value::Object(shape.context.clone());
                }
                if shape.rsa_encryption() {
                    input["EncryptionAlgorithm"] = json!(shape.algorithm);
                }
                let sealed = client
                    .kms("Encrypt", &input)
                    .await
                    .map_err(|e| format!("preparing a ciphertext: {e}"))?;
                let mut decrypt = json!({"CiphertextBlob": sealed["CiphertextBlob"]});
                if shape.rsa_encryption() {
                    // An asymmetric ciphertext names neither its key nor its algorithm.
                    decrypt["KeyId"] = json!(key_id);
                    decrypt["EncryptionAlgorithm"] = json!(shape.algorithm);
                }
                ("Decrypt", decrypt)
            }
            Op::GenerateDataKey => (
                "GenerateDataKey",
                json!({"KeyId": key_id, "KeySpec": "AES_256"}),
            ),
            Op::UpdateKeyDescription => (
                "UpdateKeyDescription",
                json!({"KeyId": key_id, "Description": "d".repeat(size.clamp(1, 8192))}),
            ),
            Op::Sign => (
                "Sign",
                json!({"KeyId": key_id, "Message": plaintext, "SigningAlgorithm": shape.algorithm}),
            ),
            Op::Verify => {
                let input = json!({
                    "KeyId": key_id, "Message": plaintext, "SigningAlgorithm": shape.algorithm,
                });
                let signed = client
                    .kms("Sign", &input)
                    .await
                    .map_err(|e| format!("preparing a signature: {e}"))?;
                let mut input = input;
                input["Signature"] = signed["Signature"].clone();
                ("Verify", input)
            }
            Op::GenerateMac => (
                "GenerateMac",
                json!({"KeyId": key_id, "Message": plaintext, "MacAlgorithm": shape.algorithm}),
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
    let no_context = serde_json::Map::new();
    let shape = Shape {
        size: 256,
        context: &no_context,
        key_spec: "SYMMETRIC_DEFAULT",
        algorithm: "SYMMETRIC_DEFAULT",
        rotations: 0,
    };
    let mut writer = KmsWorker::start(client, &[Op::UpdateKeyDescription], None, shape).await?;
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
