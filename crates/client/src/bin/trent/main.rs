//! `trent`: the command-line tool for trent. Output is JSON.

use std::process::ExitCode;

mod bench;

use clap::{Parser, Subcommand};
use trent_client::AdminClient;

#[derive(Parser)]
#[command(
    name = "trent",
    version,
    about = "Command-line client for the trent key management service"
)]
struct Cli {
    /// The node to talk to; any node of the cluster will do.
    #[arg(
        long,
        global = true,
        env = "TRENT_ENDPOINT",
        default_value = "http://127.0.0.1:7700"
    )]
    endpoint: String,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Load generation against trent and its peers, for docs/BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCmd,
    },
    /// Administrative commands.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Cluster membership and status.
    Cluster {
        #[command(subcommand)]
        command: ClusterCmd,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Leader, term, members and log positions, as the node sees them.
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let client = AdminClient::new(cli.endpoint);
    let command = match cli.command {
        Top::Bench { command } => {
            return match bench::run(command).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("trent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Top::Admin {
            command: Admin::Cluster { command },
        } => command,
    };
    let result = match command {
        ClusterCmd::Status => client
            .status()
            .await
            .map(|s| serde_json::to_value(s).expect("status serializes")),
        ClusterCmd::AddNode { id, addr } => client
            .add_node(id, &addr)
            .await
            .map(|_| serde_json::json!({"added": id})),
        ClusterCmd::RemoveNode { id } => client
            .remove_node(id)
            .await
            .map(|_| serde_json::json!({"removed": id})),
    };
    match result {
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trent: {e}");
            ExitCode::FAILURE
        }
    }
}
