//! The walk over events in chain order that finds the first bad one and says what happened
//! to it. Shared by [`crate::verify_chain`] and [`crate::verify_dir`].
//!
//! The rule (docs/ARCHITECTURE.md, "Audit trail"). The walker expects a position (batch,
//! index), starting at (first batch, 0), and a predecessor hash. For each record:
//! 1. Unreadable as an event: **Edited** here. No chain link: **Inserted** here.
//! 2. Its link names another position than expected:
//!    - an earlier one (a position already passed): **Inserted** here (a copy);
//!    - a later one, and the expected position appears later in the file (or the batches):
//!      **Reordered** here (the first record out of its place);
//!    - a later one that nothing later fills: **Deleted** here (the record now standing where
//!      the missing one was; the detail names the missing position).
//! 3. In its place but its `count` differs from its batch's: **Edited** here.
//! 4. In its place but its `prev` is not the hash of what the walker saw before it: the
//!    record before it changed after it was chained: **Edited** there (the previous record).
//!    For the first record of a walk anchored at [`crate::GENESIS`]: **ChainBroken**.
//! 5. Otherwise it is accepted; its hash becomes the expected predecessor, and after the
//!    last of its batch's `count`, the batch's hash does.
//!
//! At the end of a range (a digest's, or of the walk): a batch left short of its count is
//! **Deleted** (at the end); a last batch other than the range's is **Deleted** (batches
//! missing) or **Inserted** (batches beyond it); a last batch hash other than the range's is
//! **Edited** at the last record (the only one no successor vouches for).
//!
//! Detection does not depend on the classification: any change to the bytes fails a hash.
//! The classification assumes the tamperer edited records without forging chain links; one
//! who rewrites links can move where the finding points (to a later record), never remove it.

use crate::chain::{hash_event_bytes, BatchHasher};
use crate::event::Event;
use crate::finding::{Finding, Subject, Tamper};

/// Where a record sits, as a finding reports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct At {
    pub file: Option<String>,
    pub record: Option<usize>,
    pub batch: Option<u64>,
    pub index: Option<u32>,
    pub event_id: Option<String>,
}

impl At {
    pub(crate) fn event(e: &Event) -> At {
        At {
            event_id: Some(e.event_id.clone()),
            ..At::default()
        }
    }

    fn finding(&self, what: Tamper, detail: String) -> Finding {
        Finding {
            what,
            subject: Subject::Event,
            file: self.file.clone(),
            record: self.record,
            batch: self.batch,
            index: self.index,
            event_id: self.event_id.clone(),
            detail,
        }
    }
}

/// One record to walk: the event, or why it could not be read as one.
pub(crate) struct Record {
    pub event: Result<Event, String>,
    pub at: At,
}

/// The last batch a walk completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tip {
    pub seq: u64,
    pub hash: [u8; 32],
}

pub(crate) struct Walker {
    /// The position the next record must have.
    next: (u64, u32),
    /// The count of the batch in progress.
    count: u32,
    /// The hash the next record's link must name; `None`: take the first record's (the
    /// anchor of a walk that does not start at genesis).
    prev: Option<[u8; 32]>,
    hasher: Option<BatchHasher>,
    tip: Option<Tip>,
    last: Option<At>,
    events: usize,
}

type Pos = (u64, u32);

impl Walker {
    pub(crate) fn new(first_seq: u64, anchor: Option<[u8; 32]>) -> Walker {
        Walker {
            next: (first_seq, 0),
            count: 0,
            prev: anchor,
            hasher: None,
            tip: None,
            last: None,
            events: 0,
        }
    }

