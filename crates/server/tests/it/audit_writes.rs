//! A write's audit event in the write's own log entry (issue 25; trent_service's
//! `audit_note.rs`, trent_state's `audited.rs`), through real `trentd` processes: one log
//! entry, so one quorum round, per write instead of two; the event holds the outcome `apply`
//! decided, refusals included; a cluster whose voters cannot apply that yet (a rolling
//! upgrade) records each write's event after it, as before.
//!
//! Subnets 220 and 221.

use serde_json::json;
use trent_audit::Event;
use trent_client::Client;

use crate::audit::{batches, lookup, send};
use crate::harness::*;

/// Sequential writes in each test: their entries stand well clear of the few the cluster
/// may append on its own meanwhile.
const WRITES: u64 = 20;

/// The leader's last log index.
async fn last_log_index(cluster: &TestCluster, leader: u64) -> u64 {
    let node = cluster.nodes.iter().find(|n| n.id == leader).unwrap();
    node.local().await.unwrap().last_log_index.unwrap()
}

/// [`WRITES`] UpdateKeyDescription calls of `key` one after another: their request ids and
/// the entries the leader's log grew by meanwhile.
async fn describe_many(cluster: &TestCluster, key: &str) -> (Vec<String>, u64) {
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let before = last_log_index(cluster, leader).await;
    let mut ids = Vec::new();
    for n in 0..WRITES {
        let input = json!({ "KeyId": key, "Description": format!("write {n}") });
        let (id, status, _) = send(&client, "TrentService.UpdateKeyDescription", &input).await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    assert_eq!(cluster.leader().await, leader, "the leader stayed");
    (ids, last_log_index(cluster, leader).await - before)
}

/// A new key's id and ARN.
async fn key_and_arn(client: &Client) -> (String, String) {
    let key = create_key(client).await.unwrap();
    let metadata = &describe(client, &key).await.unwrap()["KeyMetadata"];
    (key, metadata["Arn"].as_str().unwrap().to_owned())
}

/// The one event of request `id` among `events`.
fn event<'e>(events: &'e [Event], id: &str) -> &'e Event {
    let found: Vec<_> = events.iter().filter(|e| e.request_id == id).collect();
    assert_eq!(found.len(), 1, "exactly one event for request {id}");
    found[0]
}

/// Every event of the account, checked to be one chain.
async fn trail(client: &Client) -> Vec<Event> {
    let events = lookup(client, None, 50).await;
    trent_audit::verify_chain(&batches(&events)).unwrap();
    events
}

fn check_success(e: &Event, key: &str, arn: &str) {
    assert_eq!(e.event_name, "UpdateKeyDescription");
    assert_eq!(e.error_code, None);
    assert_eq!(e.error_message, None);
    assert!(!e.read_only);
    assert_eq!(e.resources.len(), 1);
    assert_eq!(e.resources[0].arn, arn);
    assert_eq!(e.recipient_account_id, ACCOUNT);
    assert_eq!(e.request_parameters.as_ref().unwrap()["keyId"], json!(key));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_and_its_event_take_one_log_entry() {
    let cluster = TestCluster::start(220, 3, &[]);
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let (key, arn) = key_and_arn(&client).await;

    let (ids, entries) = describe_many(&cluster, &key).await;
    // Two per write when the event followed its write in an entry of its own.
    assert!(
        entries < WRITES + WRITES / 2,
        "{WRITES} writes took {entries} log entries"
    );
    let events = trail(&client).await;
    for id in &ids {
        check_success(event(&events, id), &key, &arn);
    }

    // Refused before proposing (the key does not exist): the refusal `once.rs` records
    // carries the event.
    let missing = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000";
    let input = json!({ "KeyId": missing, "Description": "x" });
    let (missing_id, status, not_found) =
        send(&client, "TrentService.UpdateKeyDescription", &input).await;
    assert_eq!(
        (status, not_found["__type"].as_str()),
        (400, Some("NotFoundException"))
    );
    // RetireGrant authorizes without the key policy: its event names the key all the same.
    let grant = json!({ "KeyId": key, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:root"), "Operations": ["Encrypt"] });
    let grant_id = client.kms("CreateGrant", &grant).await.unwrap()["GrantId"].clone();
    let input = json!({ "KeyId": key, "GrantId": grant_id });
    let (retire_id, status, _) = send(&client, "TrentService.RetireGrant", &input).await;
    assert_eq!(status, 200);
    // Refused for the key's state: pending deletion.
    let input = json!({ "KeyId": key, "PendingWindowInDays": 7 });
    client.kms("ScheduleKeyDeletion", &input).await.unwrap();
    let input = json!({ "KeyId": key, "Description": "too late" });
    let (pending_id, status, answer) =
        send(&client, "TrentService.UpdateKeyDescription", &input).await;
    assert_eq!(
        (status, answer["__type"].as_str()),
        (400, Some("KMSInvalidStateException"))
    );

    let events = trail(&client).await;
    let retire = event(&events, &retire_id);
    assert_eq!(
        (retire.error_code.as_deref(), retire.resources.len()),
        (None, 1)
    );
    assert_eq!(retire.resources[0].arn, arn);
    assert_eq!(retire.recipient_account_id, ACCOUNT);
    let refused = event(&events, &missing_id);
    assert_eq!(refused.error_code.as_deref(), Some("NotFoundException"));
    assert_eq!(
        refused.error_message.as_deref(),
        not_found["message"].as_str()
    );
    assert!(refused.resources.is_empty());
    let pending = event(&events, &pending_id);
    assert_eq!(
        pending.error_code.as_deref(),
        Some("KMSInvalidStateException")
    );
    assert_eq!(pending.error_message.as_deref(), answer["message"].as_str());
    assert_eq!(pending.resources[0].arn, arn);
    assert_eq!(pending.response_elements, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn voters_that_cannot_apply_it_get_the_event_after_the_write() {
    // Command set 8: the build before a write carried its event.
    let cluster = TestCluster::start_with(221, 3, |node| {
        node.env
            .push(("FAILPOINTS".into(), "command-set=return(8)".into()));
    });
    let leader = cluster.leader().await;
    assert!(
        cluster.nodes[0].log_text().contains("FAILPOINTS armed"),
        "trentd was built without the `failpoints` feature (cargo test --workspace builds it)"
    );
    let client = cluster.client(leader);
    let (key, arn) = key_and_arn(&client).await;
    let (ids, entries) = describe_many(&cluster, &key).await;
    assert!(
        entries >= 2 * WRITES,
        "{WRITES} writes took {entries} log entries: the events rode the writes"
    );
    let events = trail(&client).await;
    for id in &ids {
        check_success(event(&events, id), &key, &arn);
    }
}
