//! The hash chain: events grouped in batches (one batch per group commit), each batch bound
//! to the one before it, each event bound to the one before it.
//!
//! Guarantees:
//! - [`Batch::hash`] = SHA-256(`BATCH_LABEL` ‖ seq as u64 big-endian ‖ prev ‖ for each event:
//!   its canonical length as u64 big-endian ‖ its canonical bytes). The canonical bytes are
//!   the record's compact JSON ([`Event::canonical_bytes`]), exactly what a log file holds.
//! - [`Batch::seal`] stamps every event with its [`ChainLink`] (batch, index, count, and the
//!   hash of what precedes it: the previous event's [`event_hash`], or for index 0 the
//!   previous batch's hash). The link is inside the hashed bytes, so an event's position and
//!   predecessor cannot change without changing its hash, and each event is vouched for by
//!   its successor: that is what lets a verifier name the event that was edited rather than
//!   only the batch.
//! - [`verify_chain`] answers `Ok` or the first bad place, classified by the rule in
//!   `walk.rs`. The first batch's `prev` is the anchor (taken as given, except that a chain
//!   starting at seq 0 must start from [`GENESIS`]).

use sha2::{Digest, Sha256};

use crate::event::{AdditionalEventData, ChainLink, Event};
use crate::finding::{Finding, Subject, Tamper};
use crate::walk::{At, Record, Walker};

/// Domain separation: a batch hash can never equal an event hash or anything else hashed.
pub const BATCH_LABEL: &[u8] = b"trent-audit/batch/v1\0";
/// Domain separation for [`event_hash`].
pub const EVENT_LABEL: &[u8] = b"trent-audit/event/v1\0";
/// The `prev` of batch 0.
pub const GENESIS: [u8; 32] = [0; 32];

/// The events of one group commit, in commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub seq: u64,
    /// The hash of batch `seq - 1` ([`GENESIS`] for batch 0).
    pub prev: [u8; 32],
    pub events: Vec<Event>,
}

impl Batch {
    /// Batch `seq` after `prev`, its events stamped with their links (any link they carried
    /// is replaced). The leader seals a batch before proposing it.
    pub fn seal(seq: u64, prev: [u8; 32], mut events: Vec<Event>) -> Batch {
        link(seq, prev, &mut events, |_| {});
        Batch { seq, prev, events }
    }

    /// [`Batch::seal`] for storing: each event's canonical bytes (with its link) and the
    /// batch's hash, serializing each event once (the state machine seals every batch on
    /// every node, so this is the trail's hot path). The same bytes and hash as
    /// `seal(..).events[i].canonical_bytes()` and `seal(..).hash()`.
    pub fn seal_to_bytes(
        seq: u64,
        prev: [u8; 32],
        mut events: Vec<Event>,
    ) -> (Vec<Vec<u8>>, [u8; 32]) {
        let mut batch = BatchHasher::new(seq, &prev);
        let mut out = Vec::with_capacity(events.len());
        link(seq, prev, &mut events, |bytes| {
            batch.add(&bytes);
            out.push(bytes);
        });
        (out, batch.finish())
    }

    /// The batch's hash: what the next batch names as `prev` and a digest signs for.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = BatchHasher::new(self.seq, &self.prev);
        for event in &self.events {
            h.add(&event.canonical_bytes());
        }
        h.finish()
    }
}

/// [`Batch::hash`] of batch `seq` after `prev` whose events' canonical bytes are `events`
/// (a stored batch, without parsing its events).
pub fn batch_hash_of_bytes<'a>(
    seq: u64,
    prev: &[u8; 32],
    events: impl IntoIterator<Item = &'a [u8]>,
) -> [u8; 32] {
    let mut h = BatchHasher::new(seq, prev);
    for bytes in events {
        h.add(bytes);
    }
    h.finish()
}

