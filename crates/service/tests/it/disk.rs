//! No plaintext key material anywhere on disk: not in RocksDB (tables, WAL, manifest), not in
//! snapshots, not in logs.

use serde_json::json;
use trent_hsm::MaterialRef;
use trent_model::KeyId;

use crate::harness::*;

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn key_material_never_reaches_disk() {
    let c = Cluster::start(77, 3).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = c.create_key().await;
        c.ok(
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"payload")}),
        )
        .await;
        ids.push(id);
    }
    let leader = c.leader().await;
    // Snapshot on every node, so snapshot files exist too.
    for node in &c.nodes {
        node.service
            .node()
            .raft()
            .trigger()
            .snapshot()
            .await
            .unwrap();
    }
    wait_for(
        "snapshots on every node",
        std::time::Duration::from_secs(10),
        || async {
            c.nodes
                .iter()
                .all(|n| n.data_dir.join("snapshots/current").exists())
                .then_some(())
        },
    )
    .await;

    let mut materials = Vec::new();
    for id in &ids {
        let key_id: KeyId = id.parse().unwrap();
        let record = c
            .node(leader)
            .service
            .node()
            .read_local(|s| s.key(&key_id).cloned())
            .unwrap();
        let m = &record.material[0];
        let plaintext = c.node(leader).hsm.reveal_material_for_test(MaterialRef {
            key_id,
            version: m.version,
            wrapped: &m.blob,
        });
        assert_eq!(plaintext.len(), 32);
        materials.push(plaintext);
    }

    let mut files = Vec::new();
    for node in &c.nodes {
        files_under(&node.data_dir, &mut files);
    }
    assert!(files
        .iter()
        .any(|f| f.to_string_lossy().contains("snapshots")));
    assert!(files
        .iter()
        .any(|f| f.extension().is_some_and(|e| e == "log")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for m in &materials {
            assert!(
                !bytes.windows(m.len()).any(|w| w == &m[..]),
                "plaintext key material found in {}",
                file.display()
            );
        }
    }
    // The scan can see material: the wrapped blobs *are* on disk.
    let wrapped = c.node(leader).service.node().read_local(|s| {
        s.key(&ids[0].parse().unwrap()).unwrap().material[0]
            .blob
            .clone()
    });
    assert!(files.iter().any(|f| {
        let bytes = std::fs::read(f).unwrap();
        bytes.windows(wrapped.len()).any(|w| w == &wrapped[..])
    }));
}
