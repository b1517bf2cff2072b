//! The audit trail's resource index through the storage layer: written with every batch,
//! however the batch arrives (apply, backfill, snapshot install), read newest first, pruned
//! with the batches retention deletes, and absent (marked so) for batches an older trentd
//! stored.

use openraft::storage::RaftStateMachine;
use rocksdb::WriteBatch;

use super::audit_tests::{entry, event_on, installed_copy, storage, tip};
use super::*;
use trent_state::Command;

const K1: &str = "1111aaaa-0000-4000-8000-000000000001";
const K2: &str = "2222bbbb-0000-4000-8000-000000000002";

/// Applies batches of two events each from log index `from` on: batch b's events name K1
/// then K2, except every third batch, whose events name K2 only.
async fn append_keyed(machine: &mut StateMachineStore, from: u64, batches: u64) {
    let entries = (from..from + batches).map(|i| {
        let first = if i % 3 == 0 { K2 } else { K1 };
        let events = vec![event_on(2 * i, Some(first)), event_on(2 * i + 1, Some(K2))];
        entry(i, Command::AppendAudit { events })
    });
    for responses in machine.apply(entries.collect::<Vec<_>>()).await.unwrap() {
        for response in responses.0 {
            response.unwrap();
        }
    }
}

/// Every entry of `name` at or below the top, newest first.
fn entries(store: &AuditStore, name: &str) -> Vec<AuditIndexEntry> {
    let mut out = Vec::new();
    store
        .resource_entries(name, u64::MAX, u32::MAX, |e| {
            out.push(e);
            Ok(true)
        })
        .unwrap();
    out
}

/// The (seq, index) of every event of the stored trail that names `key`, newest first,
/// read by decoding every batch.
fn scanned(store: &AuditStore, key: &str) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for (seq, batch) in store.batches(0, true, usize::MAX).unwrap() {
        for (i, json) in batch.events.iter().enumerate() {
            let event: trent_audit::Event = serde_json::from_str(json).unwrap();
            if event.resources.iter().any(|r| r.arn.ends_with(key)) {
                out.push((seq, i as u32));
            }
        }
    }
    out.reverse();
    out
}

fn places(entries: &[AuditIndexEntry]) -> Vec<(u64, u32)> {
    entries.iter().map(|e| (e.seq, e.index)).collect()
}

#[tokio::test]
async fn every_applied_event_is_found_by_its_key_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 9).await;
    let k1 = entries(&node.audit, K1);
    assert_eq!(places(&k1), scanned(&node.audit, K1));
    assert_eq!(places(&entries(&node.audit, K2)), scanned(&node.audit, K2));
    assert_eq!(k1.len(), 6, "batches 1, 2, 4, 5, 7, 8 name K1");
    // Entries carry their batch's time, so a walk stops at its window unread.
    for e in &k1 {
        let batch = node.audit.batch(e.seq).unwrap().unwrap();
        assert_eq!(e.time, batch.time);
    }
    // The key's ARN and its id are one name; a walk starts where it is asked to.
    let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{K1}");
    assert_eq!(audit_index_name(&arn), K1);
    let mut below = Vec::new();
    node.audit
        .resource_entries(&arn, k1[2].seq, k1[2].index, |e| {
            below.push(e);
            Ok(true)
        })
        .unwrap();
    assert_eq!(below, k1[2..]);
    assert!(
        entries(&node.audit, "1111aaaa").is_empty(),
        "no prefix matches"
    );
    assert_eq!(node.audit.indexed_from(), 0);
}

#[tokio::test]
async fn a_restored_node_indexes_what_it_installs_and_backfills() {
    let a = tempfile::tempdir().unwrap();
    let mut source = storage(a.path());
    append_keyed(&mut source.state_machine, 1, 6).await;
    let (_dir, mut copy) = installed_copy(&mut source).await;
    assert!(entries(&copy.audit, K1).is_empty(), "nothing stored yet");
    let answer = source.audit.stored_below(6, usize::MAX).unwrap();
    assert_eq!(copy.audit.fill(&answer, || 0).await.unwrap(), 6);
    append_keyed(&mut copy.state_machine, 7, 2).await;
    append_keyed(&mut source.state_machine, 7, 2).await;
    for key in [K1, K2] {
        assert_eq!(entries(&copy.audit, key), entries(&source.audit, key));
    }
    assert_eq!(copy.audit.indexed_from(), 0);
}

