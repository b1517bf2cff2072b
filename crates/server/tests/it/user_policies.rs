//! Users' inline identity policies through real trentd nodes: IAM's four operations with their
//! exact texts and refusals, and the admin target authorized by them (principal management
//! by `iam:<Operation>`, cluster operations by `trent:<Operation>`), where an explicit deny
//! wins and a change acknowledged on one node holds at once on every other.

use serde_json::{json, Value};
use trent_client::{credentials, Client, ClientError};

use crate::harness::*;

const ARN: &str = "arn:aws:iam::111122223333";

fn client_as(node: &TestNode, key: &Value) -> Client {
    let key = &key["AccessKey"];
    Client::new(
        &node.api(),
        REGION,
        credentials(
            key["AccessKeyId"].as_str().unwrap(),
            key["SecretAccessKey"].as_str().unwrap(),
        ),
    )
    .unwrap()
}

fn api_error(err: ClientError) -> (String, String) {
    match err {
        ClientError::Api { code, message, .. } => (code, message),
        other => panic!("not an API error: {other}"),
    }
}

async fn refused(client: &Client, op: &str, input: Value) -> (String, String) {
    api_error(client.admin(op, &input).await.unwrap_err())
}

fn allow(actions: &[&str], resource: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions, "Resource": resource,
    }]})
    .to_string()
}

fn deny(actions: &[&str], resource: &str) -> String {
    allow(actions, resource).replace("\"Allow\"", "\"Deny\"")
}

async fn put(
    client: &Client,
    user: &str,
    name: &str,
    document: &str,
) -> Result<Value, ClientError> {
    let input = json!({"UserName": user, "PolicyName": name, "PolicyDocument": document});
    client.admin("PutUserPolicy", &input).await
}

async fn names(client: &Client, user: &str) -> Vec<String> {
    let listed = client
        .admin("ListUserPolicies", &json!({"UserName": user}))
        .await
        .unwrap();
    serde_json::from_value(listed["PolicyNames"].clone()).unwrap()
}

