//! Key rotation through real `trentd` nodes: boto3 (`rotation.py`) runs every rotation
//! operation and its refusals against the leader and a follower, and leaves a key rotated
//! three times with a ciphertext under each of its four materials. Those decrypt through
//! every node, again after every node restarts, and on a node added later that got the state
//! by snapshot install and is then the only one left (so its own HSM unwraps every version). The `trent kms`
//! CLI (the AWS SDK for Rust) rotates, reads the status and lists through a follower.
//!
//! Subnet 189.

use std::time::Duration;

use serde_json::{json, Value};

use crate::adversarial::files::trent;
use crate::harness::*;

/// A ciphertext `rotation.py` made, with its plaintext (both base64).
struct Made {
    blob: String,
    plaintext: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_material_version_decrypts_after_restarts_and_a_snapshot_install() {
    let mut cluster = TestCluster::start(
        189,
        3,
        &["--snapshot-after-logs", "20", "--logs-to-keep", "5"],
    );
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap();
    let leader_api = cluster.nodes.iter().find(|n| n.id == leader).unwrap().api();
    let text = python_cases("rotation.py", &[leader_api, follower.api()], "rotation").await;
    let made: Vec<Made> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ciphertext "))
        .map(|l| {
            let (blob, plaintext) = l.split_once(' ').unwrap();
            Made {
                blob: blob.into(),
                plaintext: plaintext.into(),
            }
        })
        .collect();
    assert_eq!(made.len(), 4, "one ciphertext per material version");

    let cli_endpoint = follower.api();
    tokio::task::spawn_blocking(move || the_cli_rotates(&cli_endpoint))
        .await
        .unwrap();

    for node in &cluster.nodes {
        decrypt_all(&cluster.client(node.id), &made).await;
    }
    // Every node restarts: the versions come back from each data dir.
    for id in 1..=3 {
        cluster.node(id).kill();
    }
    for id in 1..=3 {
        cluster.node(id).start();
    }
    cluster.leader().await;
    cluster.wait_all_applied().await;
    for node in &cluster.nodes {
        decrypt_all(&cluster.client(node.id), &made).await;
    }

    // Enough writes that the log the new node would need is purged: it gets a snapshot.
    let client = cluster.client(leader);
    for _ in 0..30 {
        create_key(&client).await.unwrap();
    }
    let purged = wait_for("the log purged", Duration::from_secs(30), || async {
        let leader = cluster.leader().await;
        let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
        node.local().await?.purged_index.filter(|&p| p > 20)
    })
    .await;
    let mut fourth = cluster.new_node(4, "");
    fourth.start();
    let add = json!({"NodeId": 4, "Address": fourth.peer_addr()});
    cluster.nodes.push(fourth);
    wait_for("node 4 added", Duration::from_secs(60), || async {
        client.admin("AddNode", &add).await.ok()
    })
    .await;
    cluster.wait_all_applied().await;
    let local = cluster.node(4).local().await.unwrap();
    assert!(
        local.snapshot_index.is_some_and(|s| s >= purged),
        "node 4 caught up without a snapshot: {local:?}"
    );
    // The founders leave, followers first: node 4 alone holds the state it got by snapshot,
    // leads, and its HSM opens every version.
    let entry = cluster.client(4);
    let leader = cluster.leader().await;
    let leaving: Vec<u64> = [1, 2, 3]
        .into_iter()
        .filter(|&id| id != leader)
        .chain([leader])
        .collect();
    for id in leaving {
        let remove = json!({"NodeId": id});
        wait_for("a founder removed", Duration::from_secs(60), || async {
            match entry.admin("RemoveNode", &remove).await {
                Ok(_) => Some(()),
                // A retry after the change committed but its answer was lost.
                Err(e) if e.to_string().contains("is not a member") => Some(()),
                Err(_) => None,
            }
        })
        .await;
        cluster.node(id).kill();
    }
    assert_eq!(cluster.leader().await, 4);
    decrypt_all(&cluster.client(4), &made).await;
}

async fn decrypt_all(client: &trent_client::Client, made: &[Made]) {
    for m in made {
        let out = client
            .kms("Decrypt", &json!({"CiphertextBlob": m.blob}))
            .await
            .unwrap_or_else(|e| panic!("Decrypt through {}: {e}", client.endpoint()));
        assert_eq!(
            out["Plaintext"],
            json!(m.plaintext),
            "{}",
            client.endpoint()
        );
    }
}

/// `trent kms ...` with the test root's credentials: its JSON answer, or its error text.
fn cli(endpoint: &str, args: &[&str]) -> Result<Value, String> {
    let (ok, stdout, stderr) = trent(endpoint, args, None);
    match ok {
        true => Ok(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))),
        false => Err(format!("{stdout}{stderr}")),
    }
}

fn the_cli_rotates(endpoint: &str) {
    let made = cli(endpoint, &["kms", "create-key"]).unwrap();
    let key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let key = key.as_str();
    let status = |expected: bool| {
        let out = cli(
            endpoint,
            &["kms", "get-key-rotation-status", "--key-id", key],
        )
        .unwrap();
        assert_eq!(out["KeyRotationEnabled"], json!(expected), "{out}");
        out
    };
    status(false);
    cli(
        endpoint,
        &[
            "kms",
            "enable-key-rotation",
            "--key-id",
            key,
            "--rotation-period-in-days",
            "180",
        ],
    )
    .unwrap();
    let on = status(true);
    assert_eq!(on["RotationPeriodInDays"], json!(180), "{on}");
    assert!(on["NextRotationDate"].is_number(), "{on}");
    let rotated = cli(endpoint, &["kms", "rotate-key-on-demand", "--key-id", key]).unwrap();
    assert!(
        rotated["KeyId"].as_str().unwrap().ends_with(key),
        "{rotated}"
    );
    let listed = cli(endpoint, &["kms", "list-key-rotations", "--key-id", key]).unwrap();
    assert_eq!(
        listed["Rotations"][0]["RotationType"], "ON_DEMAND",
        "{listed}"
    );
    let all = cli(
        endpoint,
        &[
            "kms",
            "list-key-rotations",
            "--key-id",
            key,
            "--all-key-material",
        ],
    )
    .unwrap();
    assert_eq!(all["Rotations"].as_array().unwrap().len(), 2, "{all}");
    cli(endpoint, &["kms", "disable-key-rotation", "--key-id", key]).unwrap();
    status(false);
    // Refusals reach the CLI user with AWS's code.
    let err = cli(
        endpoint,
        &[
            "kms",
            "enable-key-rotation",
            "--key-id",
            key,
            "--rotation-period-in-days",
            "30",
        ],
    )
    .unwrap_err();
    assert!(err.contains("ValidationException"), "{err}");
    let mac = cli(
        endpoint,
        &[
            "kms",
            "create-key",
            "--key-spec",
            "HMAC_256",
            "--key-usage",
            "GENERATE_VERIFY_MAC",
        ],
    )
    .unwrap();
    let mac = mac["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let err = cli(endpoint, &["kms", "rotate-key-on-demand", "--key-id", &mac]).unwrap_err();
    assert!(err.contains("UnsupportedOperationException"), "{err}");
}
