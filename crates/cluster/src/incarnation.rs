//! Wiped nodes do not vote. Each data dir draws a random *incarnation* id when it is
//! created; the leader records every voter's incarnation in the replicated state
//! (`Command::RecordIncarnation`). A node whose id is recorded with another incarnation has
//! lost the log entries it acknowledged and the votes it cast (its disk was wiped or
//! replaced): its vote could elect a leader that misses acknowledged writes, or a second
//! leader in a term. So it neither votes nor stands for election ([`VoteGate`]), says why
//! at error level, and comes back only through the replace step (RemoveNode, then AddNode:
//! a learner that catches up, whose new incarnation AddNode records before promoting it).
//!
//! Telling a wiped founder from a founder that merely starts late with an empty data dir
//! (which promised nothing, so may vote): a data dir created empty votes only when
//! - it founds the cluster: a quorum of the founding members answered Hello and none of them
//!   has a log entry beyond the initial membership (no leader was ever elected), or
//! - the leader recorded its incarnation, and no other one was recorded before for its id.
//!
//! Data dirs from before incarnations existed (they hold a vote or log entries but no
//! incarnation) keep voting and get one, which the leader then records. Left open: a node
//! wiped in the second between the first election and the leader recording it looks like a
//! late founder; so does a wiped founder whose every reachable fellow founder never formed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocksdb::{IteratorMode, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use trent_state::{Command, Outcome};
use uuid::Uuid;

use crate::store::{CF_LOG, CF_RAFT};
use crate::{ClusterError, ClusterNode, NodeId, StartError};

/// The key of this data dir's [`Stored`] incarnation in the Raft metadata column family.
const KEY: &[u8] = b"incarnation";
/// The log store's key of the vote (store/log.rs): a node that ever took part has one.
const VOTE_KEY: &[u8] = b"vote";
/// How often a node compares the recorded incarnations with its own (and the leader records
/// its voters').
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How often the reason a node does not vote is logged again.
const REMIND: Duration = Duration::from_secs(30);
/// How often the leader asks a voter with a recorded incarnation which one it runs on.
const RECHECK: Duration = Duration::from_secs(5);
/// How long one incarnation query may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Stored {
    id: Uuid,
    /// This data dir may vote: it founded the cluster, predates incarnations, or the leader
    /// recorded it.
    confirmed: bool,
}

/// Whether this node may vote and stand for election; see the module doc.
pub(crate) struct VoteGate {
    db: Arc<DB>,
    id: Uuid,
    confirmed: AtomicBool,
    /// The incarnation recorded for this node id when it is not this data dir's.
    replaced_by: Mutex<Option<Uuid>>,
    /// When the reason for not voting was last logged, here and (on the leader) per voter.
    reminded: Mutex<HashMap<(NodeId, u8), Instant>>,
}

