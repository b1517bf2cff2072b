//! The audit trail's resource index: for every event of every stored batch, one entry per
//! resource it names (a key's id, or the whole ARN of another resource), so LookupEvents by
//! `ResourceName` reads that resource's events, newest first, without scanning the others.
//!
//! Entry key: `name length (u16 BE) ‖ name ‖ seq (u64 BE) ‖ event index (u32 BE)`, so one
//! resource's entries are contiguous and sort by place in the chain; value: the batch's time
//! (u64 BE), so a walk stops at its window without reading batches.
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::compaction_filter::Decision;
use rocksdb::{WriteBatch, DB};
use serde::Deserialize;
use trent_state::StoredBatch;

use super::{CF_AUDIT_INDEX, CF_STATE_META};

/// Key in `state_meta` of the lowest seq from which every stored batch is indexed (absent:
/// the database predates the index).
pub(super) const INDEXED_FROM: &[u8] = b"audit_indexed_from";
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
    let Some(at) = event.rfind(MEMBER).map(|at| at + MEMBER.len()) else {
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

/// Puts the entries of the stored batch bytes `bytes` (seq `seq`) into `batch`, in key
/// order: RocksDB's memtable inserts a run of ascending keys for much less than keys in
/// event order, which jump between resources.
pub(crate) fn put_entries_of_bytes(db: &DB, batch: &mut WriteBatch, seq: u64, bytes: &[u8]) {
    let Ok((time, events)) = StoredBatch::event_slices(bytes) else {
        return;
    };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        for name in resource_names(event) {
            keys.push(entry_key(&name, seq, i as u32));
        }
    }
    keys.sort_unstable();
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    let time = time.to_be_bytes();
    for key in keys {
        batch.put_cf(cf, key, time);
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
}

/// The lowest seq from which every stored batch is indexed. A database from before the
/// index, opened for the first time, is marked at `next_seq` if it holds batches (older ones
/// are scanned), at 0 if it holds none.
pub(crate) fn open_indexed_from(
    db: &DB,
    holds_batches: bool,
    next_seq: u64,
) -> Result<u64, String> {
    let meta = db.cf_handle(CF_STATE_META).expect("cf");
    let stored = db
        .get_cf(meta, INDEXED_FROM)
        .map_err(|e| format!("reading the audit index mark: {e}"))?;
    if let Some(bytes) = stored {
        let bytes: [u8; 8] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| "the audit index mark is not 8 bytes".to_owned())?;
        return Ok(u64::from_be_bytes(bytes));
    }
    let from = if holds_batches { next_seq } else { 0 };
    let mut batch = WriteBatch::default();
    mark_indexed_from(db, &mut batch, from);
    db.write(batch)
        .map_err(|e| format!("writing the audit index mark: {e}"))?;
    Ok(from)
}

/// Hands `visit` the entries of `name` at or below (`seq`, `index`), newest first, until it
/// answers false.
pub(crate) fn walk_back(
    db: &DB,
    name: &str,
    seq: u64,
    index: u32,
    mut visit: impl FnMut(Entry) -> Result<bool, String>,
) -> Result<(), String> {
    let cf = db.cf_handle(CF_AUDIT_INDEX).expect("cf");
    let prefix = prefix(name);
    let mut it = db.raw_iterator_cf(cf);
    it.seek_for_prev(entry_key(name, seq, index));
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) || k.len() != prefix.len() + TAIL {
            break;
        }
        let (seq, index) = place(k).expect("length checked");
        let time = v.try_into().map(u64::from_be_bytes).unwrap_or(0);
        if !visit(Entry { seq, index, time })? {
            return Ok(());
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
