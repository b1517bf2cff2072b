//! What a leader checks before it adds a node, and before it records the cluster's domain key
//! check value: it asks the node at the address who it is (a `Hello` probe) and compares.
//!
//! A node is added only if it answers under the id it is added as, belongs to this cluster
//! (name, and id if it knows one), holds this cluster's domain key, and is not a member of
//! another formed cluster (its data dir holds another cluster id). Each refusal is a
//! `ClusterError::Invalid` naming the field, and nothing is changed: the check comes before
//! the first membership change. A formed data dir without an id (from before cluster ids: a
//! former member rejoining, say a StatefulSet pod that left while the cluster was upgraded)
//! cannot be told apart from another such cluster's: it is admitted, with a warning.

use std::time::Duration;

use tokio::time::Instant;

use crate::node::ClusterNode;
use crate::proto::HelloReply;
use crate::{ClusterError, NodeId};

/// How long a leader retries a probe that does not get through (the node may be starting),
/// at most: never more than half the request timeout, so the refusal, which names the
/// address, reaches the operator instead of the request's bare timeout.
const PROBE_RETRY: Duration = Duration::from_secs(10);

/// What this cluster expects of a node it adds.
pub(crate) struct Expected<'a> {
    pub id: NodeId,
    pub addr: &'a str,
    pub cluster: &'a str,
    /// Our cluster id as the wire carries it (empty if none is recorded yet).
    pub cluster_id: &'a [u8],
    /// Our key check value, if our HSM is loaded.
    pub key_check: Option<&'a [u8]>,
    /// The node is already in our membership (a retried AddNode).
    pub member: bool,
}

/// Checks a probed node's answer; the error names the field at fault.
pub(crate) fn check_joiner(want: &Expected<'_>, reply: &HelloReply) -> Result<(), String> {
    let (id, addr) = (want.id, want.addr);
    if reply.node_id != id {
        return Err(format!(
            "node id: the node at {addr} is node {}, not node {id}; a node serves only under its \
             own --node-id",
            reply.node_id
        ));
    }
    if reply.cluster != want.cluster {
        return Err(format!(
            "address: the node at {addr} belongs to cluster '{}', not '{}'",
            reply.cluster, want.cluster
        ));
    }
    if !reply.cluster_id.is_empty() && reply.cluster_id != want.cluster_id {
        let ours = match want.cluster_id.is_empty() {
            true => "this cluster has recorded none yet".into(),
            false => format!("this is cluster {}", show_id(want.cluster_id)),
        };
        return Err(format!(
            "cluster id mismatch: the node at {addr} already belongs to a formed cluster, {}; \
             {ours}. Only a node started with an empty data dir can be added",
            show_id(&reply.cluster_id),
        ));
    }
    if reply.member && reply.cluster_id.is_empty() && !want.member {
        tracing::warn!(
            %addr,
            "the node to add holds a formed data dir from before cluster ids: admitted, as it \
             cannot be told from a former member of this cluster"
        );
    }
    match want.key_check {
        Some(_) if reply.key_check.is_empty() => Err(format!(
            "domain key mismatch: the node at {addr} reports no domain key check value (an older \
             trentd?)"
        )),
        Some(ours) if ours != reply.key_check.as_slice() => Err(format!(
            "domain key mismatch: the node at {addr} holds another domain key than this cluster; \
             start it with the cluster's domain key"
        )),
        _ => Ok(()),
    }
}

fn show_id(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes)
        .map(|id| id.to_string())
        .unwrap_or_else(|_| "(malformed)".into())
}

impl ClusterNode {
    /// Checks the node at `addr` before it is added as `id` (see the module doc).
    pub(crate) async fn admit(
        &self,
        id: NodeId,
        addr: &str,
        member: bool,
    ) -> Result<(), ClusterError> {
        let retry = PROBE_RETRY.min(self.config().request_timeout / 2);
        let reply = self.probe(id, addr, Instant::now() + retry).await?;
        let identity = self.identity();
        let (cluster_id, key_check) = (identity.wire_id(), identity.key_check());
        let want = Expected {
            id,
            addr,
            cluster: self.cluster_name(),
            cluster_id: &cluster_id,
            key_check: key_check.as_deref(),
            member,
        };
        check_joiner(&want, &reply).map_err(|reason| {
            tracing::warn!(node = id, %addr, %reason, "AddNode refused");
            ClusterError::Invalid(reason)
        })
    }