impl VoteGate {
    /// Reads this data dir's incarnation, or draws one: unconfirmed for an empty data dir,
    /// confirmed for one that already took part in a cluster.
    pub(crate) fn load(db: Arc<DB>) -> Result<VoteGate, StartError> {
        let io = |e: rocksdb::Error| StartError::Config(format!("data dir incarnation: {e}"));
        let raft = db.cf_handle(CF_RAFT).expect("cf");
        let stored = match db.get_cf(raft, KEY).map_err(io)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StartError::Config(format!("data dir incarnation: {e}")))?,
            None => {
                let log = db.cf_handle(CF_LOG).expect("cf");
                let took_part = db.get_cf(raft, VOTE_KEY).map_err(io)?.is_some()
                    || db.iterator_cf(log, IteratorMode::Start).next().is_some();
                let stored = Stored {
                    id: Uuid::new_v4(),
                    confirmed: took_part,
                };
                put(&db, &stored).map_err(io)?;
                stored
            }
        };
        Ok(VoteGate {
            db,
            id: stored.id,
            confirmed: AtomicBool::new(stored.confirmed),
            replaced_by: Mutex::new(None),
            reminded: Mutex::default(),
        })
    }

    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    pub(crate) fn votes(&self) -> bool {
        self.confirmed.load(Ordering::SeqCst) && self.replaced_by().is_none()
    }

    fn replaced_by(&self) -> Option<Uuid> {
        *self.replaced_by.lock().expect("gate lock")
    }

    /// Marks this data dir as one that may vote, on disk before this returns.
    async fn confirm(self: &Arc<Self>) -> Result<(), String> {
        if self.confirmed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let gate = self.clone();
        tokio::task::spawn_blocking(move || {
            let stored = Stored {
                id: gate.id,
                confirmed: true,
            };
            put(&gate.db, &stored).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        self.confirmed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether `what` is due again, `every` after it last was: another log line about not
    /// voting (a node id), or another check of a voter.
    fn due(&self, what: (NodeId, u8), every: Duration) -> bool {
        let mut reminded = self.reminded.lock().expect("gate lock");
        let due = reminded.get(&what).is_none_or(|at| at.elapsed() >= every);
        if due {
            reminded.insert(what, Instant::now());
        }
        due
    }

    /// Why node `node` (this one) does not vote, if it does not.
    fn refusal(&self, node: NodeId) -> Option<String> {
        if let Some(recorded) = self.replaced_by() {
            return Some(format!(
                "node {node} does not vote: its data dir (incarnation {}) is not the one the \
                 cluster recorded for node {node} ({recorded}); it was wiped or replaced, so the \
                 log entries and votes it held are gone. Replace it: `trent admin cluster \
                 remove-node --id {node}`, then `trent admin cluster add-node --id {node} --addr \
                 <its peer address>` (docs/OPERATIONS.md, \"Replacing a failed node\")",
                self.id
            ));
        }
        (!self.confirmed.load(Ordering::SeqCst)).then(|| {
            format!(
                "node {node} does not vote yet: its data dir is new and the cluster formed \
                 without it; it votes once the leader has recorded this data dir (a node that \
                 never held the log is recorded within seconds; one whose data dir was wiped \
                 stays out until it is replaced, docs/OPERATIONS.md)"
            )
        })
    }
}

fn put(db: &DB, stored: &Stored) -> Result<(), rocksdb::Error> {
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let bytes = serde_json::to_vec(stored).expect("incarnation serializes");
    db.put_cf_opt(db.cf_handle(CF_RAFT).expect("cf"), KEY, bytes, &sync)
}

impl ClusterNode {
    /// Why this node refuses to vote and to stand for election, if it does (module doc).
    pub fn vote_refusal(&self) -> Option<String> {
        self.gate().refusal(self.id())
    }

    /// This data dir's incarnation, which this node answers in `Time`.
    pub(crate) fn incarnation(&self) -> Uuid {
        self.gate().id()
    }

    /// Whether this node holds a log entry beyond the initial membership: a leader was
    /// elected, the cluster has formed (answered in Hello).
    pub(crate) fn has_formed(&self) -> bool {
        let last = self.raft().metrics().borrow().last_log_index;
        last.is_some_and(|index| index >= 1)
    }

    /// Lets this node vote as a founder: a quorum of founders answered, none has formed.
    pub(crate) async fn confirm_founding(&self) -> Result<(), StartError> {
        self.gate().confirm().await.map_err(StartError::Config)?;
        self.apply_gate();
        Ok(())
    }

    /// Makes openraft's elections follow the gate.
    pub(crate) fn apply_gate(&self) {
        // A node that knows it was removed (observe.rs) stays out as well.
        let elect = self.gate().votes() && !self.is_removed();
        self.raft().runtime_config().elect(elect);
    }

    /// One round of [`CHECK_INTERVAL`]: compare this node's recorded incarnation with its
    /// own; on the leader, record the voters that have none.
    pub(crate) async fn check_incarnations(&self) {
        self.check_own().await;
        if self.is_leader() {
            self.record_voters().await;
        }
    }

    async fn check_own(&self) {
        let (gate, id) = (self.gate().clone(), self.id());
        let recorded = self.read_local(|s| s.incarnation(id));
        match recorded {
            Some(r) if r == gate.id() => {
                if gate.votes() {
                    return;
                }
                *gate.replaced_by.lock().expect("gate lock") = None;
                if let Err(e) = gate.confirm().await {
                    tracing::error!(error = %e, "cannot save that this data dir may vote");
                    return;
                }
                self.apply_gate();
                tracing::info!(node = id, incarnation = %r, "the leader recorded this data dir; this node votes from now on");
            }
            Some(r) => {
                let newly = gate.replaced_by.lock().expect("gate lock").replace(r) != Some(r);
                if newly {
                    self.apply_gate();
                }
                // Evaluated first, so the reminder clock restarts when the news is logged.
                let due = gate.due((id, 0), REMIND);
                if let Some(reason) = self.vote_refusal().filter(|_| newly || due) {
                    tracing::error!(node = id, reason = %reason, "this node does not vote: its data dir was wiped or replaced");
                }
            }
            None => {
                if let Some(reason) = self.vote_refusal().filter(|_| gate.due((id, 0), REMIND)) {
                    tracing::warn!(node = id, reason = %reason, "this node does not vote yet");
                }
            }
        }
    }

    /// Records the incarnation of every voter that has none; logs (now and then) the voters
    /// that answer with another incarnation than the recorded one. Records nothing while a
    /// voter answers without an incarnation: it runs an older trentd, which could not apply
    /// the record (a rolling upgrade is under way).
    async fn record_voters(&self) {
        let voters: Vec<NodeId> = (self.raft().metrics().borrow())
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let mut answers = Vec::new();
        for voter in voters {
            let recorded = self.read_local(|s| s.incarnation(voter));
            if recorded.is_some() && !self.gate().due((voter, 1), RECHECK) {
                continue;
            }
            match self.incarnation_of(voter).await {
                Ok(Some(reported)) => answers.push((voter, recorded, reported)),
                Ok(None) => return,
                Err(_) => {}
            }
        }
        for (voter, recorded, reported) in answers {
            match recorded {
                None => match self.record(voter, reported, false).await {
                    Ok(r) if r == reported => {
                        tracing::info!(node = voter, incarnation = %r, "recorded a voter's data dir")
                    }
                    Ok(_) | Err(_) => {}
                },
                Some(r) if r != reported && self.gate().due((voter, 2), REMIND) => tracing::error!(
                    node = voter,
                    recorded = %r,
                    reported = %reported,
                    "voter {voter} answers from a data dir the cluster does not know (wiped or \
                     replaced); it does not vote until it is replaced: remove-node --id {voter}, \
                     then add-node --id {voter} (docs/OPERATIONS.md)"
                ),
                Some(_) => {}
            }
        }
    }

    /// The incarnation node `id` answers (this node's own for itself); `Ok(None)` from a
    /// trentd too old to say.
    async fn incarnation_of(&self, id: NodeId) -> Result<Option<Uuid>, ClusterError> {
        if id == self.id() {
            return Ok(Some(self.incarnation()));
        }
        let addr = self
            .member_addr(id)
            .ok_or_else(|| ClusterError::Invalid(format!("node {id} is not a member")))?;
        let reply = self.network().incarnation(id, &addr, ASK_TIMEOUT).await;
        reply.map_err(|e| ClusterError::Unavailable(e.message().to_owned()))
    }

    /// Proposes `RecordIncarnation`; answers the incarnation recorded afterwards.
    async fn record(
        &self,
        node: NodeId,
        incarnation: Uuid,
        replace: bool,
    ) -> Result<Uuid, ClusterError> {
        let command = Command::RecordIncarnation {
            node,
            incarnation,
            replace,
        };
        match self.write(Uuid::new_v4(), command).await? {
            Ok(Outcome::Incarnation(recorded)) => Ok(recorded),
            other => Err(ClusterError::Fatal(format!(
                "recording node {node}'s incarnation answered {other:?}"
            ))),
        }
    }

    /// AddNode's last step before promoting learner `id`: records the data dir it answers
    /// from as node `id`'s, replacing a wiped one's.
    pub(crate) async fn record_joining(&self, id: NodeId, addr: &str) -> Result<(), ClusterError> {
        let reported = self
            .network()
            .incarnation(id, addr, ASK_TIMEOUT)
            .await
            .map_err(|e| {
                ClusterError::Unavailable(format!(
                    "node {id} did not say which data dir it runs on: {}",
                    e.message()
                ))
            })?
            .ok_or_else(|| {
                ClusterError::Invalid(format!(
                    "node {id} runs a trentd too old to say which data dir it runs on"
                ))
            })?;
        self.record(id, reported, true).await?;
        tracing::info!(node = id, incarnation = %reported, "recorded a joining node's data dir");
        Ok(())
    }

    /// AddNode of voter `id` at its own address: refused with the replace step when the node
    /// answers from another data dir than the recorded one (it cannot vote until replaced).
    pub(crate) async fn check_voter_incarnation(&self, id: NodeId) -> Result<(), ClusterError> {
        let recorded = self.read_local(|s| s.incarnation(id));
        match (recorded, self.incarnation_of(id).await) {
            (Some(recorded), Ok(Some(reported))) if recorded != reported => Err(ClusterError::Invalid(format!(
                "node {id} is a voter whose data dir was wiped or replaced (it answers incarnation {reported}, the cluster recorded {recorded}), so it does not vote; replace it: remove-node --id {id} first, then add-node again"
            ))),
            _ => Ok(()),
        }
    }
}
