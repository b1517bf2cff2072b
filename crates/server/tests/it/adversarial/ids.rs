//! Item 6, "a request id belongs to its caller", and item 4, "what the operator deletes
//! stays deleted".
//!
//! The attacks: an `Authorization` header that names the victim's access key in one
//! `Credential=` and the attacker's in another (the node that received it derived the
//! request id from the first, the verifier used the last), so the attacker's correctly
//! signed request shares the victim's request id and is answered the victim's remembered
//! response; a retried CreateAccessKey answered a fresh secret that was never stored; and a
//! deleted root access key came back at the next start because trentd bootstrapped it from
//! its environment every time.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};
use trent_client::{credentials, Client};

use crate::harness::*;

fn client_as(node: &TestNode, id: &str, secret: &str) -> Client {
    Client::new(&node.api(), REGION, credentials(id, secret)).unwrap()
}

/// A follower of the cluster (the node that derived the id in the unfixed code).
async fn follower(cluster: &TestCluster) -> &TestNode {
    let leader = cluster.leader().await;
    cluster.nodes.iter().find(|n| n.id != leader).unwrap()
}

/// Sends `request` (signed by `signer`) with its `Authorization` header rewritten by
/// `rewrite` and extra `headers`; returns the status and the JSON body.
async fn send_rewritten(
    signer: &Client,
    target: &str,
    body: &Value,
    headers: &[(&str, &str)],
    rewrite: impl Fn(&str) -> Vec<String>,
) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let mut request = signer
        .request(target, body, SystemTime::now())
        .unwrap()
        .build()
        .unwrap();
    let original = request.headers()[AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned();
    request.headers_mut().remove(AUTHORIZATION);
    for value in rewrite(&original) {
        request
            .headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
    }
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let response = reqwest::Client::new().execute(request).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Turns the signed `Authorization` header into the headers sent.
type Rewrite<'a> = Box<dyn Fn(&str) -> Vec<String> + 'a>;

/// `auth` with `element` (`Credential=...` etc.) inserted before its own elements.
fn with_leading(auth: &str, element: &str) -> String {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").unwrap();
    format!("AWS4-HMAC-SHA256 {element}, {rest}")
}

fn with_trailing(auth: &str, element: &str) -> String {
    format!("{auth}, {element}")
}

fn credential_of(access_key_id: &str) -> String {
    // The date does not matter: the header is refused (or, unfixed, this element ignored).
    format!("Credential={access_key_id}/20260101/{REGION}/kms/aws4_request")
}

/// An attacker (the root of another account) sends correctly signed requests that name the
/// victim's access key in a second `Credential=`, or repeat another SigV4 element, or the
/// whole header: each is refused by name. And with a single, honest `Credential=` but the
/// victim's SDK invocation id and target, the attacker gets an answer of its own, nothing
/// of the victim's remembered response.
#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_response_answers_only_its_own_caller() {
    let cluster = TestCluster::start(140, 3, &[]);
    let node = follower(&cluster).await;
    let victim = node.client();
    let opened = victim
        .admin("CreateAccount", &json!({"AccountId": "444455556666"}))
        .await
        .unwrap();
    let attacker_id = opened["AccessKey"]["AccessKeyId"].as_str().unwrap();
    let attacker_secret = opened["AccessKey"]["SecretAccessKey"].as_str().unwrap();
    let attacker = client_as(node, attacker_id, attacker_secret);

    // The victim's CreateKey, remembered under its invocation id.
    let invocation = "6f2d1c9e-victim-invocation";
    let secret_description = "victim: payroll master key";
    let made = victim
        .call_with(
            "TrentService.CreateKey",
            &json!({"Description": secret_description}),
            Some(invocation),
        )
        .await
        .unwrap();
    let victim_key = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let leaks = |body: &Value| {
        let text = body.to_string();
        text.contains(&victim_key) || text.contains(secret_description)
    };

    let victim_credential = credential_of(ROOT_ACCESS_KEY_ID);
    let target = "TrentService.CreateKey";
    let input = json!({});
    let sdk = [("amz-sdk-invocation-id", invocation)];
    let fake_signature = format!("Signature={}", "0".repeat(64));
    let cases: Vec<(&str, Rewrite)> = vec![
        (
            "Credential",
            Box::new(|a: &str| vec![with_leading(a, &victim_credential)]),
        ),
        (
            "Credential",
            Box::new(|a: &str| vec![with_trailing(a, &victim_credential)]),
        ),
        (
            "SignedHeaders",
            Box::new(|a: &str| vec![with_leading(a, "SignedHeaders=host;x-amz-date")]),
        ),
        (
            "Signature",
            Box::new(|a: &str| vec![with_leading(a, &fake_signature)]),
        ),
        (
            "Authorization",
            Box::new(|a: &str| {
                let victims = a.replacen(
                    &format!("Credential={attacker_id}"),
                    &format!("Credential={ROOT_ACCESS_KEY_ID}"),
                    1,
                );
                vec![victims, a.to_owned()]
            }),
        ),
    ];
    for (element, rewrite) in &cases {
        let (status, body) = send_rewritten(&attacker, target, &input, &sdk, rewrite).await;
        assert!(
            !leaks(&body),
            "{element}: the victim's response leaked: {body}"
        );
        assert_eq!(status, 400, "{element}: not refused: {body}");
        assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(element) && message.contains("more than once"),
            "{element}: {message}"
        );
    }

    // Honest header, the victim's invocation id and target: a key of the attacker's own.
    let own = attacker
        .call_with(target, &input, Some(invocation))
        .await
        .unwrap();
    assert!(!leaks(&own), "the victim's response leaked: {own}");
    assert!(
        own["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .contains(":444455556666:"),
        "{own}"
    );
    // The victim's own retry still answers the victim's key, once.
    let again = victim
        .call_with(
            target,
            &json!({"Description": secret_description}),
            Some(invocation),
        )
        .await
        .unwrap();
    assert_eq!(again["KeyMetadata"]["KeyId"], victim_key.as_str());
    assert_eq!(list_keys(&victim).await.unwrap(), vec![victim_key.clone()]);
}

