//! The audit trail's place in the replicated state (issue 25): the tip of the hash chain and
//! the sealing of batches.
//!
//! Guarantees:
//! - Batches are sealed here, in `apply`, never on a leader: every replica computes the same
//!   chain from the same log, and a leader change cannot fork it (two leaders sealing on one
//!   tip would). Batch `n` follows batch `n - 1`'s hash; batch 0 follows
//!   [`trent_audit::GENESIS`].
//! - The state holds only the tip ([`AuditTip`], one record). Sealed batches leave `apply` in
//!   an outbox that the storage layer drains into its own column family in the same write as
//!   the tip ([`State::take_sealed_audit`]); they are never kept in memory.
//! - A batch's `time` is the state's clock when it applied, which never moves backwards: batch
//!   sequence numbers and batch times sort the same way, so a time range is a range of seqs.
//! - An `AppendAudit` whose events do not all parse changes nothing (the leader built them;
//!   a bad one is a bug, refused whole rather than half recorded).

use serde::{Deserialize, Serialize};
use trent_audit::{Batch, Event, GENESIS};
use trent_model::{Error, Millis};

use crate::{Outcome, RecordKey, Response, State};

/// Where the chain stands: the next batch's sequence number and the last batch's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTip {
    pub next_seq: u64,
    pub hash: [u8; 32],
    /// Events recorded since the cluster began (for metrics).
    pub events: u64,
    /// The state's clock when the last batch applied.
    pub time: Millis,
}

impl Default for AuditTip {
    fn default() -> Self {
        AuditTip {
            next_seq: 0,
            hash: GENESIS,
            events: 0,
            time: 0,
        }
    }
}

/// A sealed batch as stored (the value under its seq in the audit column family, and in
/// snapshots): the previous batch's hash, the time it applied, and each event's canonical
/// JSON with its chain link, exactly as an export's log file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBatch {
    pub prev: [u8; 32],
    pub time: Millis,
    pub events: Vec<String>,
}

impl StoredBatch {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("a batch serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<StoredBatch, String> {
        bincode::deserialize(bytes).map_err(|e| format!("undecodable audit batch: {e}"))
    }

    /// The batch as the chain's type, its events parsed.
    pub fn to_batch(&self, seq: u64) -> Result<Batch, String> {
        let events = self
            .events
            .iter()
            .map(|e| serde_json::from_str::<Event>(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("audit batch {seq}: an event does not parse: {e}"))?;
        Ok(Batch {
            seq,
            prev: self.prev,
            events,
        })
    }
}

/// Stored key of batch `seq` in the audit column family: big-endian, so keys sort by seq.
pub fn batch_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

impl State {
    /// Where the audit chain stands.
    pub fn audit_tip(&self) -> AuditTip {
        self.audit_tip
    }

    /// The batches sealed since the last call, `(seq, stored bytes)` in order, for the storage
    /// layer to write with the records `apply` touched.
    pub fn take_sealed_audit(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.audit_outbox)
    }

    pub(crate) fn append_audit(
        &mut self,
        events: &[String],
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let parsed = events
            .iter()
            .map(|e| serde_json::from_str::<Event>(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("an audit event does not parse: {e}")))?;
        if parsed.is_empty() {
            return Ok(Outcome::Done);
        }
        let tip = self.audit_tip;
        let batch = Batch::seal(tip.next_seq, tip.hash, parsed);
        let stored = StoredBatch {
            prev: tip.hash,
            time: self.clock,
            events: batch
                .events
                .iter()
                .map(|e| String::from_utf8(e.canonical_bytes()).expect("JSON is UTF-8"))
                .collect(),
        };
        self.audit_tip = AuditTip {
            next_seq: tip.next_seq + 1,
            hash: batch.hash(),
            events: tip.events + batch.events.len() as u64,
            time: self.clock,
        };
        self.audit_outbox.push((tip.next_seq, stored.encode()));
        touched.push(RecordKey::AuditTip);
        Ok(Outcome::Done)
    }

    pub(crate) fn set_audit_tip(&mut self, tip: AuditTip) {
        self.audit_tip = tip;
    }
}