#[tokio::test]
async fn retention_takes_the_entries_of_the_batches_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 6).await;
    let prune = [
        entry(7, Command::AuditExported { before: 4 }),
        entry(
            8,
            Command::PruneAudit {
                before: 4,
                events: 8,
            },
        ),
    ];
    for responses in node.state_machine.apply(prune).await.unwrap() {
        for response in responses.0 {
            response.unwrap();
        }
    }
    node.audit.compact_index();
    let left = entries(&node.audit, K2);
    assert!(!left.is_empty());
    assert!(left.iter().all(|e| e.seq >= 4), "{left:?}");
    assert_eq!(places(&left), scanned(&node.audit, K2));
    // The front survives a restart, and compaction after it still drops nothing kept.
    drop(node);
    let node = storage(dir.path());
    node.audit.compact_index();
    assert_eq!(entries(&node.audit, K2), left);
}

#[tokio::test]
async fn batches_stored_before_the_index_existed_are_marked_unindexed() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 3).await;
    node.audit.forget_index();
    drop(node);
    let mut node = storage(dir.path());
    let next = tip(&node.state_machine).next_seq;
    assert_eq!(
        node.audit.indexed_from(),
        next,
        "older batches must be scanned"
    );
    append_keyed(&mut node.state_machine, 4, 2).await;
    assert!(entries(&node.audit, K1).iter().all(|e| e.seq >= next));
    assert_eq!(entries(&node.audit, K1).len(), 2);
    // The mark is kept, not recomputed: a restart does not take the old batches as indexed.
    drop(node);
    assert_eq!(storage(dir.path()).audit.indexed_from(), next);
}

#[tokio::test]
async fn entries_of_single_events_and_runs_are_walked_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 6).await;
    // Batches 1-6 as a trentd before runs indexed them, 7-9 in runs.
    node.audit.index_as_singles();
    append_keyed(&mut node.state_machine, 7, 3).await;
    // One run per batch and key: batches 7 and 8 name K1 and K2, batch 9 K2 twice.
    let db = node.audit.db_for_tests();
    let runs = db
        .iterator_cf(
            db.cf_handle(CF_AUDIT_INDEX).unwrap(),
            rocksdb::IteratorMode::Start,
        )
        .map(Result::unwrap)
        .filter(|(k, _)| k.ends_with(&u32::MAX.to_be_bytes()))
        .count();
    assert_eq!(runs, 5);
    for key in [K1, K2] {
        assert_eq!(
            places(&entries(&node.audit, key)),
            scanned(&node.audit, key)
        );
    }
    // Batches 3, 6 and 9 name K2 in both events: walks that start inside their runs, as a
    // page's next token does, take the events at or below the start and no other.
    let k2 = entries(&node.audit, K2);
    for (i, from) in k2.iter().enumerate() {
        let mut below = Vec::new();
        node.audit
            .resource_entries(K2, from.seq, from.index, |e| {
                below.push(e);
                Ok(true)
            })
            .unwrap();
        assert_eq!(below, k2[i..], "walked from {from:?}");
    }
    // A walk stops when told to, inside a run too.
    let mut first = Vec::new();
    node.audit
        .resource_entries(K2, u64::MAX, u32::MAX, |e| {
            first.push(e);
            Ok(first.len() < 3)
        })
        .unwrap();
    assert_eq!(first, k2[..3]);
}

#[tokio::test]
async fn the_mark_of_a_trentd_before_runs_is_taken_over_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 3).await;
    let db = node.audit.db_for_tests();
    // As a trentd before runs left the database: its mark under the old name, at 2.
    let mut batch = WriteBatch::default();
    audit_index::forget_marks(&db, &mut batch);
    let meta = db.cf_handle(CF_STATE_META).unwrap();
    batch.put_cf(meta, b"audit_indexed_from", 2u64.to_be_bytes());
    db.write(batch).unwrap();
    drop((db, node));
    let node = storage(dir.path());
    assert_eq!(node.audit.indexed_from(), 2, "its entries are read");
    let db = node.audit.db_for_tests();
    assert_eq!(
        old_mark(&db),
        None,
        "a downgraded trentd finds no mark, so scans what it did not index"
    );
    // Downgraded, that trentd marked its own start (5); this one indexed 2-4 in runs, so
    // its own mark stands, and the old one goes again.
    db.put_cf(
        db.cf_handle(CF_STATE_META).unwrap(),
        b"audit_indexed_from",
        5u64.to_be_bytes(),
    )
    .unwrap();
    drop((db, node));
    let node = storage(dir.path());
    assert_eq!(node.audit.indexed_from(), 2);
    let db = node.audit.db_for_tests();
    assert_eq!(old_mark(&db), None);
}

/// The index mark as a trentd before runs keeps it.
fn old_mark(db: &rocksdb::DB) -> Option<Vec<u8>> {
    let meta = db.cf_handle(CF_STATE_META).unwrap();
    db.get_cf(meta, b"audit_indexed_from").unwrap()
}
