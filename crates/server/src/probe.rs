//! Probes: what "ready" means beyond "a leader is known" (the leader has a quorum, and this
//! node has applied the log to within [`MAX_LAG`] entries of it), and `trentd healthcheck`,
//! the client that a container image without curl uses as its health check.
//!
//! A follower learns the leader's position by asking it over the peer transport, on a
//! forwarding channel of its own, so a probe never needs the leader's client address. The
//! leader answers only while a quorum acknowledged it within the election timeout
//! (`ClusterNode::leads_with_quorum`): a leader whose followers are gone, and every node
//! behind it, is unready within an election timeout, since none of them can serve.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use trent_cluster::{ClusterError, ClusterNode, ForwardHandler};
use uuid::Uuid;

/// The forwarding channel on which the leader answers its last applied log index.
const CHANNEL: u8 = b'P';
/// A node is caught up when it has applied the log to within this many entries of the leader.
pub const MAX_LAG: u64 = 1_000;
/// How long a readiness probe waits for the leader's answer.
const ASK_LEADER: Duration = Duration::from_secs(1);

struct LeaderApplied {
    node: ClusterNode,
}

#[async_trait::async_trait]
impl ForwardHandler for LeaderApplied {
    async fn handle(&self, _: Uuid, _: Vec<u8>) -> Result<Vec<u8>, ClusterError> {
        if !self.node.is_leader() {
            return Err(ClusterError::NotLeader {
                leader: self.node.leader(),
            });
        }
        if !self.node.leads_with_quorum() {
            return Err(ClusterError::Unavailable("the leader has no quorum".into()));
        }
        let applied = self.node.status().last_applied.unwrap_or(0);
        Ok(applied.to_be_bytes().to_vec())
    }
}

/// Lets this node answer its followers' probes when it leads.
pub fn install(node: &ClusterNode) {
    let handler = LeaderApplied { node: node.clone() };
    node.set_forward_handler(CHANNEL, Arc::new(handler));
}

/// The leader's last applied index, or `None` when the leader cannot be asked right now or
/// has no quorum.
pub async fn leader_applied(node: &ClusterNode) -> Option<u64> {
    if node.is_leader() {
        return node
            .leads_with_quorum()
            .then(|| node.status().last_applied.unwrap_or(0));
    }
    let ask = node.route(CHANNEL, Uuid::new_v4(), Vec::new());
    let reply = tokio::time::timeout(ASK_LEADER, ask).await.ok()?.ok()?;
    Some(u64::from_be_bytes(reply.try_into().ok()?))
}

/// Whether `applied` is within [`MAX_LAG`] of the leader's `leader_applied`.
pub fn caught_up(applied: Option<u64>, leader_applied: Option<u64>) -> bool {
    match leader_applied {
        Some(target) => applied.unwrap_or(0).saturating_add(MAX_LAG) >= target,
        None => false,
    }
}

/// `trentd healthcheck`: GET a probe; exit 0 on 200, 1 otherwise.
#[derive(Args, Debug)]
pub struct HealthFlags {
    /// The probe to ask (`/readyz` or `/healthz`).
    #[arg(
        long,
        env = "TRENT_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:7700/readyz"
    )]
    pub url: String,
    /// PEM CA certificate(s) that verify the API's certificate, for an https URL.
    #[arg(long, env = "TRENT_HEALTHCHECK_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// How long to wait for the answer, in ms.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

pub fn healthcheck(flags: HealthFlags) -> ExitCode {
    let tls = match flags.ca_file.as_deref().map(crate::remote::trusting) {
        None => None,
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => return unhealthy(&format!("ca_file: {e}")),
    };
    let timeout = Duration::from_millis(flags.timeout_ms);
    match crate::remote::get(&flags.url, tls.as_ref(), timeout) {
        Ok(r) if r.status == 200 => ExitCode::SUCCESS,
        Ok(r) => unhealthy(&format!("{}: {} {}", flags.url, r.status, r.text())),
        Err(e) => unhealthy(&e),
    }
}

fn unhealthy(message: &str) -> ExitCode {
    eprintln!("trentd healthcheck: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_within_the_lag_and_never_without_the_leader() {
        assert!(caught_up(Some(10), Some(10)));
        assert!(caught_up(None, Some(MAX_LAG)));
        assert!(!caught_up(None, Some(MAX_LAG + 1)));
        assert!(caught_up(Some(5_000), Some(5_000 + MAX_LAG)));
        assert!(!caught_up(Some(10), None));
    }
}
