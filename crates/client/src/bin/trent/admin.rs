//! `trent admin ...`: users, their inline policies, access keys, the cluster and its
//! backups, through the `TrentAdmin` target.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};
use trent_client::{backup, Client};
use trent_model::{ADMINISTRATOR_POLICY, ADMINISTRATOR_POLICY_NAME};

use crate::Context;

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Cluster membership and status.
    Cluster {
        #[command(subcommand)]
        command: ClusterCmd,
    },
    /// Users of the caller's account.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Access keys of the caller's account.
    AccessKey {
        #[command(subcommand)]
        command: AccessKeyCmd,
    },
    /// Backups of the whole cluster (the operator root, or a user allowed trent:ExportBackup
    /// and trent:ImportBackup).
    Backup {
        #[command(subcommand)]
        command: BackupCmd,
    },
    /// Sets a user's inline identity policy (IAM's PutUserPolicy), replacing one of the same
    /// name.
    PutUserPolicy {
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        policy_name: String,
        /// The policy as JSON, or file://PATH to read it from a file.
        #[arg(long)]
        policy_document: String,
    },
    /// Shows a user's inline policy, exactly as it was put.
    GetUserPolicy {
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Deletes a user's inline policy.
    DeleteUserPolicy {
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Lists the names of a user's inline policies.
    ListUserPolicies {
        #[arg(long)]
        user_name: String,
        /// Where to continue: the Marker of the previous page.
        #[arg(long)]
        marker: Option<String>,
        /// At most this many names (1 to 1000) [default: 100].
        #[arg(long)]
        max_items: Option<u32>,
    },
    /// Makes a user an administrator: puts the inline policy AdministratorAccess, which
    /// allows kms:*, iam:* and trent:* on every resource (the cluster too, for a user of the
    /// operator account).
    MakeAdmin {
        /// The user's name.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Writes a consistent backup (every write acknowledged before the call) to a new file,
    /// mode 0600. Key material in it stays wrapped under the domain key.
    Export {
        /// The file to create (it must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restores a backup into a fresh cluster that holds the same domain key.
    Import {
        /// The backup file, as export wrote it.
        #[arg(long = "in")]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Leader, term, members, log positions and each member's liveness (last contact,
    /// reachability, replication lag), as the leader sees them: any node answers with the
    /// leader's view.
    Status,
    /// Adds a node: it joins as a learner, catches up, then becomes a voter.
    AddNode {
        /// The new node's id (its --node-id).
        #[arg(long)]
        id: u64,
        /// The new node's peer address (host:port).
        #[arg(long)]
        addr: String,
    },
    /// Removes a node from the cluster; the removed node stops campaigning and says so in
    /// its log. Stop its process afterwards.
    RemoveNode {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
    /// Makes a voter the leader (before maintenance of the leader's machine); the old leader
    /// hands over as it does when it stops, so clients see no error.
    TransferLeadership {
        /// The voter's id.
        #[arg(long)]
        id: u64,
    },
    /// The cluster's domain key: its key check value, and during a migration to a PKCS#11
    /// token the new key's and how many blobs are still under the old one.
    DomainKey,
    /// Switches the cluster to the new domain key every node holds beside the old one
    /// (`trentd run --hsm pkcs11 ... --migrate-from-domain-key-file`); the leader then
    /// rewraps every key version and access key secret under it.
    SwitchDomainKey,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Creates a user in the caller's account.
    Create {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Deletes a user of the caller's account.
    Delete {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Lists the users of the caller's account.
    List,
}

#[derive(Subcommand)]
pub enum AccessKeyCmd {
    /// Creates an access key for a user, or for the account root without --user. The secret
    /// is shown once.
    Create {
        /// The user who owns the key [default: the account root].
        #[arg(long)]
        user: Option<String>,
    },
    /// Deletes an access key of the caller's account.
    Delete {
        /// The access key id.
        #[arg(long)]
        id: String,
    },
    /// Lists the access keys of the caller's account (ids and owners, never secrets).
    List,
}

pub async fn run(ctx: &Context, command: AdminCmd) -> Result<Value, String> {
    let client = Client::with_ca_bundle(
        &ctx.endpoint,
        &ctx.region,
        ctx.credentials.clone(),
        ctx.ca.as_ref(),
    )?;
    let (op, input) = match command {
        AdminCmd::Backup { command } => return backup(&client, command).await,
        AdminCmd::PutUserPolicy {
            user_name,
            policy_name,
            policy_document,
        } => {
            let document = policy_text(&policy_document)?;
            let input = json!({
                "UserName": user_name,
                "PolicyName": policy_name,
                "PolicyDocument": document,
            });
            ("PutUserPolicy", input)
        }
        AdminCmd::GetUserPolicy {
            user_name,
            policy_name,
        } => (
            "GetUserPolicy",
            json!({"UserName": user_name, "PolicyName": policy_name}),
        ),
        AdminCmd::DeleteUserPolicy {
            user_name,
            policy_name,
        } => (
            "DeleteUserPolicy",
            json!({"UserName": user_name, "PolicyName": policy_name}),
        ),
        AdminCmd::ListUserPolicies {
            user_name,
            marker,
            max_items,
        } => {
            let mut input = json!({ "UserName": user_name });
            if let Some(marker) = marker {
                input["Marker"] = json!(marker);
            }
            if let Some(max_items) = max_items {
                input["MaxItems"] = json!(max_items);
            }
            ("ListUserPolicies", input)
        }
        AdminCmd::MakeAdmin { user } => {
            let input = json!({
                "UserName": user,
                "PolicyName": ADMINISTRATOR_POLICY_NAME,
                "PolicyDocument": ADMINISTRATOR_POLICY,
            });
            ("PutUserPolicy", input)
        }
        AdminCmd::Cluster { command } => match command {
            ClusterCmd::Status => ("GetClusterStatus", json!({})),
            ClusterCmd::AddNode { id, addr } => ("AddNode", json!({"NodeId": id, "Address": addr})),
            ClusterCmd::RemoveNode { id } => ("RemoveNode", json!({"NodeId": id})),
            ClusterCmd::TransferLeadership { id } => ("TransferLeadership", json!({"NodeId": id})),
            ClusterCmd::DomainKey => ("DescribeDomainKey", json!({})),
            ClusterCmd::SwitchDomainKey => ("SwitchDomainKey", json!({})),
        },
        AdminCmd::User { command } => match command {
            UserCmd::Create { name } => ("CreateUser", json!({"UserName": name})),
            UserCmd::Delete { name } => ("DeleteUser", json!({"UserName": name})),
            UserCmd::List => ("ListUsers", json!({})),
        },
        AdminCmd::AccessKey { command } => match command {
            AccessKeyCmd::Create { user } => ("CreateAccessKey", json!({"UserName": user})),
            AccessKeyCmd::Delete { id } => ("DeleteAccessKey", json!({"AccessKeyId": id})),
            AccessKeyCmd::List => ("ListAccessKeys", json!({})),
        },
    };
    client.admin(op, &input).await.map_err(|e| e.to_string())
}

/// A policy document given on the command line: `file://PATH` is read from the file (as the
/// AWS CLI does), anything else is the document itself.
fn policy_text(arg: &str) -> Result<String, String> {
    match arg.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(arg.to_owned()),
    }
}

async fn backup(client: &Client, command: BackupCmd) -> Result<Value, String> {
    match command {
        BackupCmd::Export { out } => {
            let (blob, header) = backup::export(client).await.map_err(|e| e.to_string())?;
            backup::write_file(&out, &blob).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(json!({"File": out, "Bytes": blob.len(), "Header": header}))
        }
        BackupCmd::Import { input } => {
            let blob = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            backup::import(client, &blob)
                .await
                .map_err(|e| e.to_string())
        }
    }
}