    /// Asks the node at `addr` who it is, retrying until `deadline` while it cannot be
    /// reached. A refusal by the node itself (another cluster) is final.
    async fn probe(
        &self,
        id: NodeId,
        addr: &str,
        deadline: Instant,
    ) -> Result<HelloReply, ClusterError> {
        loop {
            let status = match self.network().hello(id, addr, String::new(), true).await {
                Ok(reply) => return Ok(reply),
                Err(status) => status,
            };
            match status.code() {
                tonic::Code::PermissionDenied | tonic::Code::InvalidArgument => {
                    return Err(ClusterError::Invalid(format!(
                        "address: the node at {addr} refuses this cluster: {}",
                        status.message()
                    )))
                }
                _ if Instant::now() >= deadline => {
                    // An operator's error to fix, not a condition for SDKs to retry blindly
                    // (a bare 503 would hide which address fails and why).
                    return Err(ClusterError::Invalid(format!(
                        "address: node {id} at {addr} does not answer ({}); is it running at that \
                         address, with a certificate from the cluster CA that names node {id}?",
                        status.message()
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Whether a majority of voters (this node counted) report `key_check`, and no voter
    /// that answers runs a trentd too old to know cluster identities (it could not apply
    /// the record: during a rolling upgrade, the record waits for the last node). A voter
    /// that reports another value is named; one that does not answer counts against it. If
    /// a majority hold another value, this node is the one with the wrong key: it stops.
    pub(crate) async fn voters_share_key_check(&self, key_check: &[u8]) -> Result<(), String> {
        let (voters, nodes) = self.membership();
        let quorum = voters.len() / 2 + 1;
        let (mut same, mut other, mut old) = (0, 0, vec![]);
        for id in voters {
            if id == self.id() {
                same += 1;
                continue;
            }
            let Some(addr) = nodes.get(&id) else { continue };
            let probe = self.network().hello(id, addr, String::new(), true).await;
            match probe {
                Ok(reply) if reply.key_check == key_check => same += 1,
                Ok(reply) if reply.key_check.is_empty() => old.push(id),
                Ok(_) => {
                    other += 1;
                    tracing::error!(
                        node = id,
                        "domain key mismatch: voter {id} holds another domain key"
                    );
                }
                Err(_) => {}
            }
        }
        if other >= quorum {
            let reason = format!(
                "domain key mismatch: {other} voters hold another domain key than this node; \
                 start it with the cluster's domain key"
            );
            self.identity().fail(reason.clone());
            return Err(reason);
        }
        if !old.is_empty() {
            return Err(format!(
                "voters {old:?} run a trentd that does not know cluster identities"
            ));
        }
        match same >= quorum {
            true => Ok(()),
            false => Err(format!(
                "{same} of the voters (quorum {quorum}) confirmed this node's domain key"
            )),
        }
    }

    /// Whether every member (voters and learners, this node counted) reports `next` as the
    /// key check value its HSM would switch to: a migrating HSM holding the same new key. A
    /// member that does not answer, or reports another value, stops the switch: a node left
    /// with only the old key would stop once the switch applies (cluster_id.rs).
    pub async fn members_hold_next_key(&self, next: &[u8]) -> Result<(), String> {
        let (_, nodes) = self.membership();
        let (mut without, mut silent) = (vec![], vec![]);
        for (&id, addr) in &nodes {
            if id == self.id() {
                continue;
            }
            match self.network().hello(id, addr, String::new(), true).await {
                Ok(reply) if reply.next_key_check == next => {}
                Ok(_) => without.push(id),
                Err(_) => silent.push(id),
            }
        }
        match (without.is_empty(), silent.is_empty()) {
            (true, true) => Ok(()),
            (false, _) => Err(format!(
                "nodes {without:?} do not run with the same new domain key and the old one \
                 (trentd run --hsm pkcs11 ... --migrate-from-domain-key-file)"
            )),
            (true, false) => Err(format!("nodes {silent:?} do not answer")),
        }
    }

    /// Whether the voters' builds apply the commands of `set` (`trent_state::COMMAND_SET`):
    /// no voter that answers runs an older build, and a quorum (this node counted) answered.
    /// A command an older build cannot decode stops replication to it until it is upgraded
    /// (and, with a quorum of them, every write behind it), so a proposer of an optional
    /// command asks first. As for the cluster identity, a voter that does not answer is
    /// taken to be on its way back with the new build (a rolling upgrade restarts nodes).
    pub async fn voters_apply_command_set(&self, set: u32) -> Result<(), String> {
        let (voters, nodes) = self.membership();
        let quorum = voters.len() / 2 + 1;
        let (mut answered, mut behind) = (0, vec![]);
        for id in voters {
            if id == self.id() {
                answered += 1;
                continue;
            }
            let Some(addr) = nodes.get(&id) else { continue };
            match self.network().hello(id, addr, String::new(), true).await {
                Ok(reply) if reply.command_set >= set => answered += 1,
                Ok(_) => behind.push(id),
                Err(_) => {}
            }
        }
        if !behind.is_empty() {
            return Err(format!(
                "voters {behind:?} run a trentd that cannot apply command set {set}"
            ));
        }
        match answered >= quorum {
            true => Ok(()),
            false => Err(format!(
                "{answered} of the voters (quorum {quorum}) answered that they apply command set \
                 {set}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> HelloReply {
        HelloReply {
            node_id: 5,
            initial_cluster: String::new(),
            cluster: "it".into(),
            cluster_id: vec![],
            key_check: vec![1; 32],
            member: false,
            formed: false,
            command_set: trent_state::COMMAND_SET,
            next_key_check: vec![],
        }
    }

    fn want<'a>(cluster_id: &'a [u8], key: &'a [u8]) -> Expected<'a> {
        Expected {
            id: 5,
            addr: "h:1",
            cluster: "it",
            cluster_id,
            key_check: Some(key),
            member: false,
        }
    }

    #[test]
    fn a_fresh_node_with_our_key_is_admitted() {
        let (ours, key) = ([7u8; 16], [1u8; 32]);
        check_joiner(&want(&ours, &key), &reply()).unwrap();
        // A retried AddNode: the node is ours already and knows our id.
        let mut again = reply();
        again.member = true;
        again.cluster_id = ours.to_vec();
        check_joiner(&want(&ours, &key), &again).unwrap();
        // A data dir from before cluster ids cannot be told apart: admitted.
        again.cluster_id = vec![];
        check_joiner(&want(&ours, &key), &again).unwrap();
        // A cluster that has no id yet still refuses a node that has one.
        let mut theirs = reply();
        theirs.cluster_id = vec![8; 16];
        let err = check_joiner(&want(&[], &key), &theirs).unwrap_err();
        assert!(err.contains("recorded none yet"), "{err}");
    }

    #[test]
    fn each_mistake_is_refused_naming_its_field() {
        let (ours, key) = ([7u8; 16], [1u8; 32]);
        type Spoil = fn(&mut HelloReply);
        let cases: [(Spoil, &str); 6] = [
            (
                |r| r.node_id = 2,
                "node id: the node at h:1 is node 2, not node 5",
            ),
            (|r| r.cluster = "other".into(), "belongs to cluster 'other'"),
            (|r| r.cluster_id = vec![8; 16], "cluster id mismatch"),
            (
                |r| {
                    r.member = true;
                    r.cluster_id = vec![8; 16];
                },
                "already belongs to a formed cluster, 08080808",
            ),
            (|r| r.key_check = vec![2; 32], "domain key mismatch"),
            (|r| r.key_check = vec![], "domain key mismatch"),
        ];
        for (spoil, says) in cases {
            let mut r = reply();
            spoil(&mut r);
            let err = check_joiner(&want(&ours, &key), &r).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
