//! The audit trail's resource index through the storage layer: written with every batch,
//! however the batch arrives (apply, backfill, snapshot install), read newest first, pruned
//! with the batches retention deletes, and absent (marked so) for batches an older trentd
//! stored.

use openraft::storage::RaftStateMachine;

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