async fn users(client: &Client) -> Vec<String> {
    let listed = client.admin("ListUsers", &json!({})).await.unwrap();
    listed["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_policies_round_trip_with_iams_texts_and_refusals() {
    let cluster = TestCluster::start(180, 1, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    root.admin("CreateUser", &json!({"UserName": "alice"}))
        .await
        .unwrap();

    // Put, then get exactly what was put, white space and all.
    let document = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \
                    \"Action\": \"kms:Encrypt\",   \"Resource\": \"*\"}\n}";
    assert_eq!(
        put(&root, "alice", "enc", document).await.unwrap(),
        json!({})
    );
    let got = root
        .admin(
            "GetUserPolicy",
            &json!({"UserName": "alice", "PolicyName": "enc"}),
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        json!({"UserName": "alice", "PolicyName": "enc", "PolicyDocument": document})
    );

    // Pagination, IAM's way: MaxItems, IsTruncated, Marker.
    for name in ["c", "a", "b"] {
        put(&root, "alice", name, &allow(&["kms:Decrypt"], "*"))
            .await
            .unwrap();
    }
    let first = root
        .admin(
            "ListUserPolicies",
            &json!({"UserName": "alice", "MaxItems": 2}),
        )
        .await
        .unwrap();
    assert_eq!(first["PolicyNames"], json!(["a", "b"]));
    assert_eq!(first["IsTruncated"], true);
    let marker = first["Marker"].as_str().unwrap();
    let second = root
        .admin(
            "ListUserPolicies",
            &json!({"UserName": "alice", "MaxItems": 2, "Marker": marker}),
        )
        .await
        .unwrap();
    assert_eq!(
        second,
        json!({"PolicyNames": ["c", "enc"], "IsTruncated": false})
    );
    let (code, message) = refused(
        &root,
        "ListUserPolicies",
        json!({"UserName": "alice", "MaxItems": 0}),
    )
    .await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("'maxItems'"), "{message}");

    // A malformed document is refused naming the problem, and changes nothing.
    let before = names(&root, "alice").await;
    for (bad, says) in [
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt"}]}"#,
            "Policy statement must contain resources.",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
            "Policy document should not specify a principal.",
        ),
        ("not json", "The policy document is not a JSON object"),
    ] {
        for name in ["enc", "new"] {
            let err = put(&root, "alice", name, bad).await.unwrap_err();
            let (code, message) = api_error(err);
            assert_eq!(code, "MalformedPolicyDocumentException", "{bad}");
            assert!(message.starts_with(says), "{bad}: {message}");
        }
    }
    assert_eq!(names(&root, "alice").await, before);
    let got = root
        .admin(
            "GetUserPolicy",
            &json!({"UserName": "alice", "PolicyName": "enc"}),
        )
        .await
        .unwrap();
    assert_eq!(got["PolicyDocument"], document);

    // IAM's aggregate quota per user.
    let huge = allow(
        &["kms:Encrypt"],
        &format!("arn:aws:kms:*:*:key/{}", "k".repeat(2048)),
    );
    let (code, message) = api_error(put(&root, "alice", "huge", &huge).await.unwrap_err());
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "LimitExceededException",
            "Maximum policy size of 2048 bytes exceeded for user alice"
        )
    );

    // Unknown users and policies, and names IAM would refuse.
    for (op, input) in [
        (
            "PutUserPolicy",
            json!({"UserName": "bob", "PolicyName": "p", "PolicyDocument": allow(&["kms:*"], "*")}),
        ),
        (
            "GetUserPolicy",
            json!({"UserName": "bob", "PolicyName": "p"}),
        ),
        (
            "DeleteUserPolicy",
            json!({"UserName": "bob", "PolicyName": "p"}),
        ),
        ("ListUserPolicies", json!({"UserName": "bob"})),
    ] {
        let (code, message) = refused(&root, op, input).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            (
                "NoSuchEntityException",
                "The user with name bob cannot be found."
            ),
            "{op}"
        );
    }
    for op in ["GetUserPolicy", "DeleteUserPolicy"] {
        let input = json!({"UserName": "alice", "PolicyName": "nope"});
        let (code, message) = refused(&root, op, input).await;
        assert_eq!(
            (code.as_str(), message.as_str()),
            (
                "NoSuchEntityException",
                "The user policy with name nope cannot be found."
            ),
            "{op}"
        );
    }
    let (code, message) = refused(
        &root,
        "GetUserPolicy",
        json!({"UserName": "alice", "PolicyName": "a/b"}),
    )
    .await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "1 validation error detected: Value 'a/b' at 'policyName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    );
    let (code, message) = refused(
        &root,
        "PutUserPolicy",
        json!({"UserName": "alice", "PolicyName": "p"}),
    )
    .await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("'policyDocument'"), "{message}");

    // A user with policies cannot be deleted; without them, it can.
    let (code, message) = refused(&root, "DeleteUser", json!({"UserName": "alice"})).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "DeleteConflictException",
            "Cannot delete entity, must delete policies first."
        )
    );
    for name in names(&root, "alice").await {
        root.admin(
            "DeleteUserPolicy",
            &json!({"UserName": "alice", "PolicyName": name}),
        )
        .await
        .unwrap();
    }
    assert!(names(&root, "alice").await.is_empty());
    root.admin("DeleteUser", &json!({"UserName": "alice"}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_policies_authorize_the_admin_target() {
    let cluster = TestCluster::start(181, 3, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    let mut keys = Vec::new();
    for user in ["alice", "mallory"] {
        root.admin("CreateUser", &json!({"UserName": user}))
            .await
            .unwrap();
        let key = root
            .admin("CreateAccessKey", &json!({"UserName": user}))
            .await
            .unwrap();
        keys.push(key);
    }
    // Each speaks to another node than the one the root writes through.
    let alice = client_as(&cluster.nodes[1], &keys[0]);
    let mallory = client_as(&cluster.nodes[2], &keys[1]);

    // The attack: a user without a policy tries to create a user, to give itself a policy,
    // to read another's, and to make a key for the root. Each is refused, and nothing
    // changes.
    let (code, message) = refused(&mallory, "CreateUser", json!({"UserName": "x"})).await;
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        message,
        format!(
            "User: {ARN}:user/mallory is not authorized to perform: iam:CreateUser on \
             resource: {ARN}:user/x because no identity-based policy allows the \
             iam:CreateUser action"
        )
    );
    let escalate = json!({"UserName": "mallory", "PolicyName": "mine",
        "PolicyDocument": allow(&["iam:*", "kms:*", "trent:*"], "*")});
    let (code, _) = refused(&mallory, "PutUserPolicy", escalate).await;
    assert_eq!(code, "AccessDeniedException");
    let (code, _) = refused(&mallory, "ListUserPolicies", json!({"UserName": "alice"})).await;
    assert_eq!(code, "AccessDeniedException");
    let (code, _) = refused(&mallory, "CreateAccessKey", json!({})).await;
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(users(&root).await, ["alice", "mallory"]);
    assert!(names(&root, "mallory").await.is_empty());

    // Alice may create users (any user's ARN), and nothing else: the policy is honoured on
    // another node as soon as PutUserPolicy returned.
    put(
        &root,
        "alice",
        "create",
        &allow(&["iam:CreateUser"], &format!("{ARN}:user/*")),
    )
    .await
    .unwrap();
    alice
        .admin("CreateUser", &json!({"UserName": "bob"}))
        .await
        .unwrap();
    for (op, input, action, resource) in [
        (
            "DeleteUser",
            json!({"UserName": "bob"}),
            "iam:DeleteUser",
            "user/bob",
        ),
        ("ListUsers", json!({}), "iam:ListUsers", "user/*"),
        (
            "CreateAccessKey",
            json!({"UserName": "bob"}),
            "iam:CreateAccessKey",
            "user/bob",
        ),
    ] {
        let (code, message) = refused(&alice, op, input).await;
        assert_eq!(code, "AccessDeniedException", "{op}");
        assert!(
            message.contains(&format!("perform: {action} on resource: {ARN}:{resource} ")),
            "{op}: {message}"
        );
    }

    // An explicit deny overrides the allow, for the user it names only.
    put(
        &root,
        "alice",
        "not-bob2",
        &deny(&["iam:CreateUser"], &format!("{ARN}:user/bob2")),
    )
    .await
    .unwrap();
    let (code, message) = refused(&alice, "CreateUser", json!({"UserName": "bob2"})).await;
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );
    alice
        .admin("CreateUser", &json!({"UserName": "carol"}))
        .await
        .unwrap();

    // Revoked: the next request after DeleteUserPolicy returned is refused.
    root.admin(
        "DeleteUserPolicy",
        &json!({"UserName": "alice", "PolicyName": "create"}),
    )
    .await
    .unwrap();
    let (code, _) = refused(&alice, "CreateUser", json!({"UserName": "dave"})).await;
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(users(&root).await, ["alice", "bob", "carol", "mallory"]);

    // Cluster operations: a user of the operator account with trent:GetClusterStatus reads
    // the status; without it, or for another operation, it is refused.
    let (code, message) = refused(&alice, "GetClusterStatus", json!({})).await;
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("perform: trent:GetClusterStatus on resource: arn:aws:trent:"),
        "{message}"
    );
    put(
        &root,
        "alice",
        "status",
        &allow(&["trent:GetClusterStatus"], "*"),
    )
    .await
    .unwrap();
    let seen = status(&alice).await.unwrap();
    assert_eq!(seen["Members"].as_array().unwrap().len(), 3);
    let (code, _) = refused(&alice, "RemoveNode", json!({"NodeId": 3})).await;
    assert_eq!(code, "AccessDeniedException");
    let (code, _) = refused(&alice, "TransferLeadership", json!({"NodeId": 3})).await;
    assert_eq!(code, "AccessDeniedException");
    let (code, _) = refused(&alice, "ExportBackup", json!({})).await;
    assert_eq!(code, "AccessDeniedException");

    // AdministratorAccess (what `trent admin make-admin` puts) makes mallory an
    // administrator of the account and the cluster.
    put(
        &root,
        "mallory",
        "AdministratorAccess",
        trent_model::ADMINISTRATOR_POLICY,
    )
    .await
    .unwrap();
    assert_eq!(users(&mallory).await, ["alice", "bob", "carol", "mallory"]);
    status(&mallory).await.unwrap();

    // A user of another account gets nothing of the cluster, whatever its policies say.
    let opened = root
        .admin("CreateAccount", &json!({"AccountId": "444455556666"}))
        .await
        .unwrap();
    let root_b = client_as(&cluster.nodes[0], &opened);
    root_b
        .admin("CreateUser", &json!({"UserName": "eve"}))
        .await
        .unwrap();
    put(
        &root_b,
        "eve",
        "AdministratorAccess",
        trent_model::ADMINISTRATOR_POLICY,
    )
    .await
    .unwrap();
    let eve_key = root_b
        .admin("CreateAccessKey", &json!({"UserName": "eve"}))
        .await
        .unwrap();
    let eve = client_as(&cluster.nodes[1], &eve_key);
    let (code, _) = refused(&eve, "GetClusterStatus", json!({})).await;
    assert_eq!(code, "AccessDeniedException");
    // Eve administers her own account only.
    assert_eq!(users(&eve).await, ["eve"]);
}

