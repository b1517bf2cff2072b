//! A running 3-node cluster moved from the soft backend to PKCS#11 tokens under load, losing
//! nothing (issue 26): the tokens get a fresh key from the ceremony; each node is restarted
//! with its token and the old key (`--migrate-from-domain-key-file`); `SwitchDomainKey`
//! (refused while a member lacks the new key); the leader rewraps every key version and
//! access key secret through Raft; each node is restarted with its token alone. Every
//! ciphertext the load was answered decrypts, what was made before (ciphertexts, signatures,
//! MACs, RSA ciphertexts) still opens and verifies, the root's and a user's access keys still
//! authenticate, and the audit trail exported across the switch verifies under both audit keys.
//!
//! Subnet 211.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use trent_client::{credentials, Client};

use super::{secret_file, Ceremony, Token};
use crate::audit::audit_cli;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_running_cluster_moves_from_the_soft_key_to_tokens_under_load_losing_nothing() {
    let ceremony = Ceremony::run(3).await;
    let old_key = secret_file(ceremony.dir.path(), "old-domain-key", DOMAIN_KEY);
    let mut cluster = TestCluster::start(211, 3, &[]);
    let leader = cluster.leader().await;
    let root = cluster.client(leader);
    let before = Before::make(&root).await;
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_path = audit_dir.path().to_str().unwrap().to_owned();
    audit_cli(&cluster.client_api(leader), &["export", &audit_path]).unwrap();
    let old_audit_key = pem_file(&cluster, leader, "old-audit-key.pem");

    // A soft cluster has nothing to switch to: refused, naming the flag, nothing changed.
    let (code, message) = refusal(&root, "SwitchDomainKey").await;
    assert_eq!(code, "KMSInvalidStateException", "{message}");
    assert!(
        message.contains("--migrate-from-domain-key-file"),
        "{message}"
    );

    let load = Load::start(cluster.nodes.iter().map(TestNode::api).collect());
    load.progresses().await;

    // Nodes 1 and 2 restarted with their tokens and the old key; node 3 still soft. A
    // migrating leader refuses to switch while a member lacks the new key.
    for id in [1, 2] {
        restart(
            &mut cluster,
            id,
            &ceremony.tokens,
            &ceremony.pin,
            Some(&old_key),
        )
        .await;
        load.progresses().await;
    }
    // Any migrating leader (a soft one would refuse for its own key, not for node 3's).
    let leader = cluster.make_leader_among(&[1, 2]).await;
    let (code, message) = refusal(&cluster.client(leader), "SwitchDomainKey").await;
    assert_eq!(code, "KMSInvalidStateException", "{message}");
    assert!(message.contains("nodes [3]"), "{message}");
    restart(
        &mut cluster,
        3,
        &ceremony.tokens,
        &ceremony.pin,
        Some(&old_key),
    )
    .await;
    load.progresses().await;

    let leader = cluster.leader().await;
    let status = domain_key(&cluster.client(leader), "DescribeDomainKey").await;
    assert_eq!(status["Switched"], false, "{status}");
    let token_check = status["NewKeyCheckValue"].as_str().unwrap().to_owned();
    assert_ne!(status["KeyCheckValue"], json!(token_check), "{status}");
    assert!(
        status["MaterialUnderOtherKey"].as_u64().unwrap() >= 4,
        "{status}"
    );
    assert!(
        status["SecretsUnderOtherKey"].as_u64().unwrap() >= 2,
        "{status}"
    );

    // Only the operator switches: a user of its account without trent:SwitchDomainKey is
    // refused.
    let user = before.user_client(&cluster.client_api(leader));
    let (code, message) = refusal(&user, "SwitchDomainKey").await;
    assert_eq!(code, "AccessDeniedException", "{message}");

    // A backup held between its header (the soft key's fingerprint) and its seal while the
    // switch lands is refused, not sealed under the token's key: no cluster could restore it.
    let exporter = cluster.client(leader);
    let export = tokio::spawn(async move { exporter.admin("ExportBackup", &json!({})).await });
    // Held wherever it is served (the leader, unless leadership moved meanwhile).
    wait_for(
        "a backup held before its seal",
        Duration::from_secs(30),
        || {
            let held = cluster
                .nodes
                .iter()
                .any(|n| n.log_text().contains("backup-seal-pause: holding"));
            async move { held.then_some(()) }
        },
    )
    .await;

    // The switch, then every blob rewrapped by the leader while the load goes on.
    let switched = domain_key(&cluster.client(leader), "SwitchDomainKey").await;
    assert_eq!(switched["Switched"], true, "{switched}");
    assert_eq!(switched["KeyCheckValue"], json!(token_check), "{switched}");
    // Answered as AWS's ServiceUnavailable, which every SDK retries (the detail stays in the
    // node's log, as for every 503).
    assert!(
        !export.is_finished(),
        "the switch took longer than the backup's pause: the test proves nothing"
    );
    let e = export.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Some("ServiceUnavailable"), "{e}");
    let client = cluster.client(leader);
    wait_for("every blob rewrapped", Duration::from_secs(90), || async {
        let status = domain_key(&client, "DescribeDomainKey").await;
        let done = status["MaterialUnderOtherKey"] == 0 && status["SecretsUnderOtherKey"] == 0;
        done.then_some(())
    })
    .await;
    load.progresses().await;

    // The old key goes: each node restarted with its token alone.
    for id in [1, 2, 3] {
        restart(&mut cluster, id, &ceremony.tokens, &ceremony.pin, None).await;
        load.progresses().await;
    }
    let acknowledged = load.stop().await;
    let leader = cluster.leader().await;
    let root = cluster.client(leader);
    let status = domain_key(&root, "DescribeDomainKey").await;
    assert_eq!(status["KeyCheckValue"], json!(token_check), "{status}");
    assert_eq!(status["MaterialUnderOtherKey"], 0, "{status}");
    assert!(status.get("NewKeyCheckValue").is_none(), "{status}");
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("migrating from the soft domain key"), "{log}");

    for (plaintext, blob) in &acknowledged {
        let opened = root
            .kms("Decrypt", &json!({ "CiphertextBlob": blob }))
            .await
            .unwrap();
        assert_eq!(opened["Plaintext"], json!(plaintext));
    }
    before.still_holds(&root).await;
    // The switch is in the audit trail, once, as the operator's call that changed something.
    let input = json!({ "LookupAttributes": [
        { "AttributeKey": "EventName", "AttributeValue": "SwitchDomainKey" }] });
    let found = root.admin("LookupEvents", &input).await.unwrap();
    let events: Vec<Value> = found["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
        .filter(|e: &Value| e.get("errorCode").is_none())
        .collect();
    assert_eq!(events.len(), 1, "{found}");
    assert_eq!(events[0]["readOnly"], false, "{found}");
    before
        .user_still_authenticates(&cluster.nodes[0].api())
        .await;

    // The trail across the switch: the export continues the directory (verified under the
    // retired key too), and both audit keys verify it; the new one alone does not.
    let api = cluster.client_api(leader);
    audit_cli(&api, &["export", &audit_path]).unwrap();
    let new_audit_key = pem_file(&cluster, leader, "new-audit-key.pem");
    let (old, new) = (
        old_audit_key.to_str().unwrap(),
        new_audit_key.to_str().unwrap(),
    );
    let both = [
        "verify",
        &audit_path,
        "--public-key",
        old,
        "--public-key",
        new,
    ];
    audit_cli(&api, &both).unwrap();
    let alone = audit_cli(&api, &["verify", &audit_path, "--public-key", new]).unwrap_err();
    assert!(alone.contains("another signing key"), "{alone}");
}

