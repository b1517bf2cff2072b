//! LookupEvents by `ResourceName` through the trail's resource index, on real `trentd`
//! processes: a key's events, and only its events, newest first, across pages whose
//! `NextToken`s resume inside the index, by key id or ARN, through any leader (each node
//! indexed the trail as it applied it).
//!
//! Subnet 214.

use serde_json::json;
use trent_audit::Event;

use crate::audit::{encrypt, lookup};
use crate::harness::*;

/// The request ids of `events`, in order.
fn request_ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.request_id.clone()).collect()
}

/// The events of the whole trail (no attribute) that name `key`, newest first.
async fn scanned(client: &trent_client::Client, key: &str) -> Vec<Event> {
    lookup(client, None, 50)
        .await
        .into_iter()
        .filter(|e| e.resources.iter().any(|r| r.arn.ends_with(key)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keys_events_are_found_through_the_index_page_by_page_and_on_every_leader() {
    let mut cluster = TestCluster::start(214, 3, &[]);
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    let (busy, other, quiet) = (
        create_key(&client).await.unwrap(),
        create_key(&client).await.unwrap(),
        create_key(&client).await.unwrap(),
    );
    // The busy key's calls among twice as many of another key's.
    for _ in 0..15 {
        encrypt(&client, &busy).await;
        encrypt(&client, &other).await;
        encrypt(&client, &other).await;
    }

    let expected = scanned(&client, &busy).await;
    assert_eq!(expected.len(), 16, "CreateKey and 15 Encrypts");
    // Pages of 4 resume in the index where the last one stopped: nothing lost or repeated.
    let by_id = lookup(&client, Some(("ResourceName", &busy)), 4).await;
    assert_eq!(request_ids(&by_id), request_ids(&expected));
    assert_eq!(by_id.last().unwrap().event_name, "CreateKey");
    let times: Vec<_> = by_id.iter().map(|e| e.event_time).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let arn = by_id[0].resources[0].arn.clone();
    assert!(arn.ends_with(&busy));
    let by_arn = lookup(&client, Some(("ResourceName", &arn)), 7).await;
    assert_eq!(request_ids(&by_arn), request_ids(&expected));
    let quiet_events = lookup(&client, Some(("ResourceName", &quiet)), 50).await;
    assert_eq!(
        request_ids(&quiet_events),
        request_ids(&scanned(&client, &quiet).await)
    );
    assert_eq!(quiet_events.len(), 1, "its CreateKey only");

    // A window: only the events at or after the 8th newest's second.
    let eighth = expected[7].event_time.unix_timestamp();
    let input = json!({
        "StartTime": eighth,
        "LookupAttributes": [{ "AttributeKey": "ResourceName", "AttributeValue": busy }],
    });
    let out = client.admin("LookupEvents", &input).await.unwrap();
    let windowed = out["Events"].as_array().unwrap();
    let in_window = expected
        .iter()
        .filter(|e| e.event_time.unix_timestamp() >= eighth)
        .count();
    assert_eq!(windowed.len(), in_window);

    // Another node, leading now, answers the same from its own index.
    cluster.node(leader).kill();
    let next = cluster.leader().await;
    let client = cluster.client(next);
    let after = lookup(&client, Some(("ResourceName", &busy)), 5).await;
    // The new leader's own calls (none name the key) do not change the key's events.
    assert_eq!(request_ids(&after), request_ids(&expected));
}
