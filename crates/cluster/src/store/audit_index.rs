//! The audit trail's resource index: for every event of every stored batch, one entry per
//! resource it names (a key's id, or the whole ARN of another resource), so LookupEvents by
//! `ResourceName` reads that resource's events, newest first, without scanning the others.
//!
//! Entry key: `name length (u16 BE) ‖ name ‖ seq (u64 BE) ‖ u32::MAX`, one per resource and
//! batch (a *run*), so one resource's entries are contiguous and sort by place in the chain;
//! value: the batch's time (u64 BE), so a walk stops at its window without reading batches,
//! then the index (u32 BE) of each of the batch's events that names the resource, ascending.
//! One entry per batch, not per event: indexing runs on every node for every batch, and a
//! busy key has many events in each, so its batch costs one insert and a few bytes per event
//! instead of an entry each. Entries an older trentd wrote (one per event) end with the
//! event's own index and hold the time alone; readers take both forms.
//!
//! Guarantees:
//! - Entries are written in the same `WriteBatch` as the batch they point into (apply,
//!   backfill, snapshot install): a stored batch at or above [`indexed_from`] has all its
//!   entries. Batches stored by a trentd from before the index (below the mark) have none;
//!   readers scan those.
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

use super::{CF_AUDIT_INDEX, CF_STATE_META};