    /// Takes `rec`; `rest` is what follows it (where a missing position may turn up).
    pub(crate) fn step(&mut self, rec: &Record, rest: &[Record]) -> Result<(), Finding> {
        let event = match &rec.event {
            Ok(e) => e,
            Err(why) => return Err(rec.at.finding(Tamper::Edited, why.clone())),
        };
        let Some(link) = event.chain_link().copied() else {
            let detail = "the record has no chain link: the chain never wrote it".into();
            return Err(rec.at.finding(Tamper::Inserted, detail));
        };
        let pos = (link.batch, link.index);
        if pos != self.next {
            return Err(self.misplaced(rec, pos, rest));
        }
        let starts_batch = link.index == 0;
        if link.index >= link.count || (!starts_batch && link.count != self.count) {
            let detail = format!("its batch count {} is not its batch's", link.count);
            return Err(rec.at.finding(Tamper::Edited, detail));
        }
        if self.prev.is_some_and(|p| p != link.prev) {
            return Err(self.broken_link(rec));
        }
        let bytes = event.canonical_bytes();
        if starts_batch {
            self.count = link.count;
            self.hasher = Some(BatchHasher::new(link.batch, &link.prev));
        }
        self.hasher
            .as_mut()
            .expect("a batch is in progress")
            .add(&bytes);
        self.accept(&link, hash_event_bytes(&bytes), rec);
        Ok(())
    }

    fn accept(&mut self, link: &crate::ChainLink, hash: [u8; 32], rec: &Record) {
        self.events += 1;
        self.last = Some(rec.at.clone());
        if link.index + 1 < link.count {
            self.prev = Some(hash);
            self.next = (link.batch, link.index + 1);
        } else {
            let hash = self.hasher.take().expect("a batch is in progress").finish();
            self.tip = Some(Tip {
                seq: link.batch,
                hash,
            });
            self.prev = Some(hash);
            // No batch follows u64::MAX: wrapped, any record after it names an earlier
            // position (Inserted) instead of overflowing on input read from disk.
            self.next = (link.batch.wrapping_add(1), 0);
        }
    }

    fn broken_link(&self, rec: &Record) -> Finding {
        match &self.last {
            Some(before) => before.finding(
                Tamper::Edited,
                "the record changed after it was chained: the next record's link names \
                 another hash"
                    .into(),
            ),
            None => rec.at.finding(
                Tamper::ChainBroken,
                "the first record does not follow the chain's start".into(),
            ),
        }
    }

    fn misplaced(&self, rec: &Record, pos: Pos, rest: &[Record]) -> Finding {
        let (b, i) = self.next;
        if pos < self.next {
            let detail = format!("a second record at batch {} index {}", pos.0, pos.1);
            return rec.at.finding(Tamper::Inserted, detail);
        }
        let fills = |r: &Record| {
            r.event
                .as_ref()
                .ok()
                .and_then(Event::chain_link)
                .map(|l| (l.batch, l.index))
                == Some(self.next)
        };
        if rest.iter().any(fills) {
            let detail = format!(
                "batch {} index {} stands where batch {b} index {i} belongs, which comes later",
                pos.0, pos.1
            );
            return rec.at.finding(Tamper::Reordered, detail);
        }
        rec.at.finding(
            Tamper::Deleted,
            format!("batch {b} index {i} is missing before it"),
        )
    }

    /// The end of a range that must close on batch `seq` with hash `hash`.
    pub(crate) fn checkpoint(&self, seq: u64, hash: &[u8; 32], end: &At) -> Result<(), Finding> {
        self.whole_batches(end)?;
        let Some(tip) = self.tip else {
            return Err(end.finding(Tamper::Deleted, "no events where batches belong".into()));
        };
        if tip.seq < seq {
            let detail = format!("batches {} to {seq} are missing", tip.seq + 1);
            return Err(end.finding(Tamper::Deleted, detail));
        }
        if tip.seq > seq {
            let detail = format!(
                "batches {} to {} are beyond the range's end",
                seq + 1,
                tip.seq
            );
            return Err(end.finding(Tamper::Inserted, detail));
        }
        if tip.hash != *hash {
            let last = self.last.as_ref().unwrap_or(end);
            let detail = "the last record changed after it was chained: its batch's hash is \
                          not the one signed for"
                .into();
            return Err(last.finding(Tamper::Edited, detail));
        }
        Ok(())
    }

    /// The end of the walk: no batch may be left short.
    pub(crate) fn finish(&self, end: At) -> Result<(Option<Tip>, usize), Finding> {
        self.whole_batches(&end)?;
        Ok((self.tip, self.events))
    }

    fn whole_batches(&self, end: &At) -> Result<(), Finding> {
        let (b, i) = self.next;
        if i == 0 {
            return Ok(());
        }
        let detail = format!(
            "batch {b} ends at index {i} of {}: the rest is missing",
            self.count
        );
        Err(end.finding(Tamper::Deleted, detail))
    }
}
