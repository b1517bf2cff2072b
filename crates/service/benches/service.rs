//! The service-layer benchmark of docs/BENCHMARKS.md: Encrypt, Decrypt and GenerateDataKey
//! executed in-process on the leader of a 3-node cluster (real RocksDB, Raft over loopback
//! sockets, the soft HSM), beside raw AES-256-GCM of the same sizes in the same run (the
//! physical limit), at 1 and 64 concurrent callers; then the cost of the parts of one call.
//!
//! The service layer takes a parsed operation and answers a typed response: the JSON codec
//! (base64 of the plaintext and ciphertext) belongs to the API front end, and its cost is
//! measured on its own in the breakdown.
//!
//!   cargo bench -p trent-service --bench service -- [seconds per cell, default 3]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde_json::{json, Value};
use trent_model::Principal;
use trent_service::{Operation, Service};

mod common;
use common::{call, start_cluster};

// The allocator trentd runs with (crates/server/src/main.rs), for the service and the raw
// cipher alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [usize; 3] = [32, 1024, 4096];
const CALLERS: [usize; 2] = [1, 64];

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(Duration::from_secs(seconds)));
}

async fn run(cell: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let leader = start_cluster(dir.path(), 90).await;
    let root = Principal::root("111122223333".parse().unwrap());
    let key = leader
        .execute(&call(&root), op("CreateKey", json!({})))
        .await
        .unwrap()
        .into_value()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    println!("| operation | size | callers | trent ops/s | raw AES-256-GCM ops/s | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ["Encrypt", "Decrypt", "GenerateDataKey"] {
        for size in SIZES {
            // GenerateDataKey makes at most 1024 bytes (NumberOfBytes 1..1024).
            if name == "GenerateDataKey" && size > 1024 {
                continue;
            }
            let input = op(name, input_for(&leader, &root, name, &key, size).await);
            for callers in CALLERS {
                let trent = measure(callers, cell, {
                    let (leader, root, input) = (leader.clone(), root.clone(), input.clone());
                    move || {
                        let (leader, root, input) = (leader.clone(), root.clone(), input.clone());
                        async move {
                            leader.execute(&call(&root), input).await.unwrap();
                        }
                    }
                })
                .await;
                let raw = measure(callers, cell, move || async move { raw_aead(size) }).await;
                println!(
                    "| {name} | {size} B | {callers} | {trent:.0} | {raw:.0} | {:.2} |",
                    trent / raw
                );
            }
        }
    }
    breakdown(&leader, &root, &key, cell).await;
}

/// Where the time of one Encrypt goes, part by part, at 1 caller: the service's own parts
/// at 32 B, and the API's JSON codec (not part of the service) at 32 B and 4 KB.
async fn breakdown(leader: &Service, root: &Principal, key: &str, cell: Duration) {
    println!("\n| part of one Encrypt (1 caller) | ops/s | µs each |");
    println!("|---|---:|---:|");
    let input = json!({"KeyId": key, "Plaintext": b64(&[7; 32])});
    let parsed = op("Encrypt", input.clone());
    let body_4k = serde_json::to_vec(&json!({"KeyId": key, "Plaintext": b64(&[7; 4096])})).unwrap();
    let answer_4k = leader
        .execute(&call(root), Operation::parse("Encrypt", &body_4k).unwrap())
        .await
        .unwrap();
    let parts: Vec<(&str, f64)> = vec![
        ("whole Encrypt, 32 B (execute)", {
            let (l, r, i) = (leader.clone(), root.clone(), parsed.clone());
            measure(1, cell, move || {
                let (l, r, i) = (l.clone(), r.clone(), i.clone());
                async move {
                    l.execute(&call(&r), i).await.unwrap();
                }
            })
            .await
        }),
        ("linearizable read barrier", {
            let node = leader.node().clone();
            measure(1, cell, move || {
                let node = node.clone();
                async move {
                    node.read(|_| ()).await.unwrap();
                }
            })
            .await
        }),
        ("API: JSON body -> Operation, 32 B", {
            let body = serde_json::to_vec(&input).unwrap();
            measure(1, cell, move || {
                let body = body.clone();
                async move {
                    Operation::parse("Encrypt", &body).unwrap();
                }
            })
            .await
        }),
        ("API: JSON body -> Operation, 4 KB", {
            measure(1, cell, move || {
                let body = body_4k.clone();
                async move {
                    Operation::parse("Encrypt", &body).unwrap();
                }
            })
            .await
        }),
        ("API: answer -> JSON body, 4 KB", {
            let answer = Arc::new(answer_4k);
            measure(1, cell, move || {
                let answer = answer.clone();
                async move {
                    serde_json::to_vec(&*answer).unwrap();
                }
            })
            .await
        }),
        (
            "raw AES-256-GCM, 32 B",
            measure(1, cell, || async { raw_aead(32) }).await,
        ),
    ];
    for (name, rate) in parts {
        println!("| {name} | {rate:.0} | {:.1} |", 1e6 / rate);
    }
}

/// The input of `name` for `size` bytes (Decrypt gets a ciphertext of `size` bytes).
async fn input_for(
    leader: &Service,
    root: &Principal,
    name: &str,
    key: &str,
    size: usize,
) -> Value {
    let plaintext = b64(&vec![7u8; size]);
    match name {
        "Encrypt" => json!({"KeyId": key, "Plaintext": plaintext}),
        "Decrypt" => {
            let sealed = leader
                .execute(
                    &call(root),
                    op("Encrypt", json!({"KeyId": key, "Plaintext": plaintext})),
                )
                .await
                .unwrap();
            json!({"CiphertextBlob": sealed.into_value()["CiphertextBlob"]})
        }
        _ => json!({"KeyId": key, "NumberOfBytes": size}),
    }
}

/// Runs `callers` loops of `f` for `cell`; returns completed calls per second.
async fn measure<F, Fut>(callers: usize, cell: Duration, f: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (f, stop, done) = (f.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    f().await;
                    done.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(cell).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// One AES-256-GCM seal of `size` bytes with a fresh key schedule from a cached cipher, as
/// the HSM's cache hit does.
fn raw_aead(size: usize) {
    thread_local! {
        static CIPHER: Aes256Gcm = Aes256Gcm::new(&[9u8; 32].into());
    }
    let plaintext = vec![7u8; size];
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
    CIPHER.with(|c| {
        c.encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: b"header and context",
            },
        )
        .unwrap()
    });
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn op(name: &str, input: Value) -> Operation {
    Operation::from_target(name, input).unwrap()
}