/// A retried CreateAccessKey or CreateAccount (same SDK invocation id, through a follower)
/// answers the secret that was stored the first time, and that secret signs requests.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_create_access_key_answers_the_stored_secret() {
    let cluster = TestCluster::start(141, 3, &[]);
    let node = follower(&cluster).await;
    let root = node.client();
    for (target, input, invocation) in [
        (
            "TrentAdmin.CreateAccessKey",
            json!({}),
            "retry-of-create-key",
        ),
        (
            "TrentAdmin.CreateAccount",
            json!({"AccountId": "777788889999"}),
            "retry-of-create-account",
        ),
    ] {
        let first = root
            .call_with(target, &input, Some(invocation))
            .await
            .unwrap();
        let retried = root
            .call_with(target, &input, Some(invocation))
            .await
            .unwrap();
        assert_eq!(first, retried, "{target}: the retry answered another key");
        let key = &retried["AccessKey"];
        let client = client_as(
            &cluster.nodes[0],
            key["AccessKeyId"].as_str().unwrap(),
            key["SecretAccessKey"].as_str().unwrap(),
        );
        client
            .kms("ListKeys", &json!({}))
            .await
            .unwrap_or_else(|e| panic!("{target}: the answered secret does not work: {e}"));
    }
    let keys = root.admin("ListAccessKeys", &json!({})).await.unwrap();
    assert_eq!(keys["AccessKeys"].as_array().unwrap().len(), 2, "{keys}");
}

/// The operator deletes the bootstrapped root access key (say it leaked) and restarts every
/// node with the bootstrap variables still set: the key stays deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_root_access_key_is_not_bootstrapped_again() {
    let mut cluster = TestCluster::start(142, 3, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    let made = root.admin("CreateAccessKey", &json!({})).await.unwrap();
    let new_id = made["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_secret = made["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let replacement = client_as(&cluster.nodes[1], &new_id, &new_secret);
    replacement
        .admin(
            "DeleteAccessKey",
            &json!({"AccessKeyId": ROOT_ACCESS_KEY_ID}),
        )
        .await
        .unwrap();
    let err = root.kms("ListKeys", &json!({})).await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err}");
    cluster.wait_all_applied().await;

    for id in 1..=3 {
        cluster.node(id).kill();
    }
    for id in 1..=3 {
        cluster.node(id).start();
    }
    cluster.leader().await;
    for node in &cluster.nodes {
        let replacement = client_as(node, &new_id, &new_secret);
        wait_for(
            &format!("node {} to serve the replacement key", node.id),
            Duration::from_secs(30),
            || async { replacement.kms("ListKeys", &json!({})).await.ok() },
        )
        .await;
        let err = node.client().kms("ListKeys", &json!({})).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some("UnrecognizedClientException"),
            "node {}: the deleted root key is back: {err}",
            node.id
        );
    }
    let keys = replacement
        .admin("ListAccessKeys", &json!({}))
        .await
        .unwrap();
    let ids: Vec<&str> = keys["AccessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["AccessKeyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![new_id.as_str()]);
}
