//! The audit trail through real `trentd` processes (issue 25): every call's event, recorded
//! through Raft before the answer, found with LookupEvents through any node, hash-chained,
//! holding no secret the calls carried; refused and unauthenticated calls recorded without a
//! quorum write each.
//!
//! Subnets 197 to 200, 205 to 207.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::{json, Value};
use trent_audit::{Batch, Event};
use trent_client::{credentials, Client};

use crate::harness::*;

const USER_AGENT: &str = "trent-audit-test/1.0";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Sends `input` to `target` through `client`: the `x-amzn-RequestId` answered, the status
/// and the body.
pub(crate) async fn send(client: &Client, target: &str, input: &Value) -> (String, u16, Value) {
    let body = serde_json::to_vec(input).unwrap();
    let response = client
        .request(target, body, SystemTime::now())
        .unwrap()
        .header("user-agent", USER_AGENT)
        // Forged: only the node that terminated TLS may say this (none did: plain HTTP).
        .header("x-trent-tls-version", "TLSv1.3")
        .header("x-trent-tls-cipher", "TLS_FORGED")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let status = response.status().as_u16();
    (id, status, response.json().await.unwrap())
}

/// Every event LookupEvents gives `client`'s account (and attribute), following NextToken
/// with pages of `page`.
pub(crate) async fn lookup(
    client: &Client,
    attribute: Option<(&str, &str)>,
    page: u32,
) -> Vec<Event> {
    let mut input = json!({ "MaxResults": page });
    if let Some((k, v)) = attribute {
        input["LookupAttributes"] = json!([{ "AttributeKey": k, "AttributeValue": v }]);
    }
    let mut events = Vec::new();
    loop {
        let out = client.admin("LookupEvents", &input).await.unwrap();
        for e in out["Events"].as_array().unwrap() {
            let record = e["CloudTrailEvent"].as_str().unwrap();
            let event: Event = serde_json::from_str(record).unwrap();
            assert_eq!(e["EventId"], json!(event.event_id));
            assert_eq!(e["EventName"], json!(event.event_name));
            events.push(event);
        }
        match out.get("NextToken") {
            Some(token) => input["NextToken"] = token.clone(),
            None => return events,
        }
    }
}

/// The events as the chain's batches, oldest first (LookupEvents answers newest first).
pub(crate) fn batches(events: &[Event]) -> Vec<Batch> {
    let mut by_batch: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for e in events {
        let link = e.chain_link().expect("a stored event carries its link");
        by_batch.entry(link.batch).or_default().push(e.clone());
    }
    by_batch
        .into_iter()
        .map(|(seq, mut events)| {
            events.sort_by_key(|e| e.chain_link().unwrap().index);
            Batch {
                seq,
                prev: events[0].chain_link().unwrap().prev,
                events,
            }
        })
        .collect()
}

