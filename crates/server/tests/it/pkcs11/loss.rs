//! A leader's token taken away (SoftHSM2's token directory moved, as a device is pulled) and
//! brought back: the node turns unready naming the token, hands leadership to a node whose
//! token works, the cluster goes on serving through every node, and once the token is back
//! the node is ready again and can lead again.
//!
//! Subnet 209.

use std::time::Duration;

use serde_json::{json, Value};

use super::Ceremony;
use crate::harness::*;

/// The node's `/readyz` answer: its status code and body.
async fn readyz(node: &TestNode) -> Option<(u16, Value)> {
    let response = reqwest::get(format!("{}/readyz", node.api())).await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_whose_token_is_pulled_turns_unready_hands_over_and_returns() {
    let ceremony = Ceremony::run(3).await;
    let cluster = ceremony.cluster(209);
    let leader = cluster.leader().await;
    cluster.wait_all_applied().await;
    let client = cluster.client(leader);
    let key_id = create_key(&client).await.unwrap();
    let plaintext = json!({"KeyId": key_id, "Plaintext": "YmVmb3JlIHRoZSBsb3Nz"});
    let sealed = client.kms("Encrypt", &plaintext).await.unwrap();

    let token = &ceremony.tokens[leader as usize - 1];
    let away = token.dir.with_extension("away");
    std::fs::rename(&token.dir, &away).unwrap();
    let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    let reason = wait_for(
        "the node to say its token fails",
        Duration::from_secs(20),
        || async {
            let (code, body) = readyz(node).await?;
            (code == 503).then(|| body["hsm"].as_str().map(str::to_owned))?
        },
    )
    .await;
    assert!(reason.contains("PKCS#11 token"), "{reason}");
    let next = wait_for(
        "leadership to leave the failed token",
        Duration::from_secs(30),
        || {
            let cluster = &cluster;
            async move {
                let local = cluster.nodes[0].local().await?;
                local.leader.filter(|l| *l != leader)
            }
        },
    )
    .await;

    // Every node serves, the one without a token too (it forwards to the new leader).
    for n in &cluster.nodes {
        let opened = n
            .client()
            .kms(
                "Decrypt",
                &json!({"CiphertextBlob": sealed["CiphertextBlob"]}),
            )
            .await
            .unwrap_or_else(|e| panic!("Decrypt through node {}: {e}", n.id));
        assert_eq!(opened["Plaintext"], "YmVmb3JlIHRoZSBsb3Nz");
    }

    // Back: the node is ready again, and can lead again.
    std::fs::rename(&away, &token.dir).unwrap();
    let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    wait_for(
        "the node to be ready again",
        Duration::from_secs(20),
        || async {
            let (code, body) = readyz(node).await?;
            (code == 200 && body["hsm"].is_null()).then_some(())
        },
    )
    .await;
    assert!(node.log_text().contains("PKCS#11 token open again"));
    cluster.make_leader(leader).await;
    let again = cluster
        .client(leader)
        .kms("Encrypt", &plaintext)
        .await
        .unwrap();
    let opened = cluster
        .client(next)
        .kms(
            "Decrypt",
            &json!({"CiphertextBlob": again["CiphertextBlob"]}),
        )
        .await
        .unwrap();
    assert_eq!(opened["Plaintext"], "YmVmb3JlIHRoZSBsb3Nz");
}
