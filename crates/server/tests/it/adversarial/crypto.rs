//! Items 7 (crypto hygiene) and 9 (backups) of the threat model, against real `trentd`
//! processes. Subnets 150-159.
//!
//! - Every ciphertext is sealed under a key of its own, derived from the key material and a
//!   random salt in the blob (blob format 2), so no key nears the 2^32-message bound of
//!   random GCM nonces; a tampered salt or a format downgrade is refused; a format-1 blob
//!   made by the code before (a fixture, restored from a backup of that code) still opens.
//! - A key deleted after its waiting period leaves the HSM's cache of unwrapped keys at once
//!   on every node (`trent_hsm_cached_keys`), not when the LRU happens to evict it.
//! - A backup with a record moved to another account is refused by the restore, changes
//!   nothing, and the genuine backup still restores afterwards; also when it is staged while
//!   a retried last part proposes its commit unchecked (the commit's apply checks the seal).

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use trent_client::backup::{export, import};
use trent_client::{Client, ClientError};

use crate::harness::{create_key, list_keys, metric, wait_for, TestCluster, TestNode, ACCOUNT};

/// Offset of the salt in a format-2 blob: "TK", format, key id, material version.
const SALT_AT: usize = 2 + 1 + 16 + 4;
const SALT_LEN: usize = 14;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/adversarial/fixtures")
}