fn find<'e>(events: &'e [Event], request_id: &str) -> &'e Event {
    let found: Vec<_> = events
        .iter()
        .filter(|e| e.request_id == request_id)
        .collect();
    assert_eq!(found.len(), 1, "exactly one event for request {request_id}");
    found[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_recorded_once_chained_and_without_its_secrets() {
    let cluster = TestCluster::start(197, 3, &[]);
    cluster.leader().await;
    let (c1, c2, c3) = (cluster.client(1), cluster.client(2), cluster.client(3));

    let key = create_key(&c2).await.unwrap();
    let arn = describe(&c1, &key).await.unwrap()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = "plaintext-7f3a91-never-recorded";
    let context = json!({ "purpose": "audit-test" });
    let (encrypt_id, status, encrypted) = send(
        &c3,
        "TrentService.Encrypt",
        &json!({ "KeyId": key, "Plaintext": B64.encode(secret), "EncryptionContext": context }),
    )
    .await;
    assert_eq!(status, 200);
    let blob = encrypted["CiphertextBlob"].as_str().unwrap().to_owned();
    let (decrypt_id, status, _) = send(
        &c1,
        "TrentService.Decrypt",
        &json!({ "CiphertextBlob": blob, "EncryptionContext": context }),
    )
    .await;
    assert_eq!(status, 200);
    let (data_key_id, status, data_key) = send(
        &c2,
        "TrentService.GenerateDataKey",
        &json!({ "KeyId": key, "KeySpec": "AES_256" }),
    )
    .await;
    assert_eq!(status, 200);
    let data_key_plaintext = data_key["Plaintext"].as_str().unwrap().to_owned();
    // Refused after authentication: recorded with the error, not waited for.
    let (refused_id, status, refused) = send(
        &c3,
        "TrentService.Decrypt",
        &json!({ "CiphertextBlob": B64.encode(b"not a ciphertext at all, 7f3a91") }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["__type"], "InvalidCiphertextException");
    // Not authenticated: a known access key with the wrong secret, five times.
    let forger = Client::new(
        &cluster.nodes[0].api(),
        REGION,
        credentials(ROOT_ACCESS_KEY_ID, "wrong-secret-7f3a91-never-recorded"),
    )
    .unwrap();
    for _ in 0..5 {
        assert!(forger.kms("ListKeys", &json!({})).await.is_err());
    }

    // Through a follower, every event of the account, paginated two by two.
    let follower = cluster.leader().await % 3 + 1;
    let events = wait_for(
        "the refusals to be recorded",
        Duration::from_secs(20),
        || {
            let client = cluster.client(follower);
            let refused_id = refused_id.clone();
            async move {
                let events = lookup(&client, None, 2).await;
                let unknown: u64 = events
                    .iter()
                    .filter(|e| e.user_identity.kind == trent_audit::IdentityType::Unknown)
                    .map(coalesced)
                    .sum();
                let refused = events.iter().any(|e| e.request_id == refused_id);
                (refused && unknown == 5).then_some(events)
            }
        },
    )
    .await;

    let encrypt = find(&events, &encrypt_id);
    assert_eq!(encrypt.event_name, "Encrypt");
    assert_eq!(encrypt.event_source, "kms.amazonaws.com");
    assert!(encrypt.read_only);
    assert_eq!(encrypt.error_code, None);
    assert_eq!(encrypt.resources.len(), 1);
    assert_eq!(encrypt.resources[0].arn, arn);
    assert_eq!(encrypt.recipient_account_id, ACCOUNT);
    assert_eq!(
        encrypt.user_identity.access_key_id.as_deref(),
        Some(ROOT_ACCESS_KEY_ID)
    );
    // The client's address, as the node it reached (node 3) saw it.
    assert_eq!(encrypt.source_ip_address, "127.0.0.1");
    assert_eq!(encrypt.user_agent, USER_AGENT);
    let params = encrypt.request_parameters.as_ref().unwrap();
    assert_eq!(params["keyId"], json!(key));
    assert_eq!(params["encryptionContext"], context);
    assert_eq!(encrypt.response_elements, None);
    assert_eq!(
        encrypt.tls_details, None,
        "plain HTTP has no TLS session to record"
    );

    let decrypt = find(&events, &decrypt_id);
    assert_eq!(
        (
            decrypt.event_name.as_str(),
            decrypt.resources[0].arn.as_str()
        ),
        ("Decrypt", arn.as_str())
    );
    assert_eq!(find(&events, &data_key_id).event_name, "GenerateDataKey");
    let refused = find(&events, &refused_id);
    assert_eq!(
        refused.error_code.as_deref(),
        Some("InvalidCiphertextException")
    );

    // No event holds a secret any call carried or was answered.
    for event in &events {
        let text = String::from_utf8(event.canonical_bytes()).unwrap();
        for needle in [
            secret.to_owned(),
            B64.encode(secret),
            blob.clone(),
            data_key_plaintext.clone(),
            "wrong-secret".to_owned(),
            "7f3a91".to_owned(),
        ] {
            assert!(
                !text.contains(&needle),
                "event {} holds {needle}",
                event.event_name
            );
        }
    }

    // The trail is one chain, and every node stored the same one: a new leader answers it.
    let ids: HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "no event listed twice");
    trent_audit::verify_chain(&batches(&events)).unwrap();
    assert_eq!(batches(&events)[0].seq, 0);

    // Every node applied the same trail; the metric says how much of it.
    let recorded = metric(&cluster.nodes[0], "trent_audit_events_total").await;
    assert!(recorded.unwrap() >= events.len() as f64, "{recorded:?}");

    // A lookup attribute: the key's events only.
    let keyed = lookup(&c1, Some(("ResourceName", &key)), 50).await;
    assert!(keyed.len() >= 4);
    assert!(keyed
        .iter()
        .all(|e| e.resources.iter().any(|r| r.arn == arn)));
    let named = lookup(&c1, Some(("EventName", "Encrypt")), 50).await;
    assert_eq!(named.len(), 1);
}

/// What one event stands for: itself, or the refusals coalesced into it.
fn coalesced(e: &Event) -> u64 {
    e.additional_event_data
        .as_ref()
        .and_then(|d| d.service.get("coalescedEvents"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_call_survives_the_loss_of_the_leader_that_answered_it() {
    let mut cluster = TestCluster::start(198, 3, &[]);
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let key = create_key(&client).await.unwrap();
    let (encrypt_id, status, _) = send(
        &client,
        "TrentService.Encrypt",
        &json!({ "KeyId": key, "Plaintext": B64.encode(b"x") }),
    )
    .await;
    assert_eq!(status, 200);
    // At once, before any later write could carry its event: the leader is gone.
    cluster.node(leader).kill();
    let next = cluster.leader().await;
    assert_ne!(next, leader);
    let events = lookup(&cluster.client(next), Some(("EventName", "Encrypt")), 50).await;
    assert_eq!(find(&events, &encrypt_id).resources.len(), 1);
    trent_audit::verify_chain(&batches(&lookup(&cluster.client(next), None, 50).await)).unwrap();
}

/// `trent audit ...` with the test root's credentials: success and its JSON, or the error.
pub(crate) fn audit_cli(endpoint: &str, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = crate::adversarial::files::trent(endpoint, &all, None);
    match ok {
        true => Ok(serde_json::from_str(&stdout).unwrap()),
        false => Err(format!("{stdout}{stderr}")),
    }
}

pub(crate) async fn encrypt(client: &Client, key: &str) {
    let input = json!({ "KeyId": key, "Plaintext": B64.encode(b"x") });
    client.kms("Encrypt", &input).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trail_exports_as_signed_cloudtrail_files_that_verify_and_catch_deletion() {
    let mut cluster = TestCluster::start(199, 3, &[]);
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let key = create_key(&client).await.unwrap();
    for _ in 0..3 {
        encrypt(&client, &key).await;
    }
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap().api();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();

    // Exported through a follower, signed by the leader's HSM, verified offline.
    let first = audit_cli(&follower, &["export", path]).unwrap();
    assert!(first["Events"].as_u64().unwrap() >= 4, "{first}");
    let pem = audit_cli(&follower, &["public-key"]).unwrap()["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first["PublicKey"], json!(pem));
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("audit-public-key.pem");
    std::fs::write(&key_file, &pem).unwrap();
    let key_path = key_file.to_str().unwrap();
    let verified = audit_cli(&follower, &["verify", path, "--public-key", key_path]).unwrap();
    assert_eq!(verified["Events"], first["Events"]);

    // A new leader signs with the same key (one per domain key): the next export continues
    // the same digest chain with only what is new.
    cluster.node(leader).kill();
    let next = cluster.leader().await;
    let client = cluster.client(next);
    encrypt(&client, &key).await;
    encrypt(&client, &key).await;
    let api = cluster.nodes.iter().find(|n| n.id == next).unwrap().api();
    let second = audit_cli(&api, &["export", path]).unwrap();
    assert_eq!(second["Digests"], json!(1), "{second}");
    let events = second["Events"].as_u64().unwrap();
    assert!(events >= first["Events"].as_u64().unwrap() + 2, "{second}");
    let verified = audit_cli(&api, &["verify", path, "--public-key", key_path]).unwrap();
    assert_eq!(verified["Events"].as_u64(), Some(events));
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };

    // A deleted log file: verify names it, and export refuses to extend the directory.
    let log = names(dir.path())
        .into_iter()
        .find(|n| n.contains("_CloudTrail_"))
        .unwrap();
    std::fs::remove_file(dir.path().join(&log)).unwrap();
    let finding = audit_cli(&api, &["verify", path, "--public-key", key_path]).unwrap_err();
    assert!(finding.contains(&log), "{finding}");
    let refused = audit_cli(&api, &["export", path]).unwrap_err();
    assert!(refused.contains("does not verify"), "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_only_what_an_export_holds() {
    let cluster = TestCluster::start(200, 3, &["--audit-retention-events", "5"]);
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let key = create_key(&client).await.unwrap();
    for _ in 0..12 {
        encrypt(&client, &key).await;
    }
    // Over the limit, but nothing is exported: nothing goes, and the leader says why.
    let leader_node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    wait_for(
        "retention to report it is blocked",
        Duration::from_secs(20),
        || async {
            let blocked = metric(leader_node, "trent_audit_retention_blocked").await;
            (blocked == Some(1.0)).then_some(())
        },
    )
    .await;
    let encrypts = lookup(&client, Some(("EventName", "Encrypt")), 50).await;
    assert_eq!(encrypts.len(), 12);

    // Exported (and confirmed): the oldest events leave the cluster, down to the limit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let api = leader_node.api();
    let exported = audit_cli(&api, &["export", path]).unwrap();
    assert!(exported["Events"].as_u64().unwrap() >= 14, "{exported}");
    wait_for(
        "the exported events to be pruned",
        Duration::from_secs(30),
        || async {
            let left = lookup(&client, Some(("EventName", "Encrypt")), 50).await;
            (left.len() < 12).then_some(())
        },
    )
    .await;

    // What was exported still verifies, and the next export continues it.
    let pem = audit_cli(&api, &["public-key"]).unwrap()["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("audit.pem");
    std::fs::write(&key_file, pem).unwrap();
    encrypt(&client, &key).await;
    let again = audit_cli(&api, &["export", path]).unwrap();
    assert!(
        again["Events"].as_u64() > exported["Events"].as_u64(),
        "{again}"
    );
    let key_path = key_file.to_str().unwrap();
    audit_cli(&api, &["verify", path, "--public-key", key_path]).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_over_tls_is_recorded_with_its_session() {
    let mut cluster = TestCluster::start(205, 0, &[]);
    let ip = TestCluster::ip(205, 1);
    let certs = trentd_certs(cluster.dir.path().join("certs"), &format!("1:n1={ip}"));
    let file = |f: &str| certs.join(f).to_str().unwrap().to_owned();
    let mut node = cluster.new_node(1, &format!("1={ip}:7701"));
    node.extra_args = vec![
        "--tls-cert-file".into(),
        file("n1.pem"),
        "--tls-key-file".into(),
        file("n1-key.pem"),
    ];
    node.tls = true;
    node.start();
    cluster.nodes.push(node);
    let ca = trent_client::CaBundle::from_flag_or_env(Some(&certs.join("ca.pem"))).unwrap();
    let credentials = credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET);
    let endpoint = format!("https://{ip}:7700");
    let client = Client::with_ca_bundle(&endpoint, REGION, credentials, ca.as_ref()).unwrap();
    let input = json!({ "LookupAttributes": [
        { "AttributeKey": "EventName", "AttributeValue": "ListKeys" }
    ]});
    wait_for("a call over TLS", Duration::from_secs(30), || async {
        client.kms("ListKeys", &json!({})).await.ok()
    })
    .await;
    // Its event committed before its answer: the lookup finds it.
    let out = client.admin("LookupEvents", &input).await.unwrap();
    let record = out["Events"][0]["CloudTrailEvent"].as_str().unwrap();
    let event: Event = serde_json::from_str(record).unwrap();
    let tls = event.tls_details.expect("a TLS call has tlsDetails");
    assert_eq!(tls.tls_version, "TLSv1.3");
    assert!(tls.cipher_suite.starts_with("TLS_"), "{}", tls.cipher_suite);
    assert_eq!(tls.client_provided_host_header, format!("{ip}:7700"));
}

/// A secret no event may hold, in every blob, credential and free-text member a request can
/// carry; each of the 56 KMS operations and the admin ones are called with it (most refuse
/// the request: refused calls are recorded too).
#[tokio::test(flavor = "multi_thread")]
async fn no_operations_event_holds_the_secrets_its_request_carried() {
    let cluster = TestCluster::start(206, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let key = create_key(&client).await.unwrap();
    let secret = "c2VjcmV0LTdmM2E5MS1ibG9i"; // base64 of "secret-7f3a91-blob"
    let blob_members = [
        "Plaintext",
        "CiphertextBlob",
        "Message",
        "Signature",
        "Mac",
        "PublicKey",
        "EncryptedKeyMaterial",
        "ImportToken",
        "CiphertextForRecipient",
        "SourceCiphertextBlob",
    ];
    let mut ids = Vec::new();
    for op in trent_api::KMS_OPERATIONS {
        let mut input = json!({ "KeyId": key, "GrantTokens": [secret] });
        for member in blob_members {
            input[member] = json!(secret);
        }
        input["KeyStorePassword"] = json!(secret);
        let (id, _, _) = send(&client, &format!("TrentService.{op}"), &input).await;
        ids.push((op.to_string(), id));
    }
    for op in ["CreateAccessKey", "ImportBackup", "PutUserPolicy"] {
        let input = json!({ "UserName": "nobody", "Data": secret, "PolicyDocument": secret });
        let (id, _, _) = send(&client, &format!("TrentAdmin.{op}"), &input).await;
        ids.push((op.to_string(), id));
    }
    let events = lookup(&client, None, 50).await;
    for (op, id) in &ids {
        let event = find(&events, id);
        assert_eq!(&event.event_name, op);
        let text = String::from_utf8(event.canonical_bytes()).unwrap();
        for needle in [secret, "secret-7f3a91"] {
            assert!(
                !text.contains(needle),
                "the event of {op} holds the secret: {text}"
            );
        }
    }
}

/// The error code and message of a refused admin call.
async fn admin_refusal(client: &Client, op: &str, input: Value) -> (String, String) {
    match client.admin(op, &input).await.unwrap_err() {
        trent_client::ClientError::Api { code, message, .. } => (code, message),
        other => panic!("{op}: not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_lookups_and_exports_are_refused_by_name_and_users_need_a_policy() {
    let cluster = TestCluster::start(207, 1, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    let cases = [
        ("LookupEvents", json!({ "MaxResults": 0 }), "maxResults"),
        ("LookupEvents", json!({ "MaxResults": 51 }), "maxResults"),
        (
            "LookupEvents",
            json!({ "StartTime": 20, "EndTime": 10 }),
            "startTime",
        ),
        ("LookupEvents", json!({ "StartTime": -1 }), "startTime"),
        (
            "LookupEvents",
            json!({ "EventCategory": "insight" }),
            "eventCategory",
        ),
        (
            "LookupEvents",
            json!({ "LookupAttributes": [{ "AttributeKey": "Colour", "AttributeValue": "x" }] }),
            "lookupAttributes",
        ),
        (
            "LookupEvents",
            json!({ "LookupAttributes": [
                { "AttributeKey": "EventName", "AttributeValue": "Encrypt" },
                { "AttributeKey": "ReadOnly", "AttributeValue": "true" },
            ] }),
            "lookupAttributes",
        ),
        (
            "ExportAuditTrail",
            json!({ "MaxBatches": 10001 }),
            "maxBatches",
        ),
        (
            "ExportAuditTrail",
            json!({ "PreviousDigest": { "Object": "x", "HashValue": "00", "Signature": "00",
                "LastBatchSeq": 0, "LastBatchHashValue": "zz" } }),
            "previousDigest",
        ),
        (
            "ExportAuditTrail",
            json!({ "PreviousDigest": { "Object": "x", "HashValue": "00", "Signature": "00",
                "LastBatchSeq": 0, "LastBatchHashValue": "00".repeat(32) } }),
            "previousDigest",
        ),
    ];
    for (op, input, field) in cases {
        let (code, message) = admin_refusal(&root, op, input.clone()).await;
        assert_eq!(code, "ValidationException", "{op} {input}: {message}");
        assert!(message.contains(field), "{op} {input}: {message}");
    }
    let (code, _) = admin_refusal(&root, "LookupEvents", json!({ "Colour": 1 })).await;
    assert_eq!(code, "SerializationException");
    for token in ["not-ours", "12", "1.x", "-1.0"] {
        let input = json!({ "NextToken": token });
        let (code, message) = admin_refusal(&root, "LookupEvents", input).await;
        assert_eq!(code, "InvalidNextTokenException", "{token}: {message}");
    }

    // A user needs cloudtrail:LookupEvents in an identity policy; exporting is the
    // operator's (its root, or a user allowed trent:ExportAuditTrail).
    root.admin("CreateUser", &json!({ "UserName": "auditor" }))
        .await
        .unwrap();
    let made = root
        .admin("CreateAccessKey", &json!({ "UserName": "auditor" }))
        .await
        .unwrap();
    let key = &made["AccessKey"];
    let auditor = Client::new(
        &cluster.nodes[0].api(),
        REGION,
        credentials(
            key["AccessKeyId"].as_str().unwrap(),
            key["SecretAccessKey"].as_str().unwrap(),
        ),
    )
    .unwrap();
    for op in ["LookupEvents", "ExportAuditTrail"] {
        let (code, message) = admin_refusal(&auditor, op, json!({})).await;
        assert_eq!(code, "AccessDeniedException", "{op}: {message}");
    }
    let policy = json!({ "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*" }] });
    root.admin(
        "PutUserPolicy",
        &json!({ "UserName": "auditor", "PolicyName": "lookup",
            "PolicyDocument": policy.to_string() }),
    )
    .await
    .unwrap();
    let out = auditor.admin("LookupEvents", &json!({})).await.unwrap();
    assert!(!out["Events"].as_array().unwrap().is_empty());
    let (code, _) = admin_refusal(&auditor, "ExportAuditTrail", json!({})).await;
    assert_eq!(code, "AccessDeniedException");
}
