//! The admin target (`TrentAdmin.<Operation>`): what AWS does in IAM (users, access keys) and
//! what operators need (cluster status and membership), in the same JSON 1.1 + SigV4 style as
//! the KMS target. Principals are managed by their account's root; the cluster by the root
//! of the operator account (the one trentd bootstraps from its configuration), who also
//! exports and imports backups (`backup.rs`).

mod backup;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use trent_cluster::ClusterError;
use trent_model::{AccountId, ClusterStatus, Error, Principal};
use trent_service::{Call, OpError, Service};

/// The admin operations.
pub const OPERATIONS: &[&str] = &[
    "CreateUser",
    "DeleteUser",
    "ListUsers",
    "CreateAccessKey",
    "DeleteAccessKey",
    "ListAccessKeys",
    "CreateAccount",
    "GetClusterStatus",
    "AddNode",
    "RemoveNode",
    "ExportBackup",
    "ImportBackup",
];

pub struct Admin {
    pub service: Service,
    /// The account whose root may change the cluster.
    pub operator: AccountId,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UserRequest {
    user_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccessKeyRequest {
    access_key_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccountRequest {
    account_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct NodeRequest {
    node_id: Option<u64>,
    address: Option<String>,
}

fn input<T: DeserializeOwned>(name: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::admin_input(name, e))
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::required(field))
}

impl Admin {
    pub async fn execute(&self, call: &Call, name: &str, body: Value) -> Result<Value, OpError> {
        let service = &self.service;
        match name {
            "CreateUser" => {
                let user = required(input::<UserRequest>(name, body)?.user_name, "userName")?;
                service.create_user(call, &user).await?;
                Ok(json!({"User": user_json(&call.caller.account, &user)}))
            }
            "DeleteUser" => {
                let user = required(input::<UserRequest>(name, body)?.user_name, "userName")?;
                service.delete_user(call, &user).await?;
                Ok(json!({}))
            }
            "ListUsers" => {
                input::<Empty>(name, body)?;
                let users = service.list_users(call).await?;
                let users: Vec<Value> = users
                    .iter()
                    .map(|u| user_json(&call.caller.account, u.as_str()))
                    .collect();
                Ok(json!({ "Users": users }))
            }
            "CreateAccessKey" => {
                let user = input::<UserRequest>(name, body)?.user_name;
                let key = service.create_access_key(call, user.as_deref()).await?;
                Ok(json!({"AccessKey": {
                    "AccessKeyId": key.access_key_id,
                    "SecretAccessKey": key.secret_access_key.as_str(),
                    "Arn": key.owner.arn().to_string(),
                }}))
            }
            "DeleteAccessKey" => {
                let id = input::<AccessKeyRequest>(name, body)?.access_key_id;
                service
                    .delete_access_key(call, &required(id, "accessKeyId")?)
                    .await?;
                Ok(json!({}))
            }
            "ListAccessKeys" => {
                input::<Empty>(name, body)?;
                let keys = service.list_access_keys(call).await?;
                let keys: Vec<Value> = keys
                    .iter()
                    .map(|(id, owner)| json!({"AccessKeyId": id, "Arn": owner.arn().to_string()}))
                    .collect();
                Ok(json!({ "AccessKeys": keys }))
            }
            "CreateAccount" => {
                let account = input::<AccountRequest>(name, body)?.account_id;
                self.operator_only(&call.caller)?;
                let account: AccountId = required(account, "accountId")?.parse()?;
                let key = service.create_account_root_key(call, account).await?;
                Ok(json!({"AccessKey": {
                    "AccessKeyId": key.access_key_id,
                    "SecretAccessKey": key.secret_access_key.as_str(),
                    "Arn": key.owner.arn().to_string(),
                }}))
            }
            "GetClusterStatus" => {
                input::<Empty>(name, body)?;
                self.operator_only(&call.caller)?;
                Ok(status_json(&service.node().status()))
            }
            "AddNode" => {
                let req = input::<NodeRequest>(name, body)?;
                self.operator_only(&call.caller)?;
                let (id, addr) = (
                    required(req.node_id, "nodeId")?,
                    required(req.address, "address")?,
                );
                membership(service.node().add_node(id, addr).await)
            }
            "RemoveNode" => {
                let req = input::<NodeRequest>(name, body)?;
                self.operator_only(&call.caller)?;
                if req.address.is_some() {
                    return Err(
                        Error::invalid_member("address", "RemoveNode takes only NodeId").into(),
                    );
                }
                let id = required(req.node_id, "nodeId")?;
                membership(service.node().remove_node(id).await)
            }
            "ExportBackup" => self.export_backup(call, body).await,
            "ImportBackup" => self.import_backup(call, body).await,
            other => Err(Error::unknown_operation(format_args!("TrentAdmin.{other}")).into()),
        }
    }

    fn operator_only(&self, caller: &Principal) -> Result<(), Error> {
        if caller.user.is_none() && caller.account == self.operator {
            return Ok(());
        }
        Err(Error::admin_denied(
            caller.arn(),
            format_args!(
                "manage the cluster; only the root of account {} is",
                self.operator
            ),
        ))
    }
}

/// A membership change: refusals are the caller's to fix; not being the leader (any more)
/// lets the router retry on the new one.
fn membership(result: Result<(), ClusterError>) -> Result<Value, OpError> {
    match result {
        Ok(()) => Ok(json!({})),
        Err(e @ ClusterError::NotLeader { .. }) => Err(OpError::Cluster(e)),
        Err(e) => Err(OpError::Api(e.into())),
    }
}

fn user_json(account: &AccountId, name: &str) -> Value {
    json!({"UserName": name, "Arn": format!("arn:aws:iam::{account}:user/{name}")})
}

/// The status as GetClusterStatus answers it: the leader's view (this runs on the leader),
/// with each member's liveness as the leader sees it.
fn status_json(s: &ClusterStatus) -> Value {
    let members: Vec<Value> = s
        .members
        .iter()
        .map(|m| {
            json!({
                "NodeId": m.id,
                "Address": m.addr,
                "Voter": m.voter,
                "Matched": m.matched,
                "Lag": m.lag,
                "LastContactMs": m.last_contact_ms,
                "Reachable": m.reachable,
                "Error": m.error,
            })
        })
        .collect();
    json!({
        "Cluster": s.cluster,
        "ClusterId": s.cluster_id,
        "NodeId": s.node_id,
        "State": s.state,
        "Term": s.term,
        "Leader": s.leader,
        "LastLogIndex": s.last_log_index,
        "LastApplied": s.last_applied,
        "SnapshotIndex": s.snapshot_index,
        "PurgedIndex": s.purged_index,
        "Members": members,
    })
}
