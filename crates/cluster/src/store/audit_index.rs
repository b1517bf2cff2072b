//! The audit trail's resource index: for every event of every stored batch, one entry per
//! resource it names (a key's id, or the whole ARN of another resource), so LookupEvents by
//! `ResourceName` reads that resource's events, newest first, without scanning the others.
//!
//! Entry key: `name length (u16 BE) ‖ name ‖ seq (u64 BE) ‖ form (u32 BE)`, so one
//! resource's entries are contiguous and sort by place in the chain. Three forms, all read:
//! - a *group* (form [`GROUP`], what apply writes, `audit_index_tail.rs`): the resource's
//!   events in many batches, keyed by the first of them; value: the last batch's seq (u64 BE),
//!   then per batch a [`Records`] record (seq, time, count, indices);
//! - a *run* (form [`RUN`], what a backfill and a snapshot install write, and apply before
//!   groups): its events in one batch; value: the batch's time (u64 BE), then the index (u32
//!   BE) of each of the batch's events that names the resource, ascending;
//! - a *single* entry (form: the event's own index, as a trentd before runs wrote): one
//!   event; value: the batch's time.
//!
//! Entries carry their batches' times, so a walk stops at its window without reading batches.
//! One entry per many events, not per event: indexing runs on every node for every batch.
//!
//! Guarantees:
//! - Entries are written in the same `WriteBatch` as the batch they point into (backfill,
//!   snapshot install), or with the mark that says the batch's entries are on disk (apply's
//!   groups): a stored batch at or above the index's mark has all its entries, on disk below
//!   the tail's start and in the tail above it (once the apply that stored it returns,
//!   `audit_index_tail.rs`). Batches stored by a trentd from before the index (below the
//!   mark) have none; readers scan those.
//! - The forms never overlap: a seq is indexed in one entry per resource, and entries sort
//!   as the batches they hold (a group holds batches between its key's seq and the next
//!   entry's).
//! - An entry may outlive its batch (retention deleted it; a compaction filter drops such
//!   entries later), never point at another batch: a seq names one batch in the whole
//!   cluster's history. Readers skip entries whose batch is gone.
//! - Indexing reads only the events' `resources`; an event whose JSON does not parse (never
//!   sealed so) gets no entry, and a LookupEvents reading it through the index checks the
//!   event itself as a scan would.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::compaction_filter::Decision;
use rocksdb::{WriteBatch, DB};
use serde::Deserialize;
use trent_state::StoredBatch;

use super::audit_index_tail::TailView;
use super::CF_AUDIT_INDEX;

#[cfg(test)]
pub(crate) use super::audit_index_marks::forget_marks;
pub(crate) use super::audit_index_marks::{clear, open_marks, put_marks};

/// The form of a run entry (no event has this index: a batch holds at most 2^32 - 2 events).
const RUN: u32 = u32::MAX;
/// The form of a group entry.
const GROUP: u32 = u32::MAX - 1;
/// Resource names longer than this are not indexed; lookups of them scan.
pub const MAX_NAME: usize = 1024;
/// The bytes of seq and form after the name.
const PLACE_LEN: usize = 12;

/// One entry: where the event is and when its batch applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub index: u32,
    pub time: u64,
}

/// The name a resource is indexed under: what follows its last `key/` (a KMS key's id),
/// else the ARN itself. LookupEvents' `ResourceName` matches a resource by its ARN or by
/// that id, so every resource it matches is indexed under `index_name` of the value asked.
pub fn index_name(resource: &str) -> &str {
    resource.rsplit_once("key/").map_or(resource, |(_, id)| id)
}

fn prefix(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + name.len() + PLACE_LEN);
    key.extend_from_slice(&(name.len() as u16).to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

fn entry_key(name: &str, seq: u64, form: u32) -> Vec<u8> {
    let mut key = prefix(name);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&form.to_be_bytes());
    key
}