fn code(result: Result<Value, ClientError>) -> (String, String) {
    match result.unwrap_err() {
        ClientError::Api { code, message, .. } => (code, message),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn encrypt(client: &Client, key_id: &str, plaintext: &str) -> Vec<u8> {
    let out = client
        .kms("Encrypt", &json!({"KeyId": key_id, "Plaintext": plaintext}))
        .await
        .unwrap();
    B64.decode(out["CiphertextBlob"].as_str().unwrap()).unwrap()
}

async fn decrypt(client: &Client, blob: &[u8]) -> Result<Value, ClientError> {
    client
        .kms("Decrypt", &json!({"CiphertextBlob": B64.encode(blob)}))
        .await
}

/// Writes the format-1 fixture: a backup holding one key, and a blob sealed under that key
/// by the code of the time. Run once, on the commit before format 2 (87a1b51):
/// `cargo test -p trent-server --test it adversarial::crypto::write_format_1_fixture -- --ignored`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes the format-1 fixture; run on the code before blob format 2"]
async fn write_format_1_fixture() {
    let cluster = TestCluster::start(154, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let key_id = create_key(&client).await.unwrap();
    let plaintext = B64.encode(b"sealed by blob format 1");
    let blob = encrypt(&client, &key_id, &plaintext).await;
    assert_eq!(&blob[..3], b"TK\x01");
    let (backup, _) = export(&client).await.unwrap();
    std::fs::create_dir_all(fixtures()).unwrap();
    std::fs::write(fixtures().join("format1.trentbak"), backup).unwrap();
    let fixture =
        json!({"KeyId": key_id, "Plaintext": plaintext, "CiphertextBlob": B64.encode(&blob)});
    let text = serde_json::to_string_pretty(&fixture).unwrap();
    std::fs::write(fixtures().join("format1.json"), text + "\n").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ciphertext_has_a_key_of_its_own_and_format_1_blobs_still_open() {
    let backup = std::fs::read(fixtures().join("format1.trentbak")).unwrap();
    let fixture: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("format1.json")).unwrap()).unwrap();
    let key_id = fixture["KeyId"].as_str().unwrap();
    let old = B64
        .decode(fixture["CiphertextBlob"].as_str().unwrap())
        .unwrap();
    assert_eq!(&old[..3], b"TK\x01", "the fixture is a format-1 blob");

    let cluster = TestCluster::start(150, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    import(&client, &backup).await.unwrap();

    // The blob the old code made opens, and only unaltered.
    let opened = decrypt(&client, &old).await.unwrap();
    assert_eq!(opened["Plaintext"], fixture["Plaintext"]);
    let mut flipped = old.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(
        code(decrypt(&client, &flipped).await).0,
        "InvalidCiphertextException"
    );

    // New blobs under the same material: format 2, a fresh salt each, so a key of their own.
    let plaintext = B64.encode(b"one message");
    let a = encrypt(&client, key_id, &plaintext).await;
    let b = encrypt(&client, key_id, &plaintext).await;
    for blob in [&a, &b] {
        assert_eq!(&blob[..3], b"TK\x02", "a new ciphertext is blob format 2");
        assert_eq!(
            decrypt(&client, blob).await.unwrap()["Plaintext"],
            plaintext
        );
    }
    let salt = |blob: &[u8]| blob[SALT_AT..SALT_AT + SALT_LEN].to_vec();
    assert_ne!(salt(&a), salt(&b), "two ciphertexts share a derived key");

    // A changed salt derives another key: refused. So is the blob passed off as format 1
    // (the material used directly), or as format 1 with its salt cut out.
    let mut salted = a.clone();
    salted[SALT_AT] ^= 1;
    let mut downgraded = a.clone();
    downgraded[2] = 1;
    let mut cut = a[..SALT_AT].to_vec();
    cut[2] = 1;
    cut.extend_from_slice(&a[SALT_AT + SALT_LEN..]);
    for (what, bad) in [("salt", salted), ("format", downgraded), ("cut", cut)] {
        let (code, message) = code(decrypt(&client, &bad).await);
        assert_eq!(code, "InvalidCiphertextException", "{what}: {message}");
    }
}

/// libfaketime, to move the nodes' wall clock past a deletion date.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

async fn cached_keys(node: &TestNode) -> Option<u64> {
    metric(node, "trent_hsm_cached_keys")
        .await
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_key_leaves_the_hsm_cache_at_once() {
    assert!(
        std::path::Path::new(FAKETIME_LIB).exists(),
        "this test needs libfaketime ({FAKETIME_LIB}; apt-get install libfaketime)"
    );
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let mut cluster = TestCluster::start(151, 0, &[]);
    let initial: Vec<String> = (1..=3)
        .map(|id| format!("{id}={}:7701", TestCluster::ip(151, id)))
        .collect();
    for id in 1..=3 {
        let mut node = cluster.new_node(id, &initial.join(","));
        node.env = vec![
            ("LD_PRELOAD".into(), FAKETIME_LIB.into()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                clock.display().to_string(),
            ),
            ("FAKETIME_CACHE_DURATION".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ];
        node.start();
        cluster.nodes.push(node);
    }
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let doomed = create_key(&client).await.unwrap();
    let kept = create_key(&client).await.unwrap();
    for key in [&doomed, &kept] {
        encrypt(&client, key, &B64.encode(b"warm the cache")).await;
    }
    let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    let before = cached_keys(node)
        .await
        .expect("the node exposes trent_hsm_cached_keys");
    assert_eq!(before, 2, "both keys are cached after use");

    client
        .kms(
            "ScheduleKeyDeletion",
            &json!({"KeyId": doomed, "PendingWindowInDays": 7}),
        )
        .await
        .unwrap();
    // Eight days pass on every node's wall clock (monotonic time does not jump).
    std::fs::write(&clock, format!("+{}\n", 8 * 86_400)).unwrap();
    wait_for("the key's deletion", Duration::from_secs(30), || async {
        (cached_keys(node).await? == 1).then_some(())
    })
    .await;
    std::fs::write(&clock, "+0\n").unwrap();
    cluster.wait_all_applied().await;
    // Signed requests work again once the clock is back (SigV4 checks the time).
    let (code, _) = wait_for("signed requests again", Duration::from_secs(30), || async {
        match client.kms("DescribeKey", &json!({"KeyId": doomed})).await {
            Err(ClientError::Api { code, message, .. }) if code == "NotFoundException" => {
                Some((code, message))
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(code, "NotFoundException");
    for node in cluster.running() {
        assert!(
            cached_keys(node).await.unwrap() <= 1,
            "node {} still caches the deleted key",
            node.id
        );
    }
    // The other key is still usable (and cached again on use).
    encrypt(&client, &kept, &B64.encode(b"still here")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_with_a_record_moved_to_another_account_is_refused_and_changes_nothing() {
    let source = TestCluster::start(152, 1, &[]);
    source.leader().await;
    let client = source.client(1);
    let key_id = create_key(&client).await.unwrap();
    let (genuine, _) = export(&client).await.unwrap();

    let forged = forge_owner(&genuine);

    let target = TestCluster::start(153, 1, &[]);
    target.leader().await;
    let client = target.client(1);
    let (code, message) = code(import(&client, &forged).await);
    assert_eq!(code, "ValidationException", "{message}");
    assert!(message.contains("seal"), "{message}");
    assert!(list_keys(&client).await.unwrap().is_empty());
    // Nothing was left half-done: the genuine backup restores.
    import(&client, &genuine).await.unwrap();
    assert_eq!(list_keys(&client).await.unwrap(), vec![key_id]);
}

/// `genuine` with the key record's owner account changed to another (same length, so every
/// length prefix still holds) and the checksum recomputed: only the seal can tell.
fn forge_owner(genuine: &[u8]) -> Vec<u8> {
    // The attacker's edit: the key's owner account becomes theirs (same length, so every
    // length prefix still holds), and the checksum is recomputed.
    let theirs = b"999988887777";
    let ours = ACCOUNT.as_bytes();
    let mut forged = genuine[..genuine.len() - 4].to_vec();
    let moved: Vec<usize> = forged
        .windows(ours.len())
        .enumerate()
        .filter(|(_, w)| *w == ours)
        .map(|(i, _)| i)
        .collect();
    assert!(!moved.is_empty());
    // Only the key record's copies (after the JSON header), not the header's.
    let header_end = 14 + u32::from_be_bytes(forged[10..14].try_into().unwrap()) as usize;
    for at in moved.into_iter().filter(|at| *at > header_end) {
        forged[at..at + ours.len()].copy_from_slice(theirs);
    }
    let crc = crc32fast::hash(&forged);
    forged.extend_from_slice(&crc.to_be_bytes());

    forged
}

/// Item 9, at the commit's apply: the restore's last part is checked by the service before
/// the commit is proposed, but that check and the commit are two steps. A retried last part
/// (same SDK invocation id: its part is answered from memory, not staged again) finds no
/// staging and proposes the commit unchecked; a forged backup staged by another request in
/// that window would be what the commit swaps in, unless apply checks the seal itself. The
/// `restore-finish-pause` fail point holds both requests in that window long enough to
/// order them.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_backup_staged_under_a_retried_commit_is_refused_by_apply() {
    let source = TestCluster::start(156, 1, &[]);
    source.leader().await;
    let client = source.client(1);
    let key_id = create_key(&client).await.unwrap();
    let (genuine, _) = export(&client).await.unwrap();
    let forged = forge_owner(&genuine);

    let mut target = TestCluster::start(155, 0, &[]);
    let mut node = target.new_node(1, &format!("1={}:7701", TestCluster::ip(155, 1)));
    node.env.push((
        "FAILPOINTS".into(),
        "restore-finish-pause=return(2000)".into(),
    ));
    node.start();
    target.nodes.push(node);
    target.leader().await;
    assert!(
        target.nodes[0].log_text().contains("FAILPOINTS armed"),
        "trentd was built without the `failpoints` feature (cargo test --workspace builds it)"
    );
    let client = target.client(1);
    let part = json!({
        "RestoreId": "0b3e6a52-8c1d-4f27-9e55-3a7d1c2b4f60",
        "Part": 0,
        "Parts": 1,
        "Data": B64.encode(&forged),
    });
    let invocation = Some("restore-retried-by-the-attacker");
    let (code_first, message) = code(
        client
            .call_with("TrentAdmin.ImportBackup", &part, invocation)
            .await,
    );
    assert_eq!(code_first, "ValidationException", "{message}");

    // The retry reads no staging and waits 2 s before its unchecked commit; while it waits, a
    // fresh request stages the forged backup again and waits before its own (failing) check.
    let retry = {
        let (client, part) = (client.clone(), part.clone());
        tokio::spawn(async move {
            client
                .call_with("TrentAdmin.ImportBackup", &part, invocation)
                .await
        })
    };
    let node = &target.nodes[0];
    let held = || {
        node.log_text()
            .matches("restore-finish-pause: holding")
            .count()
    };
    wait_for(
        "the retry held before its commit",
        Duration::from_secs(10),
        || async { (held() >= 2).then_some(()) },
    )
    .await;
    let restage = client.admin("ImportBackup", &part).await;
    let retried = retry.await.unwrap();
    assert!(
        retried.is_err() && restage.is_err(),
        "the forged backup was restored: {retried:?} {restage:?}"
    );
    assert!(list_keys(&client).await.unwrap().is_empty());
    // Nothing was swapped in: the cluster is still fresh and the genuine backup restores.
    import(&client, &genuine).await.unwrap();
    assert_eq!(list_keys(&client).await.unwrap(), vec![key_id]);
}