/// Restarts node `id` on its token, with the old key while `old_key` is given.
async fn restart(
    cluster: &mut TestCluster,
    id: u64,
    tokens: &[Token],
    pin: &Path,
    old_key: Option<&PathBuf>,
) {
    let node = cluster.node(id);
    node.kill();
    tokens[id as usize - 1].serve(node, pin);
    if let Some(path) = old_key {
        node.extra_args
            .push("--migrate-from-domain-key-file".into());
        node.extra_args.push(path.display().to_string());
        // Holds the test's one ExportBackup across the switch: long enough for the switch on
        // a loaded machine, short enough for the request timeout (raised to 20 s here),
        // which would answer 503 by itself, and the test client's (15 s).
        node.env.push((
            "FAILPOINTS".into(),
            "backup-seal-pause=return(10000)".into(),
        ));
        node.extra_args
            .extend(["--request-timeout-ms".into(), "20000".into()]);
    }
    node.start();
    cluster.leader().await;
    cluster.wait_all_applied().await;
}

/// What exists before the migration: a key of each kind the token serves, with a ciphertext,
/// a signature, a MAC and an RSA ciphertext made under the soft key, and a user's access key.
struct Before {
    aes: String,
    ciphertext: Value,
    ec: String,
    signature: Value,
    hmac: String,
    mac: Value,
    rsa: String,
    rsa_ciphertext: Value,
    user: (String, String),
}