/// The (seq, form) an entry key ends with.
fn place(key: &[u8]) -> Option<(u64, u32)> {
    let at = key.len().checked_sub(PLACE_LEN)?;
    let seq = u64::from_be_bytes(key[at..at + 8].try_into().ok()?);
    let form = u32::from_be_bytes(key[at + 8..].try_into().ok()?);
    Some((seq, form))
}

/// The names of the resources one event's JSON names, deduplicated. Only the event's
/// top-level `resources` array is parsed (indexing runs on every node for every event): the
/// text `,"resources":[` can only be a member's start, since inside a string both quotes
/// would be escaped, and CloudTrail's member order puts the top-level one after every
/// object that could hold another (`requestParameters`, `responseElements`), so it is the
/// last such text. An event without one names no resource.
fn resource_names(event: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Resource {
        #[serde(rename = "ARN")]
        arn: String,
    }
    const MEMBER: &str = ",\"resources\":";
    static FINDER: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::FinderRev::new(MEMBER));
    let Some(at) = FINDER.rfind(event.as_bytes()).map(|at| at + MEMBER.len()) else {
        return Vec::new();
    };
    let mut array = serde_json::Deserializer::from_str(&event[at..]);
    let Ok(resources) = Vec::<Resource>::deserialize(&mut array) else {
        return Vec::new();
    };
    let mut names: Vec<String> = resources
        .iter()
        .map(|r| index_name(&r.arn))
        .filter(|n| n.len() <= MAX_NAME)
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The stored batch `bytes`' time and, per resource its events name, the indices of those
/// events, ascending (`None`: the batch does not decode).
pub(crate) fn runs_of_batch(bytes: &[u8]) -> Option<(u64, BTreeMap<String, Vec<u32>>)> {
    let (time, events) = StoredBatch::event_slices(bytes).ok()?;
    let mut runs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (i, event) in (0u32..).zip(&events) {
        for name in resource_names(event) {
            runs.entry(name).or_default().push(i);
        }
    }
    Some((time, runs))
}

/// Puts the run entries of the stored batch bytes `bytes` (seq `seq`) into `batch`: one per
/// resource, in key order.
pub(crate) fn put_entries_of_bytes(db: &DB, batch: &mut WriteBatch, seq: u64, bytes: &[u8]) {
    let Some((time, runs)) = runs_of_batch(bytes) else {
        return;
    };
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    for (name, indices) in runs {
        let mut value = time.to_be_bytes().to_vec();
        indices
            .iter()
            .for_each(|i| value.extend_from_slice(&i.to_be_bytes()));
        batch.put_cf(cf, entry_key(&name, seq, RUN), value);
    }
}

/// Puts the entries of a stored batch as a trentd before runs did: one per event and
/// resource, holding the time alone (tests of the older form).
#[cfg(test)]
pub(crate) fn put_single_entries_of_bytes(db: &DB, batch: &mut WriteBatch, seq: u64, bytes: &[u8]) {
    let (time, runs) = runs_of_batch(bytes).unwrap();
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    for (name, indices) in runs {
        for i in indices {
            batch.put_cf(cf, entry_key(&name, seq, i), time.to_be_bytes());
        }
    }
}

/// One resource's events in consecutive batches: per batch, its seq (u64 BE), time (u64 BE),
/// the count of events (u32 BE) and their indices (u32 BE each), ascending; batches oldest
/// first.
pub(crate) struct Records;

/// One batch's part of [`Records`].
struct Record<'a> {
    seq: u64,
    time: u64,
    indices: &'a [u8],
}

