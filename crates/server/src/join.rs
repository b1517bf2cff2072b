//! Membership automation of StatefulSet mode. A pod whose ordinal is at or above the
//! founding replica count asks a founding member to add it (admin `AddNode`, signed as the
//! operator account's root) and retries until it is a member; `trentd leave`, the pod's
//! preStop hook, removes it again (`RemoveNode`). Founding members never leave on their own:
//! the cluster's quorum rests on them.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::remote;
use crate::statefulset::StatefulSet;

/// Between two rounds over the founding members.
const RETRY: Duration = Duration::from_secs(2);
/// AddNode waits while the new node catches up (up to a minute on the leader).
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// A signed caller of the founding members' admin API.
pub struct Admin {
    endpoints: Vec<String>,
    region: String,
    credentials: trent_client::Credentials,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Why one admin call failed.
enum CallError {
    /// The service answered with an AWS error.
    Api { code: String, message: String },
    /// No answer (connection refused, timeout, name not resolved yet).
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api { code, message } => write!(f, "{code}: {message}"),
            CallError::Transport(e) => f.write_str(e),
        }
    }
}

impl Admin {
    pub fn new(config: &ServerConfig, sts: &StatefulSet) -> Result<Admin, String> {
        let root = crate::kms::root_from_env()
            .map_err(|e| e.to_string())?
            .ok_or("TRENT_ROOT_ACCESS_KEY_ID: required in statefulset mode (joining and leaving are signed by the operator account's root)")?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let port = config.api_listen.port();
        let tls = match &sts.join_ca_file {
            Some(path) => Some(remote::trusting(path).map_err(|e| format!("join_ca_file: {e}"))?),
            None => None,
        };
        Ok(Admin {
            endpoints: sts
                .founding_hosts()
                .into_iter()
                .map(|host| format!("{scheme}://{host}:{port}"))
                .collect(),
            region: config.kms.region.clone(),
            credentials: trent_client::credentials(
                &root.access_key_id,
                root.secret_access_key.as_str(),
            ),
            tls,
        })
    }

    /// Calls admin operation `op` on `endpoint` (blocking).
    fn call(&self, endpoint: &str, op: &str, input: &Value) -> Result<Value, CallError> {
        let transport = |e: String| CallError::Transport(e);
        let client = trent_client::Client::with_timeout(
            endpoint,
            &self.region,
            self.credentials.clone(),
            CALL_TIMEOUT,
        )
        .map_err(transport)?;
        let body = serde_json::to_vec(input).expect("JSON values serialize");
        let request = client
            .request(&format!("TrentAdmin.{op}"), body, SystemTime::now())
            .and_then(|r| r.build().map_err(Into::into))
            .map_err(|e| transport(e.to_string()))?;
        let response =
            remote::send(&request, self.tls.as_ref(), CALL_TIMEOUT).map_err(transport)?;
        let value: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        match response.status {
            200 => Ok(value),
            status => Err(CallError::Api {
                code: value["__type"]
                    .as_str()
                    .unwrap_or("UnknownError")
                    .to_owned(),
                message: match value["message"].as_str() {
                    Some(m) => m.to_owned(),
                    None => format!("HTTP {status}: {}", response.text()),
                },
            }),
        }
    }

    /// Tries `op` on each founding member in turn; the first answer that `done` accepts wins.
    fn round(
        &self,
        op: &str,
        input: &Value,
        done: impl Fn(&Result<Value, CallError>) -> bool,
    ) -> Result<String, String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let outcome = self.call(endpoint, op, input);
            if done(&outcome) {
                return Ok(endpoint.clone());
            }
            if let Err(e) = outcome {
                errors.push(format!("{endpoint}: {e}"));
            }
        }
        Err(errors.join("; "))
    }
}

/// Keeps asking the founding members to add this node until one of them has. AddNode is
/// idempotent, so a pod that restarts (or comes back after leaving) simply asks again.
pub fn spawn_join(admin: Admin, node_id: u64, address: String) {
    tokio::spawn(async move {
        let input = json!({"NodeId": node_id, "Address": address});
        let admin = Arc::new(admin);
        for attempt in 0u64.. {
            let (admin, input) = (admin.clone(), input.clone());
            let round =
                tokio::task::spawn_blocking(move || admin.round("AddNode", &input, Result::is_ok))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
            match round {
                Ok(via) => {
                    tracing::info!(node = node_id, %address, %via, "joined the cluster");
                    return;
                }
                // Founding members are often still starting: say so now and then, not always.
                Err(e) if attempt % 10 == 0 => {
                    tracing::warn!(node = node_id, error = %e, "not a member yet; will retry")
                }
                Err(_) => {}
            }
            tokio::time::sleep(RETRY).await;
        }
    });
}

/// `trentd leave`: the StatefulSet pod's preStop hook.
#[derive(Args, Debug)]
pub struct LeaveFlags {
    /// Give up after this many seconds (keep it below terminationGracePeriodSeconds).
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub run: crate::config::Flags,
}

/// Removes this pod's node from the cluster, unless it is a founding member.
pub fn leave(flags: LeaveFlags) -> ExitCode {
    let config = match ServerConfig::resolve(flags.run) {
        Ok(config) => config,
        Err(e) => return exit(2, &format!("invalid configuration: {e}")),
    };
    let Some(sts) = config.statefulset.clone() else {
        return exit(2, "leave: only in statefulset mode (--statefulset); elsewhere use `trent admin cluster remove-node`");
    };
    let node_id = sts.node_id();
    if sts.is_founding() {
        eprintln!("trentd leave: node {node_id} is a founding member (ordinal {} < {}); founding members never leave automatically", sts.ordinal, sts.replicas);
        return ExitCode::SUCCESS;
    }
    let admin = match Admin::new(&config, &sts) {
        Ok(admin) => admin,
        Err(e) => return exit(2, &format!("invalid configuration: {e}")),
    };
    let deadline = Instant::now() + Duration::from_secs(flags.timeout_secs);
    let input = json!({"NodeId": node_id});
    loop {
        // Not a member (any more) is what leaving wants, too.
        let gone = |r: &Result<Value, CallError>| match r {
            Ok(_) => true,
            Err(CallError::Api { message, .. }) => message.contains("is not a member"),
            Err(CallError::Transport(_)) => false,
        };
        match admin.round("RemoveNode", &input, gone) {
            Ok(via) => {
                eprintln!("trentd leave: node {node_id} left the cluster (via {via})");
                return ExitCode::SUCCESS;
            }
            Err(e) if Instant::now() + RETRY >= deadline => {
                return exit(1, &format!("leave: node {node_id} is still a member: {e}"))
            }
            Err(_) => std::thread::sleep(RETRY),
        }
    }
}

fn exit(code: u8, message: &str) -> ExitCode {
    eprintln!("trentd: {message}");
    ExitCode::from(code)
}