impl Before {
    async fn make(root: &Client) -> Before {
        let create = |spec: &'static str, usage: &'static str| async move {
            let made = root
                .kms("CreateKey", &json!({ "KeySpec": spec, "KeyUsage": usage }))
                .await
                .unwrap();
            made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
        };
        let aes = create_key(root).await.unwrap();
        let ec = create("ECC_NIST_P256", "SIGN_VERIFY").await;
        let hmac = create("HMAC_256", "GENERATE_VERIFY_MAC").await;
        let rsa = create("RSA_2048", "ENCRYPT_DECRYPT").await;
        let plaintext = B64.encode(b"made under the soft key");
        let ciphertext = root
            .kms("Encrypt", &json!({ "KeyId": aes, "Plaintext": plaintext }))
            .await
            .unwrap()["CiphertextBlob"]
            .clone();
        let signature = root
            .kms(
                "Sign",
                &json!({ "KeyId": ec, "Message": plaintext,
                "SigningAlgorithm": "ECDSA_SHA_256" }),
            )
            .await
            .unwrap()["Signature"]
            .clone();
        let mac = root
            .kms(
                "GenerateMac",
                &json!({ "KeyId": hmac, "Message": plaintext,
                "MacAlgorithm": "HMAC_SHA_256" }),
            )
            .await
            .unwrap()["Mac"]
            .clone();
        let rsa_ciphertext = root
            .kms(
                "Encrypt",
                &json!({ "KeyId": rsa, "Plaintext": plaintext,
                "EncryptionAlgorithm": "RSAES_OAEP_SHA_1" }),
            )
            .await
            .unwrap()["CiphertextBlob"]
            .clone();
        root.admin("CreateUser", &json!({ "UserName": "app" }))
            .await
            .unwrap();
        let made = root
            .admin("CreateAccessKey", &json!({ "UserName": "app" }))
            .await
            .unwrap();
        let key = &made["AccessKey"];
        let user = (
            key["AccessKeyId"].as_str().unwrap().to_owned(),
            key["SecretAccessKey"].as_str().unwrap().to_owned(),
        );
        Before {
            aes,
            ciphertext,
            ec,
            signature,
            hmac,
            mac,
            rsa,
            rsa_ciphertext,
            user,
        }
    }

