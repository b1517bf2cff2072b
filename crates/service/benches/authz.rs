//! What authorizing one request costs (issue 22's benchmark, docs/BENCHMARKS.md): the
//! service's `authorize` alone (the request context, the key policy, the caller's identity
//! policies, the grant index), on the leader of an in-process 3-node cluster, for a key with
//! AWS's default policy and for a key with the realistic 20-statement policy of
//! `realistic-policy.json` (the one scripts/bench-policy measures through the API) and
//! 1,000 grants to other principals (and the same policy without grants, to see what the
//! grants add); then whole Encrypts of 32 bytes on each key, in turn.
//!
//!   cargo bench -p trent-service --bench authz -- [seconds per Encrypt cell, default 3]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use trent_model::{KeyId, Principal};
use trent_service::{Action, Operation, Service};

mod common;
use common::{call, start_cluster};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCOUNT: &str = "111122223333";
const GRANTS: usize = 1000;
const POLICY: &str = include_str!("realistic-policy.json");

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

async fn execute(service: &Service, caller: &Principal, name: &str, input: Value) -> Value {
    service
        .execute(&call(caller), Operation::from_target(name, input).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        .into_value()
}

fn user(name: &str) -> Principal {
    Principal {
        account: ACCOUNT.parse().unwrap(),
        user: Some(name.parse().unwrap()),
    }
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Microseconds per `authorize`, over `rounds` calls after a warm-up.
fn per_call(rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

async fn run(cell: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let leader = start_cluster(dir.path(), 92).await;
    let root = Principal::root(ACCOUNT.parse().unwrap());
    // A fresh call (request id) for each write: one id is one write.
    leader.create_user(&call(&root), "bench").await.unwrap();
    let identity = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "arn:aws:kms:*:111122223333:key/*"}]}"#;
    leader
        .put_user_policy(&call(&root), "bench", "use-keys", identity)
        .await
        .unwrap();
    let key_of = |created: Value| -> KeyId {
        created["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let default_key = key_of(execute(&leader, &root, "CreateKey", json!({})).await);
    let policy_key = key_of(execute(&leader, &root, "CreateKey", json!({"Policy": POLICY})).await);
    // The same policy without grants: what the grants add, apart.
    let bare_key = key_of(execute(&leader, &root, "CreateKey", json!({"Policy": POLICY})).await);
    let started = Instant::now();
    for batch in (0..GRANTS).collect::<Vec<_>>().chunks(32) {
        let grants: Vec<_> = batch
            .iter()
            .map(|n| {
                let grantee = format!("grantee-{n:05}");
                let input = json!({
                    "KeyId": policy_key.to_string(),
                    "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:user/{grantee}"),
                    "Operations": ["Encrypt", "Decrypt"],
                    "Constraints": {"EncryptionContextSubset": {"grantee": grantee}},
                    "Name": grantee,
                });
                let (leader, root) = (leader.clone(), root.clone());
                tokio::spawn(async move { execute(&leader, &root, "CreateGrant", input).await })
            })
            .collect();
        for grant in grants {
            grant.await.unwrap();
        }
    }
    println!(
        "{GRANTS} grants on the policy key in {:.2} s; the policy: {} bytes, {} statements\n",
        started.elapsed().as_secs_f64(),
        POLICY.len(),
        serde_json::from_str::<Value>(POLICY).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .len()
    );

    let bench = user("bench");
    let grantee = user("grantee-00500");
    let app = context(&[("app", "bench")]);
    // What, who, which key, the encryption context, allowed.
    type Case<'a> = (
        &'a str,
        &'a Principal,
        &'a KeyId,
        BTreeMap<String, String>,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "default policy, the account root",
            &root,
            &default_key,
            app.clone(),
            true,
        ),
        (
            "default policy, user bench through its identity policy",
            &bench,
            &default_key,
            app.clone(),
            true,
        ),
        (
            "20 statements + 1,000 grants, bench allowed by statement 19",
            &bench,
            &policy_key,
            app.clone(),
            true,
        ),
        (
            "20 statements, no grants, bench allowed by statement 19",
            &bench,
            &bare_key,
            app.clone(),
            true,
        ),
        (
            "20 statements + 1,000 grants, a grantee allowed by its grant",
            &grantee,
            &policy_key,
            context(&[("grantee", "grantee-00500")]),
            true,
        ),
        (
            "20 statements + 1,000 grants, bench refused (context app=other)",
            &bench,
            &policy_key,
            context(&[("app", "other")]),
            false,
        ),
    ];
    println!("| authorize (one Encrypt request) | µs per call |");
    println!("|---|---:|");
    for (what, caller, key, ctx, allowed) in &cases {
        let c = call(caller);
        let outcome = leader.authorize_for_bench(&c, key, Action::Encrypt, ctx);
        assert_eq!(outcome.is_ok(), *allowed, "{what}: {outcome:?}");
        let us = per_call(100_000, || {
            let _ = black_box(leader.authorize_for_bench(
                black_box(&c),
                key,
                Action::Encrypt,
                black_box(ctx),
            ));
        });
        println!("| {what} | {us:.2} |");
    }

    // Whole Encrypts through the service, as user bench, one caller, the keys in turn.
    println!(
        "\n| Encrypt 32 B as user bench, 1 caller, {} s each | default policy ops/s | 20 statements, no grants | 20 statements + 1,000 grants | ratio (the last to the first) |",
        cell.as_secs()
    );
    println!("|---|---:|---:|---:|---:|");
    let plaintext = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let encrypt = |key: &KeyId| {
        Operation::from_target(
            "Encrypt",
            json!({"KeyId": key.to_string(), "Plaintext": plaintext, "EncryptionContext": {"app": "bench"}}),
        )
        .unwrap()
    };
    let keys = [&default_key, &bare_key, &policy_key];
    for round in 1..=3 {
        let mut rates = [0.0; 3];
        let order = if round % 2 == 1 { [0, 1, 2] } else { [2, 1, 0] };
        for i in order {
            let op = encrypt(keys[i]);
            let start = Instant::now();
            let mut done = 0u64;
            while start.elapsed() < cell {
                leader.execute(&call(&bench), op.clone()).await.unwrap();
                done += 1;
            }
            rates[i] = done as f64 / start.elapsed().as_secs_f64();
        }
        println!(
            "| round {round} | {:.0} | {:.0} | {:.0} | {:.3} |",
            rates[0],
            rates[1],
            rates[2],
            rates[2] / rates[0]
        );
    }
}