impl Records {
    /// One batch's record.
    pub(crate) fn encode(seq: u64, time: u64, indices: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 4 * indices.len());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&time.to_be_bytes());
        out.extend_from_slice(&(indices.len() as u32).to_be_bytes());
        indices
            .iter()
            .for_each(|i| out.extend_from_slice(&i.to_be_bytes()));
        out
    }

    /// The records of `bytes`, oldest first; a torn end is left out.
    fn decode(mut bytes: &[u8]) -> Vec<Record<'_>> {
        let mut out = Vec::new();
        while bytes.len() >= 20 {
            let (seq, time) = (be_u64(bytes), be_u64(&bytes[8..]));
            let (Some(seq), Some(time)) = (seq, time) else {
                break;
            };
            let count = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
            let Some(end) = count.checked_mul(4).and_then(|n| n.checked_add(20)) else {
                break;
            };
            let Some(indices) = bytes.get(20..end) else {
                break;
            };
            out.push(Record { seq, time, indices });
            bytes = &bytes[end..];
        }
        out
    }
}

/// The u64 (BE) `bytes` begins with, if it holds 8.
fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// The u32s (BE) of `bytes`, in order; a torn end is left out.
fn be_u32s(bytes: &[u8]) -> impl DoubleEndedIterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|i| u32::from_be_bytes(i.try_into().expect("4 bytes")))
}

/// The group entry of `name` over `records` (non-empty, oldest first).
pub(crate) fn group_entry(name: &str, records: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let parsed = Records::decode(records);
    let (first, last) = match (parsed.first(), parsed.last()) {
        (Some(first), Some(last)) => (first.seq, last.seq),
        _ => (0, 0),
    };
    let mut value = Vec::with_capacity(8 + records.len());
    value.extend_from_slice(&last.to_be_bytes());
    value.extend_from_slice(records);
    (entry_key(name, first, GROUP), value)
}

/// The place a walk starts at and where it stops: `top`, inclusive.
type Top = (u64, u32);