/// Key in `state_meta` of the lowest seq from which every stored batch is indexed (absent:
/// the database predates the index).
const INDEXED_FROM: &[u8] = b"audit_indexed_from_runs";
/// The same mark as a trentd that reads only single-event entries keeps it. Taken over into
/// [`INDEXED_FROM`] and deleted at open, so such a trentd, started on this database again (a
/// downgrade), finds no mark, marks its own start and scans the batches before it rather
/// than miss the events of run entries it cannot read.
const INDEXED_FROM_SINGLES: &[u8] = b"audit_indexed_from";
/// The event index a run entry's key ends with (no event has it: a batch holds at most
/// 2^32 - 1 events).
const RUN: u32 = u32::MAX;
/// Resource names longer than this are not indexed; lookups of them scan.
pub const MAX_NAME: usize = 1024;
/// seq and event index after the name.
const TAIL: usize = 12;

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
    let mut key = Vec::with_capacity(2 + name.len() + TAIL);
    key.extend_from_slice(&(name.len() as u16).to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

fn entry_key(name: &str, seq: u64, index: u32) -> Vec<u8> {
    let mut key = prefix(name);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The (seq, index) an entry key ends with.
fn place(key: &[u8]) -> Option<(u64, u32)> {
    let tail = key.len().checked_sub(TAIL)?;
    let seq = u64::from_be_bytes(key[tail..tail + 8].try_into().ok()?);
    let index = u32::from_be_bytes(key[tail + 8..].try_into().ok()?);
    Some((seq, index))
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

/// Puts the entries of the stored batch bytes `bytes` (seq `seq`) into `batch`: one run per
/// resource, in key order.
pub(crate) fn put_entries_of_bytes(db: &DB, batch: &mut WriteBatch, seq: u64, bytes: &[u8]) {
    let Ok((time, events)) = StoredBatch::event_slices(bytes) else {
        return;
    };
    let mut runs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, event) in (0u32..).zip(&events) {
        for name in resource_names(event) {
            let run = runs
                .entry(name)
                .or_insert_with(|| time.to_be_bytes().to_vec());
            run.extend_from_slice(&i.to_be_bytes());
        }
    }
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    for (name, value) in runs {
        batch.put_cf(cf, entry_key(&name, seq, RUN), value);
    }
}

/// Puts the entries of a stored batch as a trentd before runs did: one per event and
/// resource, holding the time alone (tests of the older form).
#[cfg(test)]
pub(crate) fn put_single_entries_of_bytes(db: &DB, batch: &mut WriteBatch, seq: u64, bytes: &[u8]) {
    let (time, events) = StoredBatch::event_slices(bytes).unwrap();
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    for (i, event) in (0u32..).zip(&events) {
        for name in resource_names(event) {
            batch.put_cf(cf, entry_key(&name, seq, i), time.to_be_bytes());
        }
    }
}

/// Deletes every entry and marks the whole (now empty) trail indexed: a snapshot install
/// replaces the stored trail wholesale.
pub(crate) fn clear(db: &DB, batch: &mut WriteBatch) {
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    batch.delete_range_cf(cf, [0u8].as_slice(), [0xFFu8; 3].as_slice());
    mark_indexed_from(db, batch, 0);
}

fn mark_indexed_from(db: &DB, batch: &mut WriteBatch, seq: u64) {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    batch.put_cf(meta, INDEXED_FROM, seq.to_be_bytes());
    batch.delete_cf(meta, INDEXED_FROM_SINGLES);
}

/// Removes both marks, as a database from before the index had neither (tests).
#[cfg(test)]
pub(crate) fn forget_marks(db: &DB, batch: &mut WriteBatch) {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    batch.delete_cf(meta, INDEXED_FROM);
    batch.delete_cf(meta, INDEXED_FROM_SINGLES);
}

/// A mark's seq, if the mark is stored.
fn read_mark(db: &DB, key: &[u8]) -> Result<Option<u64>, String> {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    let Some(bytes) = db
        .get_cf(meta, key)
        .map_err(|e| format!("reading the audit index mark: {e}"))?
    else {
        return Ok(None);
    };
    let bytes: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| "the audit index mark is not 8 bytes".to_owned())?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// The lowest seq from which every stored batch is indexed. A database from before the
/// index, opened for the first time, is marked at `next_seq` if it holds batches (older ones
/// are scanned), at 0 if it holds none; one marked by a trentd before runs keeps its mark
/// (this one reads its entries), moved to [`INDEXED_FROM`].
pub(crate) fn open_indexed_from(
    db: &DB,
    holds_batches: bool,
    next_seq: u64,
) -> Result<u64, String> {
    let singles = read_mark(db, INDEXED_FROM_SINGLES)?;
    let from = match read_mark(db, INDEXED_FROM)? {
        Some(from) if singles.is_none() => return Ok(from),
        // A trentd before runs ran on this database since (a downgrade): it marked its own
        // start and indexed every batch from there in single entries, which this one reads;
        // this one had indexed those before in runs, so its own mark stands.
        Some(from) => from,
        None => singles.unwrap_or(if holds_batches { next_seq } else { 0 }),
    };
    let mut batch = WriteBatch::default();
    mark_indexed_from(db, &mut batch, from);
    db.write(batch)
        .map_err(|e| format!("writing the audit index mark: {e}"))?;
    Ok(from)
}

/// Hands `visit` the entries of `name` at or below (`seq`, `index`), newest first, until it
/// answers false: each event of a run, and each entry of the single-event form.
pub(crate) fn walk_back(
    db: &DB,
    name: &str,
    seq: u64,
    index: u32,
    mut visit: impl FnMut(Entry) -> Result<bool, String>,
) -> Result<(), String> {
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    let prefix = prefix(name);
    let top = (seq, index);
    let mut it = db.raw_iterator_cf(cf);
    // From the run of batch `seq` (it sorts after that batch's single entries).
    it.seek_for_prev(entry_key(name, seq, RUN));
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) || k.len() != prefix.len() + TAIL {
            break;
        }
        let (seq, last) = place(k).expect("length checked");
        let time = v
            .get(..8)
            .map_or(0, |t| u64::from_be_bytes(t.try_into().expect("8 bytes")));
        // A run's indices follow its time; a single entry's one index is its key's.
        let run = if last == RUN {
            v.get(8..).unwrap_or_default()
        } else {
            &[]
        };
        let indices = (run.chunks_exact(4))
            .map(|i| u32::from_be_bytes(i.try_into().expect("4 bytes")))
            .chain((last != RUN).then_some(last));
        for index in indices.rev() {
            if (seq, index) > top {
                continue;
            }
            if !visit(Entry { seq, index, time })? {
                return Ok(());
            }
        }
        it.prev();
    }
    it.status()
        .map_err(|e| format!("reading the audit index: {e}"))
}

/// The compaction filter of the index's column family: drops the entries of batches
/// retention deleted (below `front`, the state's oldest kept batch).
pub(crate) fn prune_filter(
    front: Arc<AtomicU64>,
) -> impl FnMut(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, key, _value| match place(key) {
        Some((seq, _)) if seq < front.load(Ordering::Relaxed) => Decision::Remove,
        _ => Decision::Keep,
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
