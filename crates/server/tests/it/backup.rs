//! Backup and restore through the admin target, on real clusters: a backup taken under load
//! holds every write acknowledged before it and restores into a fresh cluster; damaged,
//! tampered or foreign backups, used clusters and non-operators are refused, changing nothing.
//! Subnets 91-94.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use trent_client::backup::{export, import};
use trent_client::{credentials, Client, ClientError};

use crate::harness::{create_key, describe, list_keys, wait_for, TestCluster, TestNode, REGION};

/// A key with an alias and a ciphertext, each acknowledged.
#[derive(Clone)]
struct Written {
    key_id: String,
    alias: String,
    ciphertext: String,
    plaintext: String,
}

#[derive(Default)]
struct Acked {
    keys: Mutex<Vec<String>>,
    written: Mutex<Vec<Written>>,
}

/// Creates keys, aliases and ciphertexts until `stop`; records each once acknowledged.
async fn load(client: Client, worker: usize, acked: Arc<Acked>, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(key_id) = create_key(&client).await else {
            continue;
        };
        acked.keys.lock().unwrap().push(key_id.clone());
        let alias = format!("alias/backup-{worker}-{n}");
        let plaintext = format!("worker {worker} message {n}");
        let plaintext = base64(plaintext.as_bytes());
        let aliased = client
            .kms(
                "CreateAlias",
                &json!({"AliasName": alias, "TargetKeyId": key_id}),
            )
            .await;
        let sealed = client
            .kms("Encrypt", &json!({"KeyId": key_id, "Plaintext": plaintext}))
            .await;
        if let (Ok(_), Ok(sealed)) = (aliased, sealed) {
            acked.written.lock().unwrap().push(Written {
                key_id,
                alias,
                ciphertext: sealed["CiphertextBlob"].as_str().unwrap().to_owned(),
                plaintext,
            });
        }
    }
}

/// Standard base64 with padding, as the AWS JSON protocol carries blobs.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

fn client_as(node: &TestNode, id: &str, secret: &str) -> Client {
    Client::new(&node.api(), REGION, credentials(id, secret)).unwrap()
}

