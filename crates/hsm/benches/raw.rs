//! The raw side of issue 23's benchmark (docs/BENCHMARKS.md, "Asymmetric and HMAC keys"):
//! single-core operations per second of each key type through `SoftHsm`, the code trentd
//! runs (a key from `Hsm::generate`, unwrapped once into the HSM's cache, then `Hsm::sign`,
//! `decrypt_asymmetric` or `generate_mac` in a loop on one thread), and P-256 ECDSA straight
//! through aws-lc-rs, to show what the HSM's wrapping and cache add; then P-256 and RSA-2048
//! signing on every core at once (one thread and key per core, one shared SoftHsm).
//!
//!   cargo bench -p trent-hsm --bench raw -- [seconds per row, default 2] [--json]
//!
//! Messages are 256 bytes (RAW), as `trent bench kms --size 256`; RSA decrypts a 32-byte
//! OAEP-SHA-256 ciphertext, as `trent bench kms --op decrypt --size 32`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use trent_hsm::{DomainKey, Hsm, MaterialRef, SoftHsm};
use trent_model::SigningAlgorithm as Sig;
use trent_model::{EncryptionAlgorithm, KeyId, KeySpec, MacAlgorithm, MessageType};

const MESSAGE: [u8; 256] = [0x5a; 256];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2.0);
    let json = args.iter().any(|a| a == "--json");
    let cell = Duration::from_secs_f64(seconds);
    let hsm = SoftHsm::new(DomainKey::from_bytes([7; 32]), 100);

    let mut rows: Vec<(&str, f64)> = vec![];
    let signers = [
        (
            "ECDSA P-256 Sign (SoftHsm)",
            KeySpec::EccNistP256,
            Sig::EcdsaSha256,
        ),
        (
            "RSA-2048 Sign PSS-SHA-256 (SoftHsm)",
            KeySpec::Rsa2048,
            Sig::RsassaPssSha256,
        ),
        (
            "Ed25519 Sign (SoftHsm)",
            KeySpec::EccNistEdwards25519,
            Sig::Ed25519Sha512,
        ),
        (
            "ML-DSA-65 Sign (SoftHsm)",
            KeySpec::MlDsa65,
            Sig::MlDsaShake256,
        ),
    ];
    for (n, (name, spec, algorithm)) in signers.into_iter().enumerate() {
        let id = key_id(n as u8 + 1);
        let wrapped = hsm.generate(id, 1, spec).expect("generates");
        let key = material(id, &wrapped);
        rows.push((
            name,
            per_second(cell, || {
                hsm.sign(key, spec, algorithm, MessageType::Raw, &MESSAGE)
                    .expect("signs")
            }),
        ));
    }

    let id = key_id(10);
    let wrapped = hsm.generate(id, 1, KeySpec::Rsa2048).expect("generates");
    let key = material(id, &wrapped);
    let oaep = EncryptionAlgorithm::RsaesOaepSha256;
    let sealed = hsm
        .encrypt_asymmetric(key, KeySpec::Rsa2048, oaep, &MESSAGE[..32])
        .expect("encrypts");
    rows.push((
        "RSA-2048 Decrypt OAEP-SHA-256, 32 B (SoftHsm)",
        per_second(cell, || {
            hsm.decrypt_asymmetric(key, KeySpec::Rsa2048, oaep, &sealed)
                .expect("decrypts")
        }),
    ));

    let id = key_id(11);
    let wrapped = hsm.generate(id, 1, KeySpec::Hmac256).expect("generates");
    let key = material(id, &wrapped);
    rows.push((
        "HMAC-SHA-256 GenerateMac, 256 B (SoftHsm)",
        per_second(cell, || {
            hsm.generate_mac(key, KeySpec::Hmac256, MacAlgorithm::HmacSha256, &MESSAGE)
                .expect("MACs")
        }),
    ));

    // The same P-256 and RSA signing on every core at once, one key per thread, through the
    // one shared SoftHsm (as trentd's request tasks share it): what "raw scaled to the
    // cores" is on this machine, measured rather than multiplied.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (n, spec, algorithm) in [
        (20u8, KeySpec::EccNistP256, Sig::EcdsaSha256),
        (40, KeySpec::Rsa2048, Sig::RsassaPssSha256),
    ] {
        let keys: Vec<(KeyId, Vec<u8>)> = (0..threads)
            .map(|t| {
                let id = key_id(n + t as u8);
                (id, hsm.generate(id, 1, spec).expect("generates"))
            })
            .collect();
        let total: f64 = std::thread::scope(|scope| {
            let runs: Vec<_> = keys
                .iter()
                .map(|(id, wrapped)| {
                    let (hsm, key) = (&hsm, material(*id, wrapped));
                    scope.spawn(move || {
                        per_second(cell, || {
                            hsm.sign(key, spec, algorithm, MessageType::Raw, &MESSAGE)
                                .expect("signs")
                        })
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().expect("runs")).sum()
        });
        let name = match spec {
            KeySpec::EccNistP256 => "ECDSA P-256 Sign (SoftHsm), every core at once",
            _ => "RSA-2048 Sign PSS-SHA-256 (SoftHsm), every core at once",
        };
        rows.push((name, total));
    }

    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    rows.push((
        "ECDSA P-256 Sign (aws-lc-rs directly)",
        per_second(cell, || pair.sign(&rng, &MESSAGE).expect("signs")),
    ));

    if json {
        let fields: Vec<String> = rows
            .iter()
            .map(|(name, ops)| format!("{name:?}: {ops:.0}"))
            .collect();
        println!("{{{}}}", fields.join(", "));
    } else {
        println!("| operation ({threads} cores) | ops/s | µs/op per thread |");
        println!("|---|---:|---:|");
        for (name, ops) in rows {
            let per_thread = match name.contains("every core") {
                true => threads as f64 / ops,
                false => 1.0 / ops,
            };
            println!("| {name} | {ops:.0} | {:.1} |", per_thread * 1e6);
        }
    }
}

fn key_id(n: u8) -> KeyId {
    KeyId(uuid::Uuid::from_bytes([n; 16]))
}

fn material(key_id: KeyId, wrapped: &[u8]) -> MaterialRef<'_> {
    MaterialRef {
        key_id,
        version: 1,
        wrapped,
    }
}

/// Calls of `f` per second on this thread over `cell`, after a tenth of it as warm-up.
fn per_second<T>(cell: Duration, mut f: impl FnMut() -> T) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < cell / 10 {
        black_box(f());
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < cell {
        for _ in 0..8 {
            black_box(f());
        }
        calls += 8;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}
