//! Ansible's `amazon.aws.kms_key` module (from the `ansible` package in the interop venv)
//! managing a key of a 3-node cluster through `endpoint_url`: alias, description, tags, a key
//! policy and a grant with an encryption-context constraint. Each run goes to another node.
//! The first run creates everything (changed), the same playbook again changes nothing
//! (`changed=0` in the PLAY RECAP), a run asking for other grant operations and another tag
//! value changes the key (the module retires the old grant and creates a new one), and that
//! one again changes nothing. After each, the Rust SDK reads what the key really has, and
//! the grantee uses its grant.
//!
//! Ansible runs from the venv with everything it needs in the environment: no config file,
//! no inventory file, no network but the cluster's loopback addresses, no Galaxy (the
//! `ansible` package bundles the amazon.aws collection).
//!
//! Subnet 196.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use serde_json::{json, Value};

use crate::harness::*;
use crate::interop::venv_python;
use crate::sdk::{code, sdk};

const ALIAS: &str = "alias/ansible-managed";

/// What one `ansible-playbook` run reported for localhost in its PLAY RECAP, and the
/// module's own result (its view of the key after the run).
struct Run {
    changed: u64,
    failed: u64,
    result: Value,
}

/// The `name=value` counts of the PLAY RECAP line for localhost.
fn recap(output: &str) -> Option<(u64, u64)> {
    let after = output.split("PLAY RECAP").nth(1)?;
    let line = after
        .lines()
        .find(|l| l.trim_start().starts_with("localhost"))?;
    let count = |name: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(&format!("{name}=")))?
            .parse()
            .ok()
    };
    Some((count("changed")?, count("failed")?))
}

/// Runs the playbook once against `endpoint` with `vars` as its extra vars, signing as the
/// harness's root.
async fn playbook(dir: &Path, endpoint: &str, run: u32, vars: &Value) -> Run {
    let python = venv_python();
    let ansible = python.with_file_name("ansible-playbook");
    let playbook = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/ansible_kms_key.yml");
    let result_file = dir.join(format!("result-{run}.json"));
    let mut vars = vars.clone();
    vars["endpoint_url"] = json!(endpoint);
    vars["region"] = json!(REGION);
    vars["result_file"] = json!(result_file);
    let vars_file = dir.join(format!("vars-{run}.json"));
    std::fs::write(&vars_file, vars.to_string()).unwrap();
    // An empty config file, so that no ansible.cfg of the machine or the user is read.
    let config = dir.join("ansible.cfg");
    std::fs::write(&config, "").unwrap();
    let home = dir.join("home");
    let dir = dir.to_owned();
    let (ok, text) = output_of({
        let mut command = Command::new(&python);
        command
            .arg(ansible)
            .args(["-i", "localhost,"])
            .arg("-e")
            .arg(format!("@{}", vars_file.display()))
            .arg(playbook)
            .current_dir(&dir)
            .as_test_root()
            .env("ANSIBLE_CONFIG", &config)
            .env("ANSIBLE_HOME", &home)
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_COLLECTIONS_PATH", home.join("collections"))
            .env("ANSIBLE_PYTHON_INTERPRETER", &python)
            .env("ANSIBLE_LOCALHOST_WARNING", "false")
            .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
            .env("ANSIBLE_NOCOLOR", "true")
            .env("ANSIBLE_FORCE_COLOR", "false")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("LC_ALL", "C.UTF-8");
        command
    })
    .await;
    assert!(ok, "ansible-playbook run {run} failed:\n{text}");
    let (changed, failed) =
        recap(&text).unwrap_or_else(|| panic!("no PLAY RECAP for localhost in run {run}:\n{text}"));
    let result = serde_json::from_slice(&std::fs::read(&result_file).unwrap()).unwrap();
    Run {
        changed,
        failed,
        result,
    }
}

/// The extra vars of one run: the key's wanted state.
fn wanted(policy: &str, tag_env: &str, operations: &[&str]) -> Value {
    json!({
        "alias": ALIAS,
        "description": "managed by ansible",
        "tags": {"team": "payments", "env": tag_env},
        "policy": policy,
        "grants": [{
            "name": "app-encrypt",
            "grantee_principal": format!("arn:aws:iam::{ACCOUNT}:user/app"),
            "operations": operations,
            "constraints": {"encryption_context_equals": {"purpose": "ansible"}},
        }],
    })
}