/// Hands `visit` the events of `records`, newest first, at or below `top`: false when
/// `visit` asked to stop.
fn visit_records(
    records: &[Record<'_>],
    top: Top,
    visit: &mut impl FnMut(Entry) -> Result<bool, String>,
) -> Result<bool, String> {
    for r in records.iter().rev() {
        if !visit_batch(r.seq, r.time, be_u32s(r.indices), top, visit)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Hands `visit` the events `indices` (ascending) of batch `seq`, newest first, at or below
/// `top`: false when `visit` asked to stop.
fn visit_batch(
    seq: u64,
    time: u64,
    indices: impl DoubleEndedIterator<Item = u32>,
    top: Top,
    visit: &mut impl FnMut(Entry) -> Result<bool, String>,
) -> Result<bool, String> {
    for index in indices.rev() {
        if (seq, index) > top {
            continue;
        }
        if !visit(Entry { seq, index, time })? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Hands `visit` the entries of `name` at or below (`seq`, `index`), newest first, until it
/// answers false: first those of the tail, then those on disk below the tail's start (`view`
/// holds both, taken together).
pub(crate) fn walk_back(
    view: TailView<'_>,
    name: &str,
    seq: u64,
    index: u32,
    mut visit: impl FnMut(Entry) -> Result<bool, String>,
) -> Result<(), String> {
    let top = (seq, index);
    if !visit_records(&Records::decode(&view.records), top, &mut visit)? {
        return Ok(());
    }
    // On disk: entries of batches before the tail (a group written since holds later ones).
    let Some(below) = view.start.checked_sub(1) else {
        return Ok(());
    };
    let mut it = view.disk;
    let prefix = prefix(name);
    // From the last entry at or before batch `seq`: a group keyed there or before, or its run.
    it.seek_for_prev(entry_key(name, seq.min(below), RUN));
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) || k.len() != prefix.len() + PLACE_LEN {
            break;
        }
        let (seq, form) = place(k).expect("length checked");
        let time = be_u64(v).unwrap_or(0);
        let more = match form {
            GROUP => visit_records(
                &Records::decode(v.get(8..).unwrap_or_default()),
                top,
                &mut visit,
            )?,
            RUN => visit_batch(
                seq,
                time,
                be_u32s(v.get(8..).unwrap_or_default()),
                top,
                &mut visit,
            )?,
            single => visit_batch(seq, time, std::iter::once(single), top, &mut visit)?,
        };
        if !more {
            return Ok(());
        }
        it.prev();
    }
    it.status()
        .map_err(|e| format!("reading the audit index: {e}"))
}

/// The compaction filter of the index's column family: drops the entries whose batches
/// retention deleted (all below `front`, the state's oldest kept batch).
pub(crate) fn prune_filter(
    front: Arc<AtomicU64>,
) -> impl FnMut(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, key, value| {
        // A group's batches end at the seq its value begins with; other forms hold one.
        let last = match place(key) {
            Some((_, GROUP)) => be_u64(value),
            Some((seq, _)) => Some(seq),
            None => None,
        };
        match last {
            Some(seq) if seq < front.load(Ordering::Relaxed) => Decision::Remove,
            _ => Decision::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_indexed_by_its_id_in_either_form() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(index_name(arn), "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(
            index_name("1234abcd-12ab-34cd-56ef-1234567890ab"),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/trent";
        assert_eq!(index_name(trail), trail);
    }

    #[test]
    fn an_events_resources_are_read_and_nothing_else() {
        // A key named in the encryption context is not a resource of the event.
        // Stored events are canonical JSON: no white space between members.
        let event = concat!(
            r#"{"requestParameters":{"encryptionContext":{"ARN":"arn:aws:kms:us-east-1:1:key/victim"}},"#,
            r#""resources":[{"accountId":"1","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:1:key/k1"},"#,
            r#"{"accountId":"1","type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:1:key/k1"}]}"#
        );
        assert_eq!(resource_names(event), vec!["k1".to_owned()]);
        assert!(resource_names("{not json").is_empty());
        assert!(resource_names(r#"{"eventName":"ListKeys"}"#).is_empty());
        assert!(resource_names(r#"{"eventName":"ListKeys","resources":[{"ARN":1}]}"#).is_empty());
        // A string holding the member's text is a string: its quotes are escaped.
        let hostile = concat!(
            r#"{"requestParameters":{"encryptionContext":{"x":",\"resources\":[{\"ARN\":\"key/victim\"}]"}},"#,
            r#""resources":[{"ARN":"arn:aws:kms:us-east-1:1:key/k2"}],"eventType":"AwsApiCall"}"#
        );
        assert_eq!(resource_names(hostile), vec!["k2".to_owned()]);
    }

    #[test]
    fn real_events_are_indexed_by_the_keys_they_name() {
        use trent_audit::{Call, Event, IdentityType, Resource, UserIdentity};
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut event = Event::kms(Call {
            identity: UserIdentity {
                kind: IdentityType::Root,
                principal_id: None,
                arn: None,
                account_id: Some("111122223333".into()),
                access_key_id: None,
                user_name: None,
            },
            time: time::OffsetDateTime::UNIX_EPOCH,
            operation: "Encrypt".into(),
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            request_id: "r".into(),
            event_id: "e".into(),
            read_only: false,
            recipient_account_id: "111122223333".into(),
        });
        event.request_parameters = Some(serde_json::json!({"keyId": arn,
            "encryptionContext": {"x": ",\"resources\":[{\"ARN\":\"key/victim\"}]"}}));
        event.resources = vec![Resource::key("111122223333", arn)];
        let json = String::from_utf8(event.canonical_bytes()).unwrap();
        assert_eq!(
            resource_names(&json),
            vec!["1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()]
        );
    }

    #[test]
    fn entry_keys_of_one_name_do_not_mix_with_a_longer_name() {
        let short = entry_key("k1", u64::MAX, u32::MAX);
        let long = entry_key("k10", 0, 0);
        assert!(!long.starts_with(&prefix("k1")));
        assert!(short < long, "the length prefix orders names apart");
        assert_eq!(place(&entry_key("k1", 7, 3)), Some((7, 3)));
    }
}
