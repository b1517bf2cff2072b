//! The AWS KMS authorization model through real `trentd` nodes, with four principals: the
//! owner (account A's root), alice (a user of A with an identity policy allowing `kms:*`),
//! bob (a user of A with no policy at all) and carol (a user of account B allowing `kms:*`).
//! boto3 (`authorization.py`) runs the policy and grant cases against all three nodes in
//! turn; the Rust SDK checks GetKeyPolicy's exact text and a constrained grant, with and
//! without its token. Every refusal is an attack that must fail: a principal reaching for
//! what no policy or grant gives it.
//!
//! Subnet 183.

use std::path::PathBuf;
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use serde_json::{json, Value};
use trent_client::Client;

use crate::harness::*;
use crate::interop::venv_python;
use crate::sdk::{code, sdk};

const ACCOUNT_B: &str = "444455556666";
const FULL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// Creates `user` in the account `root` signs for, gives it `policy` (if any) and answers its
/// access key id and secret.
async fn user(root: &Client, user: &str, policy: Option<&str>) -> (String, String) {
    root.admin("CreateUser", &json!({"UserName": user}))
        .await
        .unwrap();
    if let Some(policy) = policy {
        let input = json!({"UserName": user, "PolicyName": "kms", "PolicyDocument": policy});
        root.admin("PutUserPolicy", &input).await.unwrap();
    }
    let made = root
        .admin("CreateAccessKey", &json!({"UserName": user}))
        .await
        .unwrap();
    access_key(&made)
}

