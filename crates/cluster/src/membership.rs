//! Cluster life cycle: forming a new cluster from its initial member set, adding and removing
//! members, and reporting status.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use tokio::time::Instant;
use trent_model::{ClusterStatus, MemberStatus};

use crate::node::{write_error, ClusterNode};
use crate::{ClusterError, NodeId, StartError};

/// How long adding a node may take: the new node must catch up (possibly by snapshot).
const ADD_NODE_TIMEOUT: Duration = Duration::from_secs(60);

impl ClusterNode {
    /// Forms the cluster if this node is new and has an initial member set: once a majority of
    /// the founding members answer with the *same* member set, the set is committed as the
    /// first membership. A peer with a different set stops this node with an error, and so
    /// does a majority of founding members holding another domain key (cluster_id.rs). A
    /// peer that says the cluster has formed already makes this node wait to be replicated
    /// to instead, not voting until the leader records its data dir (incarnation.rs).
    pub async fn bootstrap(&self) -> Result<(), StartError> {
        self.check_domain_key()?;
        let members = self.config().initial_cluster.0.clone();
        if members.is_empty() || self.is_initialized().await? {
            return Ok(());
        }
        let ours = self.config().initial_cluster.to_string();
        let quorum = members.len() / 2 + 1;
        let mut warned_formed = false;
        let key_check = self.identity().key_check();
        loop {
            if let Some((peer, theirs)) = self.take_peer_mismatch() {
                return Err(StartError::PeerMismatch {
                    peer: format!("node {peer}"),
                    theirs,
                    ours,
                });
            }
            let mut agreeing = 1;
            let mut formed = None;
            let mut other_key = vec![];
            for (&id, addr) in members.iter().filter(|(&id, _)| id != self.id()) {
                let Ok(reply) = self.network().hello(id, addr, ours.clone(), false).await else {
                    continue;
                };
                if reply.node_id != id {
                    return Err(StartError::Config(format!(
                        "initial_cluster lists node {id} at {addr}, but node {} answers there",
                        reply.node_id
                    )));
                }
                if reply.initial_cluster != ours {
                    return Err(StartError::PeerMismatch {
                        peer: addr.clone(),
                        theirs: reply.initial_cluster,
                        ours,
                    });
                }
                // An empty value: a peer that does not report one (an older trentd).
                match &key_check {
                    Some(mine) if !reply.key_check.is_empty() && reply.key_check != *mine => {
                        other_key.push(id);
                        continue;
                    }
                    _ => agreeing += 1,
                }
                formed = formed.or(reply.formed.then_some(id));
            }
            if other_key.len() >= quorum {
                return Err(StartError::Identity(format!(
                    "domain key mismatch: founding members {other_key:?} hold another domain \
                    key than this node; start it with the cluster's domain key"
                )));
            }
            if !other_key.is_empty() {
                tracing::warn!(nodes = ?other_key, "domain key mismatch: these founding members hold another domain key than this node");
            }
            if self.is_initialized().await? {
                return Ok(());
            }
            match formed {
                Some(peer) if !warned_formed => {
                    warned_formed = true;
                    tracing::warn!(
                        peer,
                        "the cluster has formed already (node {peer} holds its log) and this \
                         node's data dir is empty: not founding it again; waiting for the leader \
                         to replicate the log here and record this data dir before voting"
                    );
                }
                Some(_) => {}
                None if agreeing >= quorum => break,
                None => tracing::info!(agreeing, quorum, "waiting for founding members"),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        self.confirm_founding().await?;
        match self.raft().initialize(nodes).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(StartError::Raft(e.to_string())),
        }
    }

    async fn is_initialized(&self) -> Result<bool, StartError> {
        self.raft()
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))
    }

    /// Adds `id` at `addr`: first as a learner that catches up, then as a voter. Idempotent
    /// for a node that is already a voter at that address. Leader only.
    pub async fn add_node(&self, id: NodeId, addr: String) -> Result<(), ClusterError> {
        if id == 0 {
            return Err(ClusterError::Invalid("node id: node ids start at 1".into()));
        }
        crate::config::check_peer_addr(&addr)
            .map_err(|e| ClusterError::Invalid(format!("address: {e}")))?;
        let (voters, nodes) = self.membership();
        match nodes.get(&id) {
            Some(existing) if existing != &addr => {
                return Err(ClusterError::Invalid(format!(
                    "node {id} is already a member at {existing}"
                )))
            }
            Some(_) if voters.contains(&id) => return self.check_voter_incarnation(id).await,
            _ => {}
        }
        // Who answers at `addr` must be node `id` of this cluster, with its domain key.
        self.admit(id, &addr, nodes.contains_key(&id)).await?;
        if let Some((other, _)) = nodes.iter().find(|(other, a)| **a == addr && **other != id) {
            return Err(ClusterError::Invalid(format!(
                "address {addr} already belongs to node {other}"
            )));
        }
        let deadline = Instant::now() + self.config().request_timeout;
        let added = self
            .one_change_at_a_time(deadline, || {
                self.raft()
                    .add_learner(id, BasicNode::new(addr.clone()), false)
            })
            .await?;
        self.await_learner(id, added.log_id.index).await?;
        self.record_joining(id, &addr).await?;
        self.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])))
            .await
    }

    /// Waits until learner `id` holds the log up to `index` (the entry that added it).
    ///
    /// openraft's blocking `add_learner` calls a learner "up to date" when it lags by less
    /// than `replication_lag_threshold` (5000) entries, which a young cluster's unreachable
    /// learner (wrong address, no certificate from the cluster CA, not started) does too;
    /// promoting it would make a voter of a node that cannot vote. So wait for its
    /// acknowledgement of that very entry instead.
    async fn await_learner(&self, id: NodeId, index: u64) -> Result<(), ClusterError> {
        let matched = |m: &openraft::RaftMetrics<NodeId, BasicNode>| {
            let replication = m.replication.as_ref()?;
            replication.get(&id).cloned().flatten().map(|l| l.index)
        };
        let waited = self
            .raft()
            .wait(Some(ADD_NODE_TIMEOUT))
            .metrics(
                |m| m.replication.is_none() || matched(m) >= Some(index),
                "learner catching up",
            )
            .await;
        match waited {
            Ok(m) if m.replication.is_none() => Err(ClusterError::NotLeader {
                leader: m.current_leader,
            }),
            Ok(_) => Ok(()),
            Err(_) => Err(ClusterError::Unavailable(format!(
                "node {id} did not catch up within {ADD_NODE_TIMEOUT:?}; is it running at that \
                 address, with a certificate from the cluster CA?"
            ))),
        }
    }

    /// Removes `id` from the cluster. Leader only; refuses to remove the last voter.
    pub async fn remove_node(&self, id: NodeId) -> Result<(), ClusterError> {
        let (voters, nodes) = self.membership();
        if !nodes.contains_key(&id) {
            return Err(ClusterError::Invalid(format!("node {id} is not a member")));
        }
        if voters.len() == 1 && voters.contains(&id) {
            return Err(ClusterError::Invalid(format!(
                "node {id} is the last voter"
            )));
        }
        self.check_trail_held(id, &nodes).await?;
        let change = if voters.contains(&id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.change_membership(change).await
    }

    /// Refuses to remove `leaving` while a member that stays still fetches audit batches
    /// (audit_backfill.rs): the leaving node may be one of the few that hold them. A member
    /// that does not answer is not waited for (it may be down for good); it fetches what it
    /// lacks when it is back, from whoever holds it.
    async fn check_trail_held(
        &self,
        leaving: NodeId,
        nodes: &BTreeMap<NodeId, String>,
    ) -> Result<(), ClusterError> {
        let timeout = self.config().request_timeout / 4;
        for (&id, addr) in nodes.iter().filter(|(&id, _)| id != leaving) {
            let missing = if id == self.id() {
                self.audit_missing_below()
            } else {
                let asking = self.network().audit_missing_below(id, addr, timeout);
                asking.await.ok().flatten()
            };
            if let Some(below) = missing {
                return Err(ClusterError::Invalid(format!(
                    "node {id} is still fetching the audit trail from its peers (it lacks the \
                     batches below {below}); removing node {leaving} now could lose events \
                     that only the others hold: try again when it has them (its log says \
                     \"audit trail complete\")"
                )));
            }
        }
        Ok(())
    }

    async fn change_membership(
        &self,
        change: ChangeMembers<NodeId, BasicNode>,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.config().request_timeout;
        let changing = self.one_change_at_a_time(deadline, || {
            self.raft().change_membership(change.clone(), false)
        });
        tokio::time::timeout_at(deadline, changing)
            .await
            .map_err(|_| ClusterError::Unavailable("timed out changing membership".into()))??;
        Ok(())
    }

    /// Runs the membership change `propose`, retried until `deadline` while openraft refuses
    /// it because an earlier change is not committed yet: one change at a time is Raft's
    /// rule, and a caller adding two nodes one after the other should not have to know when
    /// the first one's entries committed.
    async fn one_change_at_a_time<T, F>(
        &self,
        deadline: Instant,
        mut propose: impl FnMut() -> F,
    ) -> Result<T, ClusterError>
    where
        F: Future<Output = Result<T, RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>>>,
    {
        loop {
            match propose().await {
                Err(e) if in_progress(&e) && Instant::now() < deadline => {
                    self.await_membership_settled(deadline).await;
                    // Metrics can trail the core by a moment: no tight loop on them.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => return other.map_err(write_error),
            }
        }
    }

    /// Waits (until `deadline` at most) until the latest membership change is applied here.
    async fn await_membership_settled(&self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = self
            .raft()
            .wait(Some(wait))
            .metrics(
                |m| m.last_applied >= *m.membership_config.log_id(),
                "membership change applied",
            )
            .await;
    }

    /// The current voters and every member's address.
    pub(crate) fn membership(&self) -> (BTreeSet<NodeId>, BTreeMap<NodeId, String>) {
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters = membership.voter_ids().collect();
        let nodes = membership
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        (voters, nodes)
    }

    /// This node's view of the cluster, with each peer's liveness as this node sees it
    /// (peers.rs).
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .map(|l| l.index);
                let mut member = MemberStatus {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    matched,
                    lag: None,
                    last_contact_ms: None,
                    reachable: None,
                    error: None,
                };
                crate::observe::liveness(self, &m, &mut member);
                member
            })
            .collect();
        let state = match m.state {
            _ if self.is_removed() => "Removed",
            ServerState::Leader => "Leader",
            ServerState::Follower => "Follower",
            ServerState::Candidate => "Candidate",
            ServerState::Learner => "Learner",
            ServerState::Shutdown => "Shutdown",
        };
        ClusterStatus {
            cluster: self.cluster_name().to_owned(),
            cluster_id: self.cluster_id().map(|id| id.to_string()),
            node_id: self.id(),
            state: state.into(),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            members,
            quarantine: self.vote_refusal(),
            disk: self
                .disk_full()
                .then(|| "full: writes wait for space".to_owned()),
        }
    }
}

/// Whether openraft refused a membership change because an earlier one is not committed yet.
fn in_progress(e: &RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> bool {
    matches!(
        e,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(_)
        ))
    )
}
