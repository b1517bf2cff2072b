//! What checking a request against the AWS model adds to parsing it: the time per
//! `Operation::parse` of an Encrypt body (4 KiB plaintext, an encryption context) and a
//! DescribeKey body, with the model check and without it (the typed parse alone).
//!
//! `cargo run --release -p trent-protocol --example parse_cost` (docs/BENCHMARKS.md).

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use trent_protocol::{validate, Operation};

fn per_call(what: &str, rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!("{what:<48} {:>8.2} µs", ns / 1000.0);
    ns
}

fn main() {
    let plaintext = base64::engine::general_purpose::STANDARD.encode([7u8; 4096]);
    let encrypt = format!(
        r#"{{"KeyId":"alias/app","Plaintext":"{plaintext}","EncryptionContext":{{"tenant":"a","purpose":"b"}}}}"#
    );
    let describe = r#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#.to_owned();
    let rounds = 20_000;
    for (name, body) in [("Encrypt", &encrypt), ("DescribeKey", &describe)] {
        let body = body.as_bytes();
        let full = per_call(
            &format!("{name}: model check + typed parse"),
            rounds,
            || {
                black_box(Operation::parse(name, black_box(body)).unwrap());
            },
        );
        let check = per_call(&format!("{name}: model check alone"), rounds, || {
            validate::validate(name, black_box(body)).unwrap();
        });
        println!(
            "{name}: the model check is {:.0}% of the parse\n",
            100.0 * check / full
        );
    }
}
