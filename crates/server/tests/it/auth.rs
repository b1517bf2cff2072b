//! Authentication and account isolation over the wire: every request is SigV4-verified on
//! the leader, and a refused request changes nothing.

use std::time::{Duration, SystemTime};

use serde_json::json;
use trent_client::{credentials, Client, ClientError};

use crate::harness::*;

fn client_as(node: &TestNode, id: &str, secret: &str) -> Client {
    Client::new(&node.api(), REGION, credentials(id, secret)).unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-amzn-requestid"));
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_forged_expired_and_tampered_requests_are_refused_without_effect() {
    let cluster = TestCluster::start(63, 3, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    let before = list_keys(&root).await.unwrap().len();
    let create = b"{}".to_vec();

    // No signature at all.
    let unsigned = reqwest::Client::new()
        .post(format!("{}/", cluster.nodes[1].api()))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.CreateKey")
        .body(create.clone());
    let (status, body) = send(unsigned).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (403, Some("MissingAuthenticationTokenException"))
    );

    // Unknown access key; known key with the wrong secret.
    let stranger = client_as(&cluster.nodes[2], "TKIAUNKNOWN000000000", ROOT_SECRET);
    let err = stranger.kms("CreateKey", &json!({})).await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err}");
    let forger = client_as(&cluster.nodes[0], ROOT_ACCESS_KEY_ID, "not-the-secret");
    let err = forger.kms("CreateKey", &json!({})).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err}");

    // Signed ten minutes ago (a replay outside the window), or ten minutes ahead.
    for skew in [-600i64, 600] {
        let time = match skew < 0 {
            true => SystemTime::now() - Duration::from_secs(600),
            false => SystemTime::now() + Duration::from_secs(600),
        };
        let request = root
            .request("TrentService.CreateKey", create.clone(), time)
            .unwrap();
        let (status, body) = send(request).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (400, Some("InvalidSignatureException"))
        );
        // AWS's words: "Signature expired: <t> is now earlier than ..." for a past time,
        // "Signature not yet current: <t> is still later than ..." for a future one.
        let says = match skew < 0 {
            true => "Signature expired: ",
            false => "Signature not yet current: ",
        };
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{body}");
        assert!(message.ends_with(" min.)"), "{body}");
    }

    // A body changed after signing.
    let signed = root
        .request("TrentService.CreateKey", create.clone(), SystemTime::now())
        .unwrap()
        .body(br#"{"Description":"tampered"}"#.to_vec());
    let (status, body) = send(signed).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidSignatureException"))
    );

    // A request replayed within the window is a new call (AWS's semantics too); outside
    // it, refused above. Nothing refused created a key.
    assert_eq!(list_keys(&root).await.unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_are_isolated_and_users_act_within_theirs() {
    let cluster = TestCluster::start(64, 3, &[]);
    cluster.leader().await;
    let root_a = cluster.client(1);
    let opened = root_a
        .admin("CreateAccount", &json!({"AccountId": "444455556666"}))
        .await
        .unwrap();
    let key_b = &opened["AccessKey"];
    assert_eq!(key_b["Arn"], "arn:aws:iam::444455556666:root");
    let root_b = client_as(
        &cluster.nodes[1],
        key_b["AccessKeyId"].as_str().unwrap(),
        key_b["SecretAccessKey"].as_str().unwrap(),
    );
    // Only the operator opens accounts.
    let err = root_b
        .admin("CreateAccount", &json!({"AccountId": "777788889999"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");

    // A user of account A, with its own access key.
    root_a
        .admin("CreateUser", &json!({"UserName": "alice"}))
        .await
        .unwrap();
    let made = root_a
        .admin("CreateAccessKey", &json!({"UserName": "alice"}))
        .await
        .unwrap();
    let alice = client_as(
        &cluster.nodes[2],
        made["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        made["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    // Without an identity policy a user may do nothing with keys (the default key policy
    // delegates to identity policies); with one allowing kms:*, everything in its account.
    let err = create_key(&alice).await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");
    let full = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    root_a
        .admin(
            "PutUserPolicy",
            &json!({"UserName": "alice", "PolicyName": "kms", "PolicyDocument": full}),
        )
        .await
        .unwrap();
    let alice = client_as(
        &cluster.nodes[2],
        made["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        made["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let key_a = create_key(&alice).await.unwrap();
    let b_key = create_key(&root_b).await.unwrap();
    let b_arn = format!("arn:aws:kms:{REGION}:444455556666:key/{b_key}");

    // Alice uses A's keys, and cannot see or use B's.
    alice
        .kms("Encrypt", &json!({"KeyId": key_a, "Plaintext": "aGk="}))
        .await
        .unwrap();
    for (op, input) in [
        ("DescribeKey", json!({"KeyId": b_arn})),
        ("Encrypt", json!({"KeyId": b_arn, "Plaintext": "aGk="})),
        ("DisableKey", json!({"KeyId": b_arn})),
    ] {
        let err: ClientError = alice.kms(op, &input).await.unwrap_err();
        assert_eq!(err.code(), Some("AccessDeniedException"), "{op}: {err}");
    }
    let err = alice
        .kms("DescribeKey", &json!({"KeyId": b_key}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"), "{err}");
    let listed = list_keys(&alice).await.unwrap();
    assert!(
        listed.contains(&key_a) && !listed.contains(&b_key),
        "{listed:?}"
    );
    let b_state = describe(&root_b, &b_key).await.unwrap();
    assert_eq!(b_state["KeyMetadata"]["KeyState"], "Enabled");

    // Users do not manage principals or the cluster.
    let err = alice.admin("ListUsers", &json!({})).await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");
    let err = alice
        .admin("GetClusterStatus", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");

    // A deleted access key stops working at once, on every node.
    let alice_id = made["AccessKey"]["AccessKeyId"].as_str().unwrap();
    root_a
        .admin("DeleteAccessKey", &json!({"AccessKeyId": alice_id}))
        .await
        .unwrap();
    let err = alice.kms("ListKeys", &json!({})).await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err}");
}
