//! Item 5: one tenant cannot exhaust the cluster. An account that floods CreateKey and
//! Encrypt is throttled (`ThrottlingException`, by the leader) while another account is
//! still answered; a resource limit is refused with no state change; concurrent TagResource
//! calls cannot together pass the tag limit. Subnets 130-139.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use trent_client::{Client, ClientError};

use crate::harness::{create_key, list_keys, wait_for, TestCluster, ACCOUNT, REGION};

const TENANT_B: &str = "444455556666";

/// A cluster whose nodes run with `env` over the harness's environment (the harness turns
/// request quotas off for the rest of the suite).
fn cluster_with_env(subnet: u8, n: u64, env: &[(&str, &str)]) -> TestCluster {
    TestCluster::start_with(subnet, n, |node| {
        node.extra_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    })
}

fn client_as(api: &str, key: &Value) -> Client {
    let credentials = trent_client::credentials(
        key["AccessKeyId"].as_str().unwrap(),
        key["SecretAccessKey"].as_str().unwrap(),
    );
    Client::with_timeout(api, REGION, credentials, Duration::from_secs(15)).unwrap()
}

fn is_throttled(e: &ClientError) -> bool {
    matches!(e, ClientError::Api { status: 400, code, .. } if code == "ThrottlingException")
}

