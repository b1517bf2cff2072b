//! `trent admin ...`: users, access keys, the cluster and its backups, through the
//! `TrentAdmin` target.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};
use trent_client::{backup, Client};

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
    /// Backups of the whole cluster (the operator root only).
    Backup {
        #[command(subcommand)]
        command: BackupCmd,
    },
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Writes a consistent backup (every write acknowledged before the call) to a new file,
    /// mode 0600. Key material in it stays wrapped under the domain key.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// Restores a backup into a fresh cluster that holds the same domain key.
    Import {
        #[arg(long = "in")]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Leader, term, members and log positions.
    Status,
    /// Adds a node: it joins as a learner, catches up, then becomes a voter.
    AddNode {
        #[arg(long)]
        id: u64,
        /// The new node's peer address (host:port).
        #[arg(long)]
        addr: String,
    },
    /// Removes a node from the cluster.
    RemoveNode {
        #[arg(long)]
        id: u64,
    },
}

#[derive(Subcommand)]
pub enum UserCmd {
    Create {
        #[arg(long)]
        name: String,
    },
    Delete {
        #[arg(long)]
        name: String,
    },
    List,
}

#[derive(Subcommand)]
pub enum AccessKeyCmd {
    /// Creates an access key for a user, or for the account root without --user. The secret
    /// is shown once.
    Create {
        #[arg(long)]
        user: Option<String>,
    },
    Delete {
        #[arg(long)]
        id: String,
    },
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
        AdminCmd::Cluster { command } => match command {
            ClusterCmd::Status => ("GetClusterStatus", json!({})),
            ClusterCmd::AddNode { id, addr } => ("AddNode", json!({"NodeId": id, "Address": addr})),
            ClusterCmd::RemoveNode { id } => ("RemoveNode", json!({"NodeId": id})),
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