/// SHA-256(`EVENT_LABEL` ‖ length as u64 big-endian ‖ canonical bytes).
/// Stamps each of `events` with its link in batch `seq` after `prev`, handing `each` the
/// event's canonical bytes (with the link) as it goes: one serialization per event.
fn link(seq: u64, prev: [u8; 32], events: &mut [Event], mut each: impl FnMut(Vec<u8>)) {
    let count = u32::try_from(events.len()).expect("a batch holds fewer than 2^32 events");
    let mut before = prev;
    for (index, event) in (0u32..).zip(events.iter_mut()) {
        event
            .additional_event_data
            .get_or_insert_with(AdditionalEventData::default)
            .chain = Some(ChainLink {
            batch: seq,
            index,
            count,
            prev: before,
        });
        let bytes = event.canonical_bytes();
        before = hash_event_bytes(&bytes);
        each(bytes);
    }
}

pub fn event_hash(event: &Event) -> [u8; 32] {
    hash_event_bytes(&event.canonical_bytes())
}

pub(crate) fn hash_event_bytes(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(EVENT_LABEL);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
    h.finalize().into()
}

/// [`Batch::hash`], one event at a time (the verifier reads events from files).
pub(crate) struct BatchHasher(Sha256);

impl BatchHasher {
    pub(crate) fn new(seq: u64, prev: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(BATCH_LABEL);
        h.update(seq.to_be_bytes());
        h.update(prev);
        BatchHasher(h)
    }

    pub(crate) fn add(&mut self, canonical: &[u8]) {
        self.0.update((canonical.len() as u64).to_be_bytes());
        self.0.update(canonical);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Checks consecutive batches: every event in its place after its predecessor, every batch
/// after the one before. `Ok` for no batches. The last event has no successor to vouch for
/// it: [`verify_chain_to`] checks it against a hash the caller trusts.
pub fn verify_chain(batches: &[Batch]) -> Result<(), Finding> {
    walk_batches(batches).map(drop)
}

/// [`verify_chain`], and the last batch must hash to `end` (the tip the caller kept, or a
/// digest's `lastBatchHashValue`). `Ok` for no batches.
pub fn verify_chain_to(batches: &[Batch], end: &[u8; 32]) -> Result<(), Finding> {
    let Some((walker, end_at)) = walk_batches(batches)? else {
        return Ok(());
    };
    let last = batches.last().expect("walked batches");
    walker.checkpoint(last.seq, end, &end_at)
}

fn walk_batches(batches: &[Batch]) -> Result<Option<(Walker, At)>, Finding> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let records: Vec<Record> = batches
        .iter()
        .flat_map(|b| {
            (0u32..).zip(&b.events).map(move |(index, e)| Record {
                event: Ok(e.clone()),
                at: At {
                    batch: Some(b.seq),
                    index: Some(index),
                    ..At::event(e)
                },
            })
        })
        .collect();
    let anchor = (first.seq == 0).then_some(GENESIS);
    let mut walker = Walker::new(first.seq, anchor);
    let mut next = 0;
    for batch in batches {
        if batch.events.is_empty() {
            return Err(header(
                batch,
                Tamper::Deleted,
                "the batch has no events".into(),
            ));
        }
        for _ in &batch.events {
            walker.step(&records[next], &records[next + 1..])?;
            next += 1;
        }
        check_header(batch)?;
    }
    let last = batches.last().expect("not empty");
    let end = At {
        batch: Some(last.seq),
        index: u32::try_from(last.events.len()).ok(),
        ..At::default()
    };
    walker.finish(end.clone())?;
    Ok(Some((walker, end)))
}

/// A batch's own `seq` and `prev` against its events' links (which the walker has checked).
fn check_header(batch: &Batch) -> Result<(), Finding> {
    let links: Vec<&ChainLink> = batch.events.iter().filter_map(Event::chain_link).collect();
    if links.iter().any(|l| l.batch != batch.seq) {
        return Err(header(
            batch,
            Tamper::ChainBroken,
            "its events name another batch".into(),
        ));
    }
    if links.first().map(|l| l.prev) != Some(batch.prev) {
        let detail = "its prev is not the hash its first event follows".into();
        return Err(header(batch, Tamper::ChainBroken, detail));
    }
    Ok(())
}

fn header(batch: &Batch, what: Tamper, detail: String) -> Finding {
    Finding {
        what,
        subject: Subject::Event,
        file: None,
        record: None,
        batch: Some(batch.seq),
        index: None,
        event_id: None,
        detail: format!("batch {}: {detail}", batch.seq),
    }
}