/// Sends `burst` requests of `op` at once through every node; how many were throttled and
/// how many succeeded. Any other error fails the test.
async fn burst(clients: &[Client], op: &str, input: &Value, burst: usize) -> (usize, usize) {
    let calls = (0..burst).map(|i| clients[i % clients.len()].kms(op, input));
    let (mut throttled, mut ok) = (0, 0);
    for result in futures::future::join_all(calls).await {
        match result {
            Ok(_) => ok += 1,
            Err(e) if is_throttled(&e) => throttled += 1,
            Err(e) => panic!("{op}: {e}"),
        }
    }
    (throttled, ok)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_accounts_flood_is_throttled_while_another_account_is_answered() {
    let cluster = cluster_with_env(
        130,
        3,
        &[
            ("TRENT_REQUEST_QUOTAS", "true"),
            ("TRENT_QUOTA_CREATE_KEY_RPS", "5"),
            ("TRENT_QUOTA_SYMMETRIC_CRYPTO_RPS", "50"),
        ],
    );
    let leader = cluster.leader().await;
    let root_a: Vec<Client> = cluster.nodes.iter().map(|n| n.client()).collect();
    let opened = root_a[0]
        .admin("CreateAccount", &json!({"AccountId": TENANT_B}))
        .await
        .unwrap();
    let b = client_as(&cluster.nodes[1].api(), &opened["AccessKey"]);
    let key_a = create_key(&root_a[0]).await.unwrap();
    let key_b = create_key(&b).await.unwrap();

    // Tenant A floods CreateKey through every node until the leader throttles it.
    let (throttled, ok) = flood_until_throttled(&root_a, "CreateKey", &json!({})).await;
    assert!(throttled > 0);
    // A throttled CreateKey created nothing: A has exactly the keys it was answered.
    assert_eq!(list_keys(&root_a[0]).await.unwrap().len(), 1 + ok);

    // While A keeps flooding Encrypt, B's CreateKey and Encrypt are answered, every one.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let clients = root_a.clone();
        let stop = stop.clone();
        let input = json!({"KeyId": key_a, "Plaintext": "aGVsbG8="});
        tokio::spawn(async move {
            let mut throttled = 0;
            while !stop.load(Ordering::Relaxed) {
                throttled += burst(&clients, "Encrypt", &input, 60).await.0;
            }
            throttled
        })
    };
    for _ in 0..20 {
        b.kms("Encrypt", &json!({"KeyId": key_b, "Plaintext": "aGVsbG8="}))
            .await
            .unwrap();
    }
    create_key(&b).await.unwrap();
    let (throttled_encrypts, _) = flood_until_throttled(
        &root_a,
        "Encrypt",
        &json!({"KeyId": key_a, "Plaintext": "aGk="}),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let throttled_encrypts = throttled_encrypts + flood.await.unwrap();
    assert!(throttled_encrypts > 0);
    // B was never throttled, and its other operations are answered too.
    assert_eq!(list_keys(&b).await.unwrap().len(), 2);

    // The leader counts throttled requests by account and operation.
    let api = cluster.nodes.iter().find(|n| n.id == leader).unwrap().api();
    let metrics = reqwest::get(format!("{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for op in ["CreateKey", "Encrypt"] {
        let series =
            format!("trent_throttled_requests_total{{account=\"{ACCOUNT}\",operation=\"{op}\"}}");
        assert!(metrics.contains(&series), "no {series} in\n{metrics}");
    }
    assert!(!metrics.contains(&format!("account=\"{TENANT_B}\"")));
}

/// Floods `op` in bursts until some request is throttled (none ever is without quotas);
/// answers (throttled, succeeded) over all bursts.
async fn flood_until_throttled(clients: &[Client], op: &str, input: &Value) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut total = (0, 0);
    while total.0 == 0 {
        assert!(
            Instant::now() < deadline,
            "{op} never throttled after {} requests",
            total.1
        );
        let (throttled, ok) = burst(clients, op, input, 30).await;
        total = (total.0 + throttled, total.1 + ok);
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_hold_against_one_tenant_and_concurrent_tagging() {
    let cluster = TestCluster::start(131, 1, &["--max-keys-per-account", "3"]);
    cluster.leader().await;
    let root = cluster.client(1);
    let mut keys = vec![];
    for _ in 0..3 {
        keys.push(create_key(&root).await.unwrap());
    }
    let err = create_key(&root).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { status: 400, code, .. } if code == "LimitExceededException"),
        "{err}"
    );
    assert_eq!(list_keys(&root).await.unwrap().len(), 3, "no key created");

    // Twenty TagResource calls of ten new tags each, at once, on one key: each fits the
    // 50-tag limit alone; together they must not pass it.
    let key = &keys[0];
    let calls = (0..20).map(|call| {
        let tags: Vec<Value> = (0..10)
            .map(|t| json!({"TagKey": format!("c{call}t{t}"), "TagValue": "v"}))
            .collect();
        let input = json!({"KeyId": key, "Tags": tags});
        let root = &root;
        async move { root.kms("TagResource", &input).await }
    });
    let mut tagged = 0;
    for result in futures::future::join_all(calls).await {
        match result {
            Ok(_) => tagged += 1,
            Err(e) if e.code() == Some("TagException") => {}
            Err(e) => panic!("TagResource: {e}"),
        }
    }
    let listed = root
        .kms("ListResourceTags", &json!({"KeyId": key, "Limit": 50}))
        .await
        .unwrap();
    let count = listed["Tags"].as_array().unwrap().len();
    assert_eq!(listed["Truncated"], json!(false), "more than 50 tags");
    assert!(count <= 50, "{count} tags");
    assert_eq!(count, tagged * 10, "a refused call left tags behind");

    // UntagResource names at most as many tag keys as a key can hold.
    let many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    let err = root
        .kms("UntagResource", &json!({"KeyId": key, "TagKeys": many}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn large_requests_bound_the_log_in_bytes_not_only_entries() {
    // Snapshot after 100,000 entries (the default) or 1 MiB, whichever comes first; keep at
    // most 1 MiB behind the snapshot. The audit trail is off so that the log holds the large
    // entries alone: its batches are compressed (a few hundred bytes for a CreateKey's event),
    // and small entries between the large ones would make the count below depend on where
    // the last snapshot fell.
    let cluster = TestCluster::start(
        132,
        1,
        &[
            "--snapshot-after-log-mb",
            "1",
            "--logs-to-keep-mb",
            "1",
            "--audit-trail=false",
        ],
    );
    cluster.leader().await;
    let root = cluster.client(1);
    // 300 CreateKeys with the largest description: about 2.5 MiB of log in 300 entries.
    let description = "d".repeat(8192);
    for _ in 0..300 {
        root.kms("CreateKey", &json!({"Description": description}))
            .await
            .unwrap();
    }
    let node = &cluster.nodes[0];
    // The log kept (purged index to last index) comes down to what 1 MiB after the snapshot
    // and 1 MiB behind it hold, not 100,000 + 1,000 entries.
    wait_for(
        "a snapshot and a purge by bytes",
        Duration::from_secs(30),
        || async {
            let local = node.local().await?;
            let kept = local.last_log_index? - local.purged_index?;
            (local.snapshot_index? > 0 && kept < 260).then_some(())
        },
    )
    .await;
    // Every key is still there, served from the state and the snapshot.
    assert_eq!(list_keys(&root).await.unwrap().len(), 300);
}