    /// Everything made before opens and verifies under the token's key alone.
    async fn still_holds(&self, root: &Client) {
        let plaintext = json!(B64.encode(b"made under the soft key"));
        let opened = root
            .kms("Decrypt", &json!({ "CiphertextBlob": self.ciphertext }))
            .await
            .unwrap();
        assert_eq!(opened["Plaintext"], plaintext);
        assert!(opened["KeyId"].as_str().unwrap().contains(&self.aes));
        let verified = root
            .kms(
                "Verify",
                &json!({ "KeyId": self.ec, "Message": plaintext,
                "Signature": self.signature, "SigningAlgorithm": "ECDSA_SHA_256" }),
            )
            .await
            .unwrap();
        assert_eq!(verified["SignatureValid"], true);
        let mac = root
            .kms(
                "GenerateMac",
                &json!({ "KeyId": self.hmac, "Message": plaintext,
                "MacAlgorithm": "HMAC_SHA_256" }),
            )
            .await
            .unwrap();
        assert_eq!(mac["Mac"], self.mac, "the same HMAC key in the token");
        let opened = root
            .kms(
                "Decrypt",
                &json!({ "KeyId": self.rsa, "CiphertextBlob": self.rsa_ciphertext,
                "EncryptionAlgorithm": "RSAES_OAEP_SHA_1" }),
            )
            .await
            .unwrap();
        assert_eq!(opened["Plaintext"], plaintext);
        // Material made now is the token's, and works as well.
        let sealed = root
            .kms(
                "Encrypt",
                &json!({ "KeyId": self.aes, "Plaintext": plaintext }),
            )
            .await
            .unwrap();
        let opened = root
            .kms(
                "Decrypt",
                &json!({ "CiphertextBlob": sealed["CiphertextBlob"] }),
            )
            .await
            .unwrap();
        assert_eq!(opened["Plaintext"], plaintext);
    }

    /// The user's secret, rewrapped, still signs: its call is authenticated (and refused by
    /// policy, as a user without one is), not refused as an unknown or bad signature.
    fn user_client(&self, api: &str) -> Client {
        Client::new(api, REGION, credentials(&self.user.0, &self.user.1)).unwrap()
    }

    async fn user_still_authenticates(&self, api: &str) {
        let user = self.user_client(api);
        let refused = user.kms("ListKeys", &json!({})).await.unwrap_err();
        assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused}");
    }
}

/// Encrypt calls as fast as one client goes, on whichever node answers, recording every
/// acknowledged ciphertext; a call no node answers (a restart) is tried again, not counted.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<(String, Value)>>>,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(endpoints: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let clients: Vec<Client> = endpoints
            .iter()
            .map(|api| {
                let creds = credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET);
                Client::with_timeout(api, REGION, creds, Duration::from_secs(5)).unwrap()
            })
            .collect();
        let task = tokio::spawn({
            let (stop, acknowledged, count) = (stop.clone(), acknowledged.clone(), count.clone());
            async move {
                let key_id = loop {
                    if let Ok(key) = create_key(&clients[0]).await {
                        break key;
                    }
                };
                let mut n = 0usize;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let plaintext = B64.encode(format!("load {n}"));
                    let input = json!({ "KeyId": key_id, "Plaintext": plaintext });
                    let client = &clients[n % clients.len()];
                    if let Ok(out) = client.kms("Encrypt", &input).await {
                        let blob = out["CiphertextBlob"].clone();
                        acknowledged.lock().unwrap().push((plaintext, blob));
                        count.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
        });
        Load {
            stop,
            acknowledged,
            count,
            task,
        }
    }

    /// Waits until the load has been answered a few more times.
    async fn progresses(&self) {
        let from = self.count.load(Ordering::Acquire);
        wait_for(
            "the load to be answered",
            Duration::from_secs(60),
            || async { (self.count.load(Ordering::Acquire) >= from + 5).then_some(()) },
        )
        .await;
    }

    async fn stop(self) -> Vec<(String, Value)> {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap();
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() >= 50, "{} answered", acknowledged.len());
        acknowledged
    }
}

async fn domain_key(client: &Client, op: &str) -> Value {
    client.admin(op, &json!({})).await.unwrap()["DomainKey"].clone()
}

async fn refusal(client: &Client, op: &str) -> (String, String) {
    let e = client.admin(op, &json!({})).await.unwrap_err();
    (e.code().unwrap_or_default().to_owned(), e.to_string())
}

/// The cluster's audit public key as the CLI prints it, in a file.
fn pem_file(cluster: &TestCluster, id: u64, name: &str) -> PathBuf {
    let pem = audit_cli(&cluster.client_api(id), &["public-key"]).unwrap()["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = cluster.dir.path().join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

trait Api {
    fn client_api(&self, id: u64) -> String;
}

impl Api for TestCluster {
    fn client_api(&self, id: u64) -> String {
        self.nodes.iter().find(|n| n.id == id).unwrap().api()
    }
}
