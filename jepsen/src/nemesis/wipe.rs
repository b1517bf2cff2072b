//! The `wipe` nemesis: a node loses its disk. It is killed, its data dir deleted and it is
//! restarted with its original command (`--initial-cluster` and all), as an operator who
//! reran it would. One time in three another node is killed for the fault's duration as
//! well, so that the wiped node's vote is exactly what a leader needs: a vote it must not
//! give (it forgot what it acknowledged). Until the fault stops the wiped node must report
//! that it does not vote (`quarantine` in its `/readyz`); then the harness does the replace
//! step of docs/OPERATIONS.md (RemoveNode, AddNode) and the checkers, over the whole run,
//! show whether any acknowledged write was lost.

use std::time::Duration;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::{describe, Active, Fault, Nemesis, Undo};
use crate::client::Outcome;
use crate::nodes::Nodes;

/// How long the harness waits for the wiped node's probe before it calls its silence a
/// finding.
const PROBE_PATIENCE: Duration = Duration::from_secs(10);

impl Nemesis {
    pub(super) async fn wipe(&self, ids: &[u64], leader: Option<u64>) -> Result<Active> {
        let (victim, also_killed) = {
            let mut rng = rand::thread_rng();
            let victim = *ids.choose(&mut rng).expect("nodes");
            let others: Vec<u64> = ids.iter().copied().filter(|&i| i != victim).collect();
            // The other node to kill: the leader if it is another one (the wiped node then
            // holds what only the killed leader and it had acknowledged).
            let other = match leader.filter(|&l| l != victim) {
                Some(l) => l,
                None => *others.choose(&mut rng).expect("three nodes or more"),
            };
            (victim, rng.gen_bool(1.0 / 3.0).then_some(other))
        };
        let mut nodes = self.nodes.lock().await;
        if let Some(other) = also_killed {
            nodes.kill(other);
        }
        nodes.wipe(victim)?;
        nodes.start(victim)?;
        let down = 1 + also_killed.iter().count();
        let detail = match also_killed {
            Some(other) => {
                format!("wipe node {victim}'s data dir and restart it; kill -9 node {other}")
            }
            None => format!("wipe node {victim}'s data dir and restart it"),
        };
        Ok(Active {
            fault: Fault::Wipe,
            nodes: std::iter::once(victim).chain(also_killed).collect(),
            detail,
            majority_healthy: down <= (ids.len() - 1) / 2,
            undo: Undo::Replace {
                victim,
                killed: also_killed.into_iter().collect(),
            },
        })
    }

    /// Restarts the killed nodes, checks that the wiped one stayed out of elections, and
    /// replaces it: RemoveNode, then AddNode (it catches up as a learner, then votes).
    pub(super) async fn replace(&self, victim: u64, killed: &[u64]) -> Result<()> {
        {
            let mut nodes = self.nodes.lock().await;
            for &id in killed {
                nodes.start(id)?;
            }
        }
        let probe = probe(victim).await;
        let quarantined = probe
            .as_ref()
            .is_some_and(|b| b["quarantine"].is_string() && b["state"] != "Leader");
        if !quarantined {
            self.wipe_findings.lock().unwrap().push(format!(
                "node {victim}, restarted on an empty data dir, did not report that it stays out \
                 of elections before it was replaced: {}",
                probe.map_or("no answer".into(), |b| b.to_string())
            ));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let outcome = self
                .clients
                .admin("RemoveNode", &json!({ "NodeId": victim }))
                .await;
            match &outcome {
                Outcome::Answered { answer: Ok(_), .. } => break,
                // Removed already (an earlier attempt that answered too late).
                Outcome::NotApplied { error, .. } if error.contains("is not a member") => break,
                _ if tokio::time::Instant::now() > deadline => {
                    anyhow::bail!("node {victim} could not be removed: {}", describe(&outcome))
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        self.add_member(victim).await
    }
}

/// Node `id`'s `/readyz` body, once it answers (within [`PROBE_PATIENCE`]).
async fn probe(id: u64) -> Option<Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .ok()?;
    let deadline = tokio::time::Instant::now() + PROBE_PATIENCE;
    while tokio::time::Instant::now() < deadline {
        let url = format!("{}/readyz", Nodes::api(id));
        if let Ok(response) = http.get(url).send().await {
            if let Ok(body) = response.json::<Value>().await {
                return Some(body);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
