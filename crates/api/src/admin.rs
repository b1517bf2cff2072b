//! The admin target (`TrentAdmin.<Operation>`): what AWS does in IAM (users, access keys) and
//! what operators need (cluster status and membership), in the same JSON 1.1 + SigV4 style as
//! the KMS target. Principals and their inline policies are managed by their account's root,
//! or by a user of the account whose identity policies allow the IAM action (`iam:CreateUser`
//! on `arn:aws:iam::<account>:user/<name>`: trent_service's `user_policies.rs`); the cluster
//! by the root of the operator account (the one trentd bootstraps from its configuration),
//! or a user of that account whose identity policies allow `trent:<Operation>` on the
//! cluster's resource `arn:aws:trent:<region>:<operator account>:cluster`; the same goes
//! for exporting and importing backups (`backup.rs`).

mod audit;
mod audit_export;
mod backup;
mod domain_key;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use trent_cluster::ClusterError;
use trent_model::{AccountId, Arn, ClusterStatus, Error};
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
    "TransferLeadership",
    "ExportBackup",
    "ImportBackup",
    "PutUserPolicy",
    "GetUserPolicy",
    "DeleteUserPolicy",
    "ListUserPolicies",
    "LookupEvents",
    "ExportAuditTrail",
    "GetAuditPublicKey",
    "SwitchDomainKey",
    "DescribeDomainKey",
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
struct UserPolicyRequest {
    user_name: Option<String>,
    policy_name: Option<String>,
    policy_document: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UserPolicyRef {
    user_name: Option<String>,
    policy_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ListUserPoliciesRequest {
    user_name: Option<String>,
    marker: Option<String>,
    max_items: Option<u32>,
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

/// `value` as operation `name`'s input; a refusal names the member at fault (serde alone
/// says "invalid type: string, expected u64" without saying whose).
impl NodeRequest {
    /// The node id of an operation that names a node and nothing else.
    fn only_id(self, operation: &str) -> Result<u64, Error> {
        if self.address.is_some() {
            let why = format!("{operation} takes only NodeId");
            return Err(Error::invalid_member("address", why));
        }
        required(self.node_id, "nodeId")
    }
}

fn input<T: DeserializeOwned>(name: &str, value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            Error::admin_input(name, e.into_inner())
        } else {
            Error::admin_input(name, format_args!("{path}: {}", e.into_inner()))
        }
    })
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
            "PutUserPolicy" => {
                let req = input::<UserPolicyRequest>(name, body)?;
                let user = required(req.user_name, "userName")?;
                let policy = required(req.policy_name, "policyName")?;
                let document = required(req.policy_document, "policyDocument")?;
                service
                    .put_user_policy(call, &user, &policy, &document)
                    .await?;
                Ok(json!({}))
            }
            "GetUserPolicy" => {
                let req = input::<UserPolicyRef>(name, body)?;
                let user = required(req.user_name, "userName")?;
                let policy = required(req.policy_name, "policyName")?;
                let document = service.get_user_policy(call, &user, &policy).await?;
                Ok(json!({"UserName": user, "PolicyName": policy, "PolicyDocument": document}))
            }
            "DeleteUserPolicy" => {
                let req = input::<UserPolicyRef>(name, body)?;
                let user = required(req.user_name, "userName")?;
                let policy = required(req.policy_name, "policyName")?;
                service.delete_user_policy(call, &user, &policy).await?;
                Ok(json!({}))
            }
            "ListUserPolicies" => {
                let req = input::<ListUserPoliciesRequest>(name, body)?;
                let user = required(req.user_name, "userName")?;
                let page = service
                    .list_user_policies(call, &user, req.marker.as_deref(), req.max_items)
                    .await?;
                let mut answer = json!({
                    "PolicyNames": page.names,
                    "IsTruncated": page.marker.is_some(),
                });
                if let Some(marker) = page.marker {
                    answer["Marker"] = json!(marker);
                }
                Ok(answer)
            }
            "CreateAccount" => {
                let account = input::<AccountRequest>(name, body)?.account_id;
                self.operator_authorized(call, name).await?;
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
                self.operator_authorized(call, name).await?;
                Ok(status_json(&service.node().status()))
            }
            "AddNode" => {
                let req = input::<NodeRequest>(name, body)?;
                self.operator_authorized(call, name).await?;
                let (id, addr) = (
                    required(req.node_id, "nodeId")?,
                    required(req.address, "address")?,
                );
                membership(service.node().add_node(id, addr).await)
            }
            "RemoveNode" => {
                let req = input::<NodeRequest>(name, body)?;
                self.operator_authorized(call, name).await?;
                membership(service.node().remove_node(req.only_id(name)?).await)
            }
            "TransferLeadership" => {
                let req = input::<NodeRequest>(name, body)?;
                self.operator_authorized(call, name).await?;
                membership(service.node().transfer_leadership(req.only_id(name)?).await)
            }
            "ExportBackup" => self.export_backup(call, body).await,
            "ImportBackup" => self.import_backup(call, body).await,
            "LookupEvents" => self.lookup_events(call, body).await,
            "ExportAuditTrail" => self.export_audit(call, body).await,
            "GetAuditPublicKey" => self.audit_public_key(call, body).await,
            "SwitchDomainKey" => self.switch_domain_key(call, body).await,
            "DescribeDomainKey" => self.describe_domain_key(call, body).await,
            other => Err(Error::unknown_operation(format_args!("TrentAdmin.{other}")).into()),
        }
    }

    /// Cluster operations: the operator account's root, or a user of that account whose
    /// identity policies allow `trent:<operation>` on [`Admin::cluster_resource`]. Anyone
    /// of another account is refused as before, whatever its policies say.
    pub(crate) async fn operator_authorized(
        &self,
        call: &Call,
        operation: &str,
    ) -> Result<(), OpError> {
        let caller = &call.caller;
        if caller.account != self.operator {
            return Err(Error::admin_denied(
                caller.arn(),
                format_args!(
                    "manage the cluster; only the root of account {} and its users allowed \
                     trent:{operation} are",
                    self.operator
                ),
            )
            .into());
        }
        let action = format!("trent:{operation}");
        self.service
            .authorize_admin(call, &action, &self.cluster_resource())
            .await
    }

    /// The resource cluster operations act on: `arn:aws:trent:<region>:<operator>:cluster`.
    pub fn cluster_resource(&self) -> Arn {
        Arn {
            partition: "aws".into(),
            service: "trent".into(),
            region: self.service.region().into(),
            account: self.operator.as_str().into(),
            resource: "cluster".into(),
        }
    }
}

/// A membership change or leadership transfer: refusals are the caller's to fix; not being
/// the leader (any more)
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