fn code(result: Result<Value, ClientError>) -> (String, String) {
    match result.unwrap_err() {
        ClientError::Api { code, message, .. } => (code, message),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_taken_under_load_restores_into_a_fresh_cluster_with_every_acknowledged_key() {
    let source = TestCluster::start(91, 3, &[]);
    source.leader().await;
    let (acked, stop) = (Arc::new(Acked::default()), Arc::new(AtomicBool::new(false)));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let client = source.client(1 + w as u64 % 3);
            tokio::spawn(load(client, w, acked.clone(), stop.clone()))
        })
        .collect();
    wait_for("writes under load", Duration::from_secs(60), || async {
        (acked.written.lock().unwrap().len() >= 40).then_some(())
    })
    .await;

    // Everything acknowledged so far must be in the backup; writes go on during the export.
    let keys_before = acked.keys.lock().unwrap().clone();
    let written_before = acked.written.lock().unwrap().clone();
    let (blob, header) = export(&source.client(2)).await.unwrap();
    let after_export = acked.keys.lock().unwrap().len();
    wait_for(
        "writes after the export",
        Duration::from_secs(60),
        || async { (acked.keys.lock().unwrap().len() >= after_export + 10).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(&blob[..8], b"TRENTBAK");
    assert_eq!(header["Cluster"], "it");
    assert!(header["Keys"].as_u64().unwrap() >= keys_before.len() as u64);
    assert!(header["LastAppliedIndex"].as_u64().unwrap() > 0);
    // The export time, for people in RFC 3339 (UTC) beside the epoch milliseconds.
    let created_at = header["CreatedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{header}"));
    let parsed =
        time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let millis = (parsed.unix_timestamp_nanos() / 1_000_000) as u64;
    assert_eq!(millis, header["Created"].as_u64().unwrap(), "{header}");

    let target = TestCluster::start(92, 3, &[]);
    target.leader().await;
    let client = target.client(3);
    refuse_damaged_backups(&client, &blob).await;
    assert!(
        list_keys(&client).await.unwrap().is_empty(),
        "refusals change nothing"
    );

    let restored = import(&client, &blob).await.unwrap();
    assert_eq!(restored["Restored"], true, "{restored}");
    let reader = target.client(1);
    for key_id in &keys_before {
        describe(&reader, key_id).await.unwrap();
    }
    for w in &written_before {
        let by_alias = describe(&reader, &w.alias).await.unwrap();
        assert_eq!(by_alias["KeyMetadata"]["KeyId"], w.key_id.as_str());
        let opened = reader
            .kms("Decrypt", &json!({"CiphertextBlob": w.ciphertext}))
            .await
            .unwrap();
        assert_eq!(opened["Plaintext"], w.plaintext.as_str());
    }
    eprintln!(
        "backup under load: {} keys and {} alias+ciphertext sets acknowledged before the export \
         all restored; {} keys acknowledged in all",
        keys_before.len(),
        written_before.len(),
        acked.keys.lock().unwrap().len()
    );
    // The restored cluster is no longer fresh.
    let (code, _) = code(import(&client, &blob).await);
    assert_eq!(code, "KMSInvalidStateException");
}

/// Truncated, damaged, tampered (checksum recomputed) and non-backup files: each refused with
/// a message saying which.
async fn refuse_damaged_backups(client: &Client, blob: &[u8]) {
    let truncated = &blob[..blob.len() - 100];
    let (c, m) = code(import(client, truncated).await);
    assert_eq!(c, "ValidationException");
    assert!(m.contains("damaged") || m.contains("truncated"), "{m}");

    let mut damaged = blob.to_vec();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let (c, m) = code(import(client, &damaged).await);
    assert_eq!(c, "ValidationException");
    assert!(m.contains("checksum"), "{m}");

    let mut tampered = blob[..blob.len() - 4].to_vec();
    let inside_records = tampered.len() - 40;
    tampered[inside_records] ^= 0x01;
    let crc = crc32fast::hash(&tampered);
    tampered.extend_from_slice(&crc.to_be_bytes());
    let (c, m) = code(import(client, &tampered).await);
    assert_eq!(c, "ValidationException");
    assert!(m.contains("seal"), "{m}");

    let (c, m) = code(import(client, b"PK\x03\x04 not a backup at all").await);
    assert_eq!(c, "ValidationException");
    assert!(m.contains("not a trent backup"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_into_a_used_cluster_and_backups_by_non_operators_are_refused() {
    let cluster = TestCluster::start(93, 1, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    let key_id = create_key(&root).await.unwrap();
    root.kms(
        "CreateAlias",
        &json!({"AliasName": "alias/kept", "TargetKeyId": key_id}),
    )
    .await
    .unwrap();
    let (blob, _) = export(&root).await.unwrap();

    let (c, m) = code(import(&root, &blob).await);
    assert_eq!(c, "KMSInvalidStateException");
    assert!(m.contains("fresh") && m.contains("1 key"), "{m}");
    assert_eq!(list_keys(&root).await.unwrap(), vec![key_id.clone()]);
    let alias = describe(&root, "alias/kept").await.unwrap();
    assert_eq!(alias["KeyMetadata"]["KeyId"], key_id.as_str());

    // A user of the operator account, and another account's root, are not the operator.
    root.admin("CreateUser", &json!({"UserName": "bob"}))
        .await
        .unwrap();
    let made = root
        .admin("CreateAccessKey", &json!({"UserName": "bob"}))
        .await
        .unwrap();
    let other = root
        .admin("CreateAccount", &json!({"AccountId": "444455556666"}))
        .await
        .unwrap();
    let node = &cluster.nodes[0];
    for key in [&made["AccessKey"], &other["AccessKey"]] {
        let caller = client_as(
            node,
            key["AccessKeyId"].as_str().unwrap(),
            key["SecretAccessKey"].as_str().unwrap(),
        );
        let (c, m) = code(export(&caller).await.map(|(_, h)| h));
        assert_eq!(c, "AccessDeniedException", "{m}");
        let (c, _) = code(import(&caller, &blob).await);
        assert_eq!(c, "AccessDeniedException");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_under_another_domain_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other_key = dir.path().join("domain-key");
    std::fs::write(&other_key, "ab".repeat(32)).unwrap();
    // A key file only its owner can read (trentd refuses any other).
    std::fs::set_permissions(
        &other_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let other_key = other_key.to_str().unwrap();
    // Two single-node clusters on one subnet: node 1 under another domain key, node 2 under
    // the harness's.
    let mut foreign = TestCluster::start(94, 1, &["--domain-key-file", other_key]);
    let mut source = foreign.new_node(2, &format!("2={}:7701", TestCluster::ip(94, 2)));
    source.start();
    foreign.nodes.push(source);
    wait_for("both clusters ready", Duration::from_secs(30), || async {
        for node in &foreign.nodes {
            node.local()
                .await
                .filter(|l| l.ready && l.leader == Some(node.id))?;
        }
        Some(())
    })
    .await;
    let source = foreign.client(2);
    create_key(&source).await.unwrap();
    let (blob, header) = export(&source).await.unwrap();

    let target = foreign.client(1);
    let (c, m) = code(import(&target, &blob).await);
    assert_eq!(c, "IncorrectKeyException");
    assert!(m.contains("another domain key"), "{m}");
    let fingerprint = header["DomainKeyFingerprint"].as_str().unwrap();
    assert!(m.contains(fingerprint), "{m}");
    assert!(list_keys(&target).await.unwrap().is_empty());
}
