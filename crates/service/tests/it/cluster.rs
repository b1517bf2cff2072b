//! The service on a 3-node cluster: forwarding is invisible, and a key disabled on the
//! leader is refused by every node, also right after a leader change.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_key_is_refused_on_every_node_even_after_a_leader_change() {
    let mut c = Cluster::start(76, 3).await;
    let id = c.create_key().await;
    let encrypted = c
        .ok("Encrypt", json!({"KeyId": id, "Plaintext": b64(b"m")}))
        .await;
    // Every node serves every operation (followers forward to the leader).
    for node in 1..=3 {
        let d = c
            .call_as(
                node,
                &root(),
                "Decrypt",
                json!({"CiphertextBlob": encrypted["CiphertextBlob"]}),
            )
            .await
            .unwrap();
        assert_eq!(unb64(&d["Plaintext"]), b"m");
    }
    let leader = c.leader().await;
    c.call_as(leader, &root(), "DisableKey", json!({"KeyId": id}))
        .await
        .unwrap();
    let blob = encrypted["CiphertextBlob"].clone();
    for node in 1..=3 {
        refused(&c, node, &id, &blob).await;
    }
    // Stop the leader: the new leader must refuse as well, at once.
    c.node(leader).service.node().shutdown().await;
    c.nodes.retain(|n| n.id != leader);
    c.leader().await;
    for node in c.nodes.iter().map(|n| n.id).collect::<Vec<_>>() {
        refused(&c, node, &id, &blob).await;
    }
}

async fn refused(c: &Cluster, node: u64, id: &str, blob: &serde_json::Value) {
    let e = c
        .call_as(
            node,
            &root(),
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"m")}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.aws_code(),
        "DisabledException",
        "node {node}: {}",
        e.message
    );
    let d = c
        .call_as(node, &root(), "Decrypt", json!({"CiphertextBlob": blob}))
        .await
        .unwrap_err();
    assert_eq!(
        d.aws_code(),
        "DisabledException",
        "node {node}: {}",
        d.message
    );
}

/// Concurrent writes share log entries (group commit), and each writer still gets the answer
/// to its own request.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_share_log_entries_and_each_gets_its_own_answer() {
    const WRITERS: usize = 64;
    let c = std::sync::Arc::new(Cluster::start(81, 3).await);
    let leader = c.leader().await;
    let last_index = || {
        c.node(leader)
            .service
            .node()
            .raft()
            .metrics()
            .borrow()
            .last_log_index
            .unwrap_or(0)
    };
    let before = last_index();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let description = format!("writer {i}");
                let created = c
                    .call_as(
                        leader,
                        &root(),
                        "CreateKey",
                        json!({"Description": description}),
                    )
                    .await
                    .unwrap();
                let metadata = &created["KeyMetadata"];
                assert_eq!(metadata["Description"], description.as_str());
                metadata["KeyId"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for writer in writers {
        ids.insert(writer.await.unwrap());
    }
    assert_eq!(ids.len(), WRITERS, "every writer created its own key");
    let entries = last_index() - before;
    assert!(
        entries < WRITERS as u64 / 2,
        "{WRITERS} concurrent writes took {entries} log entries"
    );
    for id in &ids {
        let described = c.ok("DescribeKey", json!({"KeyId": id})).await;
        assert_eq!(described["KeyMetadata"]["KeyId"], id.as_str());
    }
}