/// Checks through the Rust SDK that the key named by [`ALIAS`] has exactly `vars`'s policy,
/// tags, description and one grant as asked; answers the key id and the grant id.
async fn check_key(client: &aws_sdk_kms::Client, vars: &Value) -> (String, String) {
    let aliases = client.list_aliases().send().await.unwrap();
    let alias = aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(ALIAS))
        .expect("the alias exists");
    let key_id = alias.target_key_id().unwrap().to_owned();
    let meta = client.describe_key().key_id(ALIAS).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.key_id(), key_id);
    assert_eq!(meta.description(), Some("managed by ansible"));
    assert_eq!(meta.key_state().unwrap().as_str(), "Enabled");

    let policy = client
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let got: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let put: Value = serde_json::from_str(vars["policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        got, put,
        "GetKeyPolicy answers the policy the playbook asked for"
    );

    let tags = client
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    tags.sort();
    let mut want: Vec<(String, String)> = vars["tags"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    want.sort();
    assert_eq!(tags, want);

    let grants = client.list_grants().key_id(&key_id).send().await.unwrap();
    let [grant] = grants.grants() else {
        panic!("exactly one grant: {:?}", grants.grants());
    };
    let wanted = &vars["grants"][0];
    assert_eq!(grant.name(), wanted["name"].as_str());
    assert_eq!(
        grant.grantee_principal(),
        wanted["grantee_principal"].as_str()
    );
    let mut ops: Vec<&str> = grant.operations().iter().map(|o| o.as_str()).collect();
    ops.sort();
    let mut want_ops: Vec<&str> = wanted["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    want_ops.sort();
    assert_eq!(ops, want_ops);
    let equals = grant
        .constraints()
        .and_then(|c| c.encryption_context_equals())
        .expect("the grant's EncryptionContextEquals");
    assert_eq!(equals.len(), 1);
    assert_eq!(equals.get("purpose").map(String::as_str), Some("ansible"));
    (key_id, grant.grant_id().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn ansible_kms_key_manages_a_key_with_policy_grants_and_tags_idempotently() {
    venv_python();
    let cluster = TestCluster::start(196, 3, &[]);
    cluster.leader().await;
    let root = cluster.client(1);
    root.admin("CreateUser", &json!({"UserName": "app"}))
        .await
        .unwrap();
    let made = root
        .admin("CreateAccessKey", &json!({"UserName": "app"}))
        .await
        .unwrap();
    let app_key = (
        made["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_owned(),
        made["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // The account root administers the key; app may describe it. Everything else app does
    // with the key comes from the grant.
    let policy = serde_json::to_string_pretty(&json!({
        "Version": "2012-10-17",
        "Id": "ansible-managed",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "app may describe the key",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/app")},
                "Action": "kms:DescribeKey",
                "Resource": "*"
            }
        ]
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = |i: usize| cluster.nodes[i % 3].api();
    let owner = sdk(&endpoint(0), ROOT_ACCESS_KEY_ID, ROOT_SECRET);
    let app = sdk(&endpoint(1), &app_key.0, &app_key.1);
    let encrypt = |ctx: Option<&str>| {
        let mut req = app
            .encrypt()
            .key_id(ALIAS)
            .plaintext(Blob::new(b"ansible".to_vec()));
        if let Some(value) = ctx {
            req = req.encryption_context("purpose", value);
        }
        req.send()
    };

    // Run 1 creates the key; run 2, the same playbook through another node, changes nothing.
    let first = wanted(&policy, "test", &["Encrypt", "Decrypt", "GenerateDataKey"]);
    let run = playbook(dir.path(), &endpoint(0), 1, &first).await;
    assert_eq!((run.changed, run.failed), (1, 0), "run 1 creates the key");
    assert_eq!(run.result["changed"], json!(true));
    let run = playbook(dir.path(), &endpoint(1), 2, &first).await;
    assert_eq!(
        (run.changed, run.failed),
        (0, 0),
        "run 2 finds everything as asked: {:#}",
        run.result
    );
    // The module's view of the key (what it read back) agrees with the playbook.
    assert_eq!(run.result["aliases"], json!(["ansible-managed"]));
    assert_eq!(run.result["tags"], first["tags"]);
    assert_eq!(run.result["key_policies"][0], {
        let p: Value = serde_json::from_str(&policy).unwrap();
        p
    });
    // Rotation was turned on by run 1, and run 2 finds it on.
    assert_eq!(run.result["enable_key_rotation"], json!(true));
    let (key_id, grant_id) = check_key(&owner, &first).await;
    let status = owner
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled(), "{status:?}");
    assert_eq!(run.result["key_id"], json!(key_id));

    // The grant works for its grantee, within its constraint only.
    encrypt(Some("ansible")).await.unwrap();
    assert_eq!(code(encrypt(None).await), "AccessDeniedException");
    assert_eq!(code(encrypt(Some("other")).await), "AccessDeniedException");
    app.describe_key().key_id(&key_id).send().await.unwrap();

    // Run 3 asks for other grant operations and another tag value: the module retires the
    // grant and creates a new one, and retags; run 4 finds it all done.
    let third = wanted(&policy, "staging", &["Encrypt", "ReEncryptFrom"]);
    let run = playbook(dir.path(), &endpoint(2), 3, &third).await;
    assert_eq!((run.changed, run.failed), (1, 0), "run 3 changes the key");
    let run = playbook(dir.path(), &endpoint(0), 4, &third).await;
    assert_eq!(
        (run.changed, run.failed),
        (0, 0),
        "run 4 changes nothing: {:#}",
        run.result
    );
    let (same_key, new_grant) = check_key(&owner, &third).await;
    assert_eq!(same_key, key_id, "the same key, updated in place");
    assert_ne!(new_grant, grant_id, "the old grant was retired");
    encrypt(Some("ansible")).await.unwrap();
    let denied = app
        .generate_data_key()
        .key_id(ALIAS)
        .number_of_bytes(32)
        .encryption_context("purpose", "ansible")
        .send()
        .await;
    assert_eq!(
        code(denied),
        "AccessDeniedException",
        "GenerateDataKey left the grant"
    );
}