fn access_key(made: &Value) -> (String, String) {
    let key = &made["AccessKey"];
    (
        key["AccessKeyId"].as_str().unwrap().to_owned(),
        key["SecretAccessKey"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_and_grants_decide_who_uses_a_key_on_every_node() {
    let python = venv_python();
    let cluster = TestCluster::start(183, 3, &[]);
    cluster.leader().await;
    let owner = cluster.client(1);
    let alice = user(&owner, "alice", Some(FULL_KMS)).await;
    let bob = user(&owner, "bob", None).await;
    let b_root = access_key(
        &owner
            .admin("CreateAccount", &json!({"AccountId": ACCOUNT_B}))
            .await
            .unwrap(),
    );
    let b_client = Client::new(
        &cluster.nodes[1].api(),
        REGION,
        trent_client::credentials(&b_root.0, &b_root.1),
    )
    .unwrap();
    let carol = user(&b_client, "carol", Some(FULL_KMS)).await;

    // The Rust SDK: GetKeyPolicy answers exactly what was put; a grant with constraints
    // works for its grantee with and without its token, and only within its constraints.
    let endpoint = |i: usize| cluster.nodes[i % 3].api();
    let owner_sdk = sdk(&endpoint(0), ROOT_ACCESS_KEY_ID, ROOT_SECRET);
    let bob_sdk = sdk(&endpoint(1), &bob.0, &bob.1);
    let key = owner_sdk.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let policy = format!(
        "{{\"Version\": \"2012-10-17\",\n \"Statement\": [{{\"Sid\": \"owner\", \"Effect\": \"Allow\", \
         \"Principal\": {{\"AWS\": \"arn:aws:iam::{ACCOUNT}:root\"}}, \"Action\": \"kms:*\", \"Resource\": \"*\"}}]}}"
    );
    owner_sdk
        .put_key_policy()
        .key_id(&key_id)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let got = sdk(&endpoint(2), ROOT_ACCESS_KEY_ID, ROOT_SECRET)
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), Some(policy.as_str()));
    assert_eq!(got.policy_name(), Some("default"));

    let encrypt = |client: &aws_sdk_kms::Client, ctx: Option<(&str, &str)>, token: Option<&str>| {
        let mut req = client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"secret".to_vec()));
        if let Some((k, v)) = ctx {
            req = req.encryption_context(k, v);
        }
        if let Some(token) = token {
            req = req.grant_tokens(token);
        }
        req.send()
    };
    assert_eq!(
        code(encrypt(&bob_sdk, Some(("app", "x")), None).await),
        "AccessDeniedException",
        "bob has no policy and no grant yet"
    );
    let grant = owner_sdk
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:user/bob"))
        .operations(GrantOperation::Encrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("app", "x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let token = grant.grant_token().unwrap().to_owned();
    encrypt(&bob_sdk, Some(("app", "x")), Some(&token))
        .await
        .unwrap();
    encrypt(&bob_sdk, Some(("app", "x")), None).await.unwrap();
    assert_eq!(
        code(encrypt(&bob_sdk, Some(("app", "y")), None).await),
        "AccessDeniedException",
        "outside the grant's constraint"
    );
    assert_eq!(
        code(encrypt(&bob_sdk, Some(("app", "x")), Some("not-a-token")).await),
        "InvalidGrantTokenException"
    );
    owner_sdk
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(grant.grant_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(encrypt(&bob_sdk, Some(("app", "x")), Some(&token)).await),
        "AccessDeniedException",
        "a revoked grant allows nothing, on the next node at once"
    );

    // boto3: the rest of the cases, through every node.
    let endpoints: Vec<String> = cluster.nodes.iter().map(|n| n.api()).collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/authorization.py");
    let creds = |(id, secret): &(String, String)| format!("{id}:{secret}");
    let (ok, text) = output_of({
        let mut command = Command::new(python);
        command
            .arg(script)
            .env("TRENT_ENDPOINTS", endpoints.join(","))
            .env("TRENT_OWNER", format!("{ROOT_ACCESS_KEY_ID}:{ROOT_SECRET}"))
            .env("TRENT_ALICE", creds(&alice))
            .env("TRENT_BOB", creds(&bob))
            .env("TRENT_CAROL", creds(&carol))
            .env("TRENT_ACCOUNT", ACCOUNT)
            .env("TRENT_ACCOUNT_B", ACCOUNT_B)
            .env("TRENT_REGION", REGION)
            .as_test_root();
        command
    })
    .await;
    assert!(ok, "authorization.py failed:\n{text}");
    assert!(text.contains("all authorization cases passed"), "{text}");
}

/// Sends Encrypt of `key` as `client`, with `headers` added after signing (unsigned, as an
/// attacker adds them); answers the HTTP status and `__type`.
async fn encrypt_with(client: &Client, key: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let body = serde_json::to_vec(&json!({"KeyId": key, "Plaintext": "aGk="})).unwrap();
    let mut request = client
        .request("TrentService.Encrypt", body, std::time::SystemTime::now())
        .unwrap();
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or_default();
    (status, answer["__type"].as_str().unwrap_or("").to_owned())
}

/// `aws:SourceIp` and `aws:SecureTransport` are what the receiving node saw of the
/// connection: a client that claims another address (the header trent's nodes use between
/// themselves) is refused all the same, on every node.
#[tokio::test(flavor = "multi_thread")]
async fn the_source_address_in_a_policy_cannot_be_forged() {
    let cluster = TestCluster::start(184, 3, &[]);
    cluster.leader().await;
    let owner = cluster.client(1);
    let bob = user(&owner, "bob", None).await;
    let key = create_key(&owner).await.unwrap();
    let put = |condition: Value| {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/bob")},
             "Action": "kms:Encrypt", "Resource": "*", "Condition": condition},
        ]});
        let input = json!({"KeyId": key, "Policy": policy.to_string()});
        let owner = &owner;
        async move { owner.kms("PutKeyPolicy", &input).await.unwrap() }
    };
    put(json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})).await;
    for node in &cluster.nodes {
        let bob = Client::new(
            &node.api(),
            REGION,
            trent_client::credentials(&bob.0, &bob.1),
        )
        .unwrap();
        let refused = (400, "AccessDeniedException".to_owned());
        assert_eq!(encrypt_with(&bob, &key, &[]).await, refused);
        let forged = [
            ("x-trent-source-ip", "192.0.2.7"),
            ("x-forwarded-for", "192.0.2.7"),
        ];
        assert_eq!(
            encrypt_with(&bob, &key, &forged).await,
            refused,
            "forged address"
        );
    }
    // The control: the real address (loopback) is what the policy sees.
    put(json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})).await;
    let bob_client = Client::new(
        &cluster.nodes[2].api(),
        REGION,
        trent_client::credentials(&bob.0, &bob.1),
    )
    .unwrap();
    assert_eq!(encrypt_with(&bob_client, &key, &[]).await.0, 200);
    // Plain HTTP here: a policy asking for TLS refuses, whatever the client claims.
    put(json!({"Bool": {"aws:SecureTransport": "true"}})).await;
    let forged = [("x-trent-secure-transport", "true")];
    assert_eq!(
        encrypt_with(&bob_client, &key, &forged).await,
        (400, "AccessDeniedException".to_owned())
    );
}
