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

/// Every file under `dirs` with its bytes, read from one listing; `None` when a listed file
/// is gone before it is read (RocksDB deletes, and renames a WAL file it reuses, while the
/// nodes run), so the caller lists again and nothing renamed is missed.
fn read_every_file(dirs: &[std::path::PathBuf]) -> Option<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    for dir in dirs {
        files_under(dir, &mut files);
    }
    let mut read = Vec::new();
    for file in files {
        match std::fs::read(&file) {
            Ok(bytes) => read.push((file, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("{}: {e}", file.display()),
        }
    }
    Some(read)
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

    let dirs: Vec<_> = c.nodes.iter().map(|n| n.data_dir.clone()).collect();
    let files = wait_for(
        "one listing of the data dirs read in full",
        std::time::Duration::from_secs(10),
        || async { read_every_file(&dirs) },
    )
    .await;
    assert!(files
        .iter()
        .any(|(f, _)| f.to_string_lossy().contains("snapshots")));
    assert!(files
        .iter()
        .any(|(f, _)| f.extension().is_some_and(|e| e == "log")));
    for (file, bytes) in &files {
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
    assert!(files
        .iter()
        .any(|(_, bytes)| bytes.windows(wrapped.len()).any(|w| w == &wrapped[..])));
}