/// The migration as an upgrade meets it: while the voters report the command set of a build
/// before user policies (the `command-set` fail point), users are created as that build
/// created them; once every node runs without it, the leader gives those users the
/// migration policy, once, and a user created afterwards gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn users_from_before_the_upgrade_get_the_migration_policy() {
    let mut cluster = TestCluster::start_with(182, 3, |node| {
        node.env
            .push(("FAILPOINTS".into(), "command-set=return(1)".into()));
    });
    cluster.leader().await;
    assert!(
        cluster.nodes[0].log_text().contains("FAILPOINTS armed"),
        "trentd was built without the `failpoints` feature (cargo test --workspace builds it)"
    );
    let root = cluster.client(1);
    root.admin("CreateUser", &json!({"UserName": "old"}))
        .await
        .unwrap();
    assert!(names(&root, "old").await.is_empty());

    // The rolling upgrade: each node in turn restarts as the new build.
    for id in 1..=3 {
        let node = cluster.node(id);
        node.kill();
        node.env.clear();
        node.start();
        cluster.leader().await;
    }
    let migrated = wait_for(
        "the migration policy on the user from before",
        std::time::Duration::from_secs(30),
        || async {
            let names = names(&cluster.client(2), "old").await;
            (!names.is_empty()).then_some(names)
        },
    )
    .await;
    assert_eq!(migrated, ["trent-migrated-full-access"]);
    let got = root
        .admin(
            "GetUserPolicy",
            &json!({"UserName": "old", "PolicyName": "trent-migrated-full-access"}),
        )
        .await
        .unwrap();
    assert_eq!(
        got["PolicyDocument"],
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrentMigratedFullAccess","Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#
    );
    root.admin("CreateUser", &json!({"UserName": "new"}))
        .await
        .unwrap();
    assert!(names(&root, "new").await.is_empty());
    assert!(
        cluster
            .nodes
            .iter()
            .any(|n| n.log_text().contains("entered the user policies era")),
        "the leader says it migrated"
    );
}
