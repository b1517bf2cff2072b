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
//!   a bad one is a bug, refused whole rather than half recorded); nor does an
//!   `AppendAuditUnlinked` with an event not cut at its link ([`Unlinked::check`]). The cut
//!   form is sealed without parsing (and the packed form, `AppendAuditPacked`, once unpacked:
//!   a block that does not unpack changes nothing either): the link is written into each event's bytes, which give
//!   the same chain as parsing and re-serializing would (`trent_audit::Unlinked`).
//! - Retention never takes a batch no export holds: `PruneAudit` is refused past
//!   `exported_through`, the highest batch an exporter proved it holds (`AuditExported`:
//!   its next export named that batch's hash), and it only moves the front forward.

use serde::{Deserialize, Serialize};
use trent_audit::{Batch, Event, Packed, Unlinked, GENESIS};
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
    /// The oldest batch kept (retention prunes before it).
    pub first_seq: u64,
    /// Batches up to this one (exclusive) are held by an export; `PruneAudit` may take them.
    pub exported_before: u64,
    /// Events in the batches pruned so far (`events - pruned_events` are kept).
    pub pruned_events: u64,
}

impl Default for AuditTip {
    fn default() -> Self {
        AuditTip {
            next_seq: 0,
            hash: GENESIS,
            events: 0,
            time: 0,
            first_seq: 0,
            exported_before: 0,
            pruned_events: 0,
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

    /// The time and event count of a stored batch, read from the front of its bytes without
    /// decoding its events (retention and time searches read many batches).
    pub fn decode_header(bytes: &[u8]) -> Result<BatchHeader, String> {
        // bincode lays a `StoredBatch` out as `prev`, `time`, then the events' count: this is
        // its prefix (bincode's legacy `deserialize` allows the bytes that follow).
        #[derive(Deserialize)]
        struct Prefix {
            _prev: [u8; 32],
            time: Millis,
            events: u64,
        }
        let p: Prefix =
            bincode::deserialize(bytes).map_err(|e| format!("undecodable audit batch: {e}"))?;
        Ok(BatchHeader {
            time: p.time,
            events: p.events,
        })
    }

    /// Event `index` of a stored batch, read from its bytes without decoding the others (a
    /// lookup through the resource index reads one event of many batches); `None` past the
    /// last event.
    pub fn event_at(bytes: &[u8], index: usize) -> Result<Option<&str>, String> {
        let mut events = EventSlices::new(bytes)?;
        if index >= events.left {
            return Ok(None);
        }
        for _ in 0..index {
            events.skip()?;
        }
        events.next_event().map(Some)
    }

    /// The time and every event of a stored batch, borrowed from its bytes: what indexing a
    /// batch as it is stored reads, without a copy of each event.
    pub fn event_slices(bytes: &[u8]) -> Result<(Millis, Vec<&str>), String> {
        let mut events = EventSlices::new(bytes)?;
        let mut out = Vec::with_capacity(events.left.min(bytes.len() / 8));
        while events.left > 0 {
            out.push(events.next_event()?);
        }
        Ok((events.time, out))
    }

    /// The hash of this batch as batch `seq` (what batch `seq + 1` names as `prev`).
    pub fn hash(&self, seq: u64) -> [u8; 32] {
        trent_audit::batch_hash_of_bytes(seq, &self.prev, self.events.iter().map(|e| e.as_bytes()))
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

/// What [`StoredBatch::decode_header`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub time: Millis,
    pub events: u64,
}

/// A walk over a stored batch's events in its bytes. bincode's legacy layout: `prev` (32
/// bytes), `time` (u64), the events' count (u64), then each event as its length (u64,
/// little-endian) and its bytes.
struct EventSlices<'a> {
    bytes: &'a [u8],
    at: usize,
    time: Millis,
    left: usize,
}

impl<'a> EventSlices<'a> {
    fn new(bytes: &'a [u8]) -> Result<EventSlices<'a>, String> {
        let mut walk = EventSlices {
            bytes,
            at: 32,
            time: 0,
            left: 0,
        };
        walk.time = walk.word()? as Millis;
        walk.left = walk.word()?;
        Ok(walk)
    }

    fn bad() -> String {
        "undecodable audit batch: cut short".to_owned()
    }

    /// The u64 at the walk's place, moving past it.
    fn word(&mut self) -> Result<usize, String> {
        let b = self.bytes.get(self.at..self.at + 8).ok_or_else(Self::bad)?;
        self.at += 8;
        usize::try_from(u64::from_le_bytes(b.try_into().expect("8 bytes"))).map_err(|_| Self::bad())
    }

    /// The next event's bytes, moving past them.
    fn next_raw(&mut self) -> Result<&'a [u8], String> {
        let len = self.word()?;
        let end = self.at.checked_add(len).ok_or_else(Self::bad)?;
        let event = self.bytes.get(self.at..end).ok_or_else(Self::bad)?;
        self.at = end;
        self.left -= 1;
        Ok(event)
    }

    fn skip(&mut self) -> Result<(), String> {
        self.next_raw().map(|_| ())
    }

    fn next_event(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.next_raw()?).map_err(|e| format!("undecodable audit batch: {e}"))
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
        let (sealed, hash) = Batch::seal_to_bytes(tip.next_seq, tip.hash, parsed);
        self.store_sealed(sealed, hash, touched)
    }

    pub(crate) fn append_audit_unlinked(
        &mut self,
        events: &[Unlinked],
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        for event in events {
            event.check().map_err(Error::internal)?;
        }
        if events.is_empty() {
            return Ok(Outcome::Done);
        }
        let tip = self.audit_tip;
        let (sealed, hash) = Unlinked::seal(tip.next_seq, tip.hash, events);
        self.store_sealed(sealed, hash, touched)
    }

    /// A packed batch (command set 8): unpacked, then sealed as the cut events it holds. A
    /// block that does not unpack changes nothing, like an event that does not parse.
    pub(crate) fn append_audit_packed(
        &mut self,
        events: &Packed,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let events = events.unpack().map_err(Error::internal)?;
        self.append_audit_unlinked(&events, touched)
    }

    /// Moves the tip past a batch sealed on it, and hands the batch to the storage layer.
    pub(crate) fn store_sealed(
        &mut self,
        sealed: Vec<Vec<u8>>,
        hash: [u8; 32],
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let tip = self.audit_tip;
        let count = sealed.len() as u64;
        let stored = StoredBatch {
            prev: tip.hash,
            time: self.clock,
            events: sealed
                .into_iter()
                .map(|bytes| String::from_utf8(bytes).expect("JSON is UTF-8"))
                .collect(),
        };
        self.audit_tip = AuditTip {
            next_seq: tip.next_seq + 1,
            hash,
            events: tip.events + count,
            time: self.clock,
            ..tip
        };
        self.audit_outbox.push((tip.next_seq, stored.encode()));
        touched.push(RecordKey::AuditTip);
        Ok(Outcome::Done)
    }

    /// Records that an exporter holds every batch before `before` (never moves back, never
    /// past the tip).
    pub(crate) fn audit_exported(&mut self, before: u64, touched: &mut Vec<RecordKey>) -> Response {
        let tip = &mut self.audit_tip;
        let before = before.min(tip.next_seq);
        if before > tip.exported_before {
            tip.exported_before = before;
            touched.push(RecordKey::AuditTip);
        }
        Ok(Outcome::Done)
    }

    /// Drops the batches before `before`, which hold `events` events (the leader counted them
    /// in its store): refused past what an export holds.
    pub(crate) fn prune_audit(
        &mut self,
        before: u64,
        events: u64,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let tip = &mut self.audit_tip;
        if before > tip.exported_before {
            return Err(Error::new(
                trent_model::ErrorKind::Validation,
                format!(
                    "audit batches from {} on are not exported yet: they cannot be pruned",
                    tip.exported_before
                ),
            ));
        }
        if before > tip.first_seq {
            self.audit_pruned = Some((tip.first_seq, before));
            tip.first_seq = before;
            tip.pruned_events = (tip.pruned_events + events).min(tip.events);
            touched.push(RecordKey::AuditTip);
        }
        Ok(Outcome::Done)
    }

    /// The range of batches pruned since the last call, `[from, to)`, for the storage layer
    /// to delete with the records `apply` touched.
    pub fn take_pruned_audit(&mut self) -> Option<(u64, u64)> {
        self.audit_pruned.take()
    }

    pub(crate) fn set_audit_tip(&mut self, tip: AuditTip) {
        self.audit_tip = tip;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Command, Request, RequestId};
    use trent_audit::{Call, IdentityType, UserIdentity};
    use uuid::Uuid;

    /// An event of `name`, as the tests of the trail's state make them.
    pub(crate) fn event_of(name: &str) -> Event {
        Event::kms(Call {
            identity: UserIdentity {
                kind: IdentityType::Root,
                principal_id: None,
                arn: None,
                account_id: Some("111122223333".into()),
                access_key_id: None,
                user_name: None,
            },
            time: time::OffsetDateTime::UNIX_EPOCH,
            operation: name.into(),
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            request_id: Uuid::nil().to_string(),
            event_id: Uuid::nil().to_string(),
            read_only: true,
            recipient_account_id: "111122223333".into(),
        })
    }

    fn event(name: &str) -> String {
        String::from_utf8(event_of(name).canonical_bytes()).unwrap()
    }

    fn run(state: &mut State, command: Command) -> Response {
        let request = Request {
            id: RequestId(Uuid::new_v4()),
            time: 1_000,
            command,
        };
        state.apply(&request, &mut Vec::new())
    }

    #[test]
    fn batches_chain_in_apply_and_leave_through_the_outbox() {
        let mut state = State::default();
        for names in [vec!["Encrypt", "Decrypt"], vec!["Sign"]] {
            let events = names.into_iter().map(event).collect();
            run(&mut state, Command::AppendAudit { events }).unwrap();
        }
        let sealed = state.take_sealed_audit();
        assert!(state.take_sealed_audit().is_empty(), "taken once");
        for (_, bytes) in &sealed {
            let whole = StoredBatch::decode(bytes).unwrap();
            let header = StoredBatch::decode_header(bytes).unwrap();
            assert_eq!(
                (header.time, header.events),
                (whole.time, whole.events.len() as u64)
            );
            for (i, event) in whole.events.iter().enumerate() {
                assert_eq!(
                    StoredBatch::event_at(bytes, i).unwrap(),
                    Some(event.as_str())
                );
            }
            assert_eq!(
                StoredBatch::event_at(bytes, whole.events.len()).unwrap(),
                None
            );
            assert!(
                StoredBatch::event_at(&bytes[..bytes.len() - 1], whole.events.len() - 1).is_err()
            );
            let (time, slices) = StoredBatch::event_slices(bytes).unwrap();
            assert_eq!(time, whole.time);
            assert_eq!(slices, whole.events);
            assert!(StoredBatch::event_slices(&bytes[..bytes.len() - 1]).is_err());
        }
        let batches: Vec<Batch> = sealed
            .iter()
            .map(|(seq, bytes)| StoredBatch::decode(bytes).unwrap().to_batch(*seq).unwrap())
            .collect();
        trent_audit::verify_chain_to(&batches, &state.audit_tip().hash).unwrap();
        assert_eq!(batches[0].prev, GENESIS);
        // A stored batch hashes as the chain does, without parsing its events.
        for ((seq, bytes), batch) in sealed.iter().zip(&batches) {
            assert_eq!(StoredBatch::decode(bytes).unwrap().hash(*seq), batch.hash());
        }
        assert_ne!(
            StoredBatch::decode(&sealed[0].1).unwrap().hash(1),
            batches[0].hash(),
            "the seq is hashed"
        );
        let tip = state.audit_tip();
        assert_eq!((tip.next_seq, tip.events), (2, 3));
        // The tip survives a restart from the records.
        let restored = State::restore(state.records()).unwrap();
        assert_eq!(restored.audit_tip(), tip);
        // A batch with an event that does not parse changes nothing.
        let bad = Command::AppendAudit {
            events: vec![event("Encrypt"), "{not json".into()],
        };
        assert!(run(&mut state, bad).is_err());
        assert_eq!(state.audit_tip(), tip);
        assert!(state.take_sealed_audit().is_empty());
    }

    fn unlinked(name: &str) -> Unlinked {
        Unlinked::new(serde_json::from_str(&event(name)).unwrap())
    }

    #[test]
    fn the_cut_form_seals_the_chain_the_whole_form_does() {
        let (mut whole, mut cut) = (State::default(), State::default());
        for names in [vec!["Encrypt", "Decrypt"], vec!["Sign"]] {
            let events = names.iter().map(|n| event(n)).collect();
            run(&mut whole, Command::AppendAudit { events }).unwrap();
            let events = names.iter().map(|n| unlinked(n)).collect();
            run(&mut cut, Command::AppendAuditUnlinked { events }).unwrap();
        }
        assert_eq!(whole.audit_tip(), cut.audit_tip());
        assert_eq!(whole.take_sealed_audit(), cut.take_sealed_audit());
        // An event not cut at its link changes nothing.
        let tip = cut.audit_tip();
        let mut bad = unlinked("Encrypt");
        bad.tail.insert(0, ']');
        let events = vec![unlinked("Encrypt"), bad];
        assert!(run(&mut cut, Command::AppendAuditUnlinked { events }).is_err());
        assert_eq!(cut.audit_tip(), tip);
        assert!(cut.take_sealed_audit().is_empty());
        // A whole event made from a cut one seals the same (the form for old voters).
        let events = vec![unlinked("Encrypt").whole()];
        run(&mut whole, Command::AppendAudit { events }).unwrap();
        let events = vec![unlinked("Encrypt")];
        run(&mut cut, Command::AppendAuditUnlinked { events }).unwrap();
        assert_eq!(whole.take_sealed_audit(), cut.take_sealed_audit());
    }

    #[test]
    fn the_packed_form_seals_the_chain_the_cut_form_does() {
        let (mut cut, mut packed) = (State::default(), State::default());
        for names in [vec!["Encrypt", "Decrypt"], vec!["Sign"]] {
            let events: Vec<_> = names.iter().map(|n| unlinked(n)).collect();
            let events_packed = Packed::pack(&events);
            run(&mut cut, Command::AppendAuditUnlinked { events }).unwrap();
            run(
                &mut packed,
                Command::AppendAuditPacked {
                    events: events_packed,
                },
            )
            .unwrap();
        }
        assert_eq!(cut.audit_tip(), packed.audit_tip());
        assert_eq!(cut.take_sealed_audit(), packed.take_sealed_audit());
        // A block that does not unpack, or holds an event not cut at its link, changes nothing.
        let tip = packed.audit_tip();
        let mut bad = unlinked("Encrypt");
        bad.tail.insert(0, ']');
        let mut cut_short = Packed::pack(&[unlinked("Encrypt")]);
        cut_short.0.truncate(cut_short.0.len() / 2);
        for events in [Packed::pack(&[unlinked("Encrypt"), bad]), cut_short] {
            assert!(run(&mut packed, Command::AppendAuditPacked { events }).is_err());
            assert_eq!(packed.audit_tip(), tip);
            assert!(packed.take_sealed_audit().is_empty());
        }
    }

    /// An audit batch's request id is drawn for it and never retried: no form of the batch
    /// leaves an entry in the dedup table (or a record to store and snapshot), while a write
    /// applied beside it still does.
    #[test]
    fn audit_batches_are_not_remembered_for_deduplication() {
        let mut state = State::default();
        let commands = [
            Command::AppendAudit {
                events: vec![event("Encrypt")],
            },
            Command::AppendAuditUnlinked {
                events: vec![unlinked("Decrypt")],
            },
            Command::AppendAuditPacked {
                events: Packed::pack(&[unlinked("Sign")]),
            },
        ];
        for (n, command) in commands.into_iter().enumerate() {
            let request = Request {
                id: RequestId(Uuid::from_u128(n as u128 + 1)),
                time: 1_000,
                command,
            };
            let mut touched = Vec::new();
            state.apply(&request, &mut touched).unwrap();
            assert!(!touched.contains(&RecordKey::Request(request.id)));
            assert!(state.record(&RecordKey::Request(request.id)).is_none());
        }
        assert_eq!(state.audit_tip().next_seq, 3);
        let write = Request {
            id: RequestId(Uuid::from_u128(9)),
            time: 1_000,
            command: Command::AuditExported { before: 2 },
        };
        state.apply(&write, &mut Vec::new()).unwrap();
        assert!(state.record(&RecordKey::Request(write.id)).is_some());
    }

    #[test]
    fn retention_never_prunes_what_no_export_holds() {
        let mut state = State::default();
        for _ in 0..4 {
            let events = vec![event("Encrypt")];
            run(&mut state, Command::AppendAudit { events }).unwrap();
        }
        let prune = |before| Command::PruneAudit { before, events: 2 };
        assert!(run(&mut state, prune(2)).is_err(), "nothing exported yet");
        assert_eq!(state.take_pruned_audit(), None);
        run(&mut state, Command::AuditExported { before: 2 }).unwrap();
        // Never backwards, never past the tip.
        run(&mut state, Command::AuditExported { before: 1 }).unwrap();
        assert_eq!(state.audit_tip().exported_before, 2);
        run(&mut state, Command::AuditExported { before: 99 }).unwrap();
        assert_eq!(state.audit_tip().exported_before, 4);
        run(&mut state, prune(2)).unwrap();
        assert_eq!(state.take_pruned_audit(), Some((0, 2)));
        let tip = state.audit_tip();
        assert_eq!((tip.first_seq, tip.pruned_events), (2, 2));
        // The front only moves forward.
        run(&mut state, prune(1)).unwrap();
        assert_eq!(state.take_pruned_audit(), None);
        assert!(run(
            &mut state,
            Command::PruneAudit {
                before: 5,
                events: 1
            }
        )
        .is_err());
    }
}
