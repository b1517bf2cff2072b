//! The audit trail's resource index through the storage layer: written with every batch,
//! however the batch arrives (apply, into the tail and then as groups; backfill, snapshot
//! install), read newest first from memory and disk as one, rebuilt at start, pruned with the
//! batches retention deletes, and absent (marked so) for batches an older trentd stored.

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

/// The index finds exactly the events of `key` that a scan of the stored batches finds.
fn assert_indexed_as_scanned(store: &AuditStore, key: &str) {
    assert_eq!(places(&entries(store, key)), scanned(store, key));
}

/// The index's entries on disk by form: (groups, runs, single entries).
fn forms(store: &AuditStore) -> (usize, usize, usize) {
    let db = store.db_for_tests();
    let cf = db.cf_handle(CF_AUDIT_INDEX).unwrap();
    let mut counts = (0, 0, 0);
    for item in db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (k, _) = item.unwrap();
        match u32::from_be_bytes(k[k.len() - 4..].try_into().unwrap()) {
            u32::MAX => counts.1 += 1,
            form if form == u32::MAX - 1 => counts.0 += 1,
            _ => counts.2 += 1,
        }
    }
    counts
}

/// Applies batches `from..from + n` in applies of `chunk` batches, so groups fill mid-apply.
async fn append_chunked(machine: &mut StateMachineStore, from: u64, n: u64, chunk: u64) {
    let mut at = from;
    while at < from + n {
        let take = chunk.min(from + n - at);
        append_keyed(machine, at, take).await;
        at += take;
    }
}

/// Every walk that starts at one of `key`'s entries, as a page's next token does, takes the
/// entries at or below it and no other.
fn assert_walks_from_each_entry(store: &AuditStore, key: &str) {
    let all = entries(store, key);
    for (i, from) in all.iter().enumerate() {
        let mut below = Vec::new();
        store
            .resource_entries(key, from.seq, from.index, |e| {
                below.push(e);
                Ok(true)
            })
            .unwrap();
        assert_eq!(below, all[i..], "walked from {from:?}");
    }
}

#[tokio::test]
async fn every_applied_event_is_found_by_its_key_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 9).await;
    let k1 = entries(&node.audit, K1);
    assert_eq!(places(&k1), scanned(&node.audit, K1));
    assert_indexed_as_scanned(&node.audit, K2);
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
    assert_eq!(
        forms(&node.audit),
        (0, 0, 0),
        "nine batches stay in the tail"
    );
}

#[tokio::test]
async fn a_full_tail_goes_to_disk_as_groups_and_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_chunked(&mut node.state_machine, 1, 150, 7).await;
    let (groups, runs, singles) = forms(&node.audit);
    assert_eq!((runs, singles), (0, 0));
    assert_eq!(groups, 4, "two groups of each key");
    let next = tip(&node.state_machine).next_seq;
    let tail_from = node.audit.tail_from();
    assert!(
        tail_from > 0 && next - tail_from < 64,
        "{tail_from} of {next}"
    );
    let before: Vec<_> = [K1, K2].map(|key| entries(&node.audit, key)).into();
    for key in [K1, K2] {
        assert_indexed_as_scanned(&node.audit, key);
        assert_walks_from_each_entry(&node.audit, key);
    }
    // A restart rebuilds the tail from the stored batches: nothing lost, nothing twice.
    drop(node);
    let mut node = storage(dir.path());
    assert_eq!(node.audit.tail_from(), tail_from);
    let after: Vec<_> = [K1, K2].map(|key| entries(&node.audit, key)).into();
    assert_eq!(after, before);
    append_chunked(&mut node.state_machine, 151, 80, 11).await;
    for key in [K1, K2] {
        assert_indexed_as_scanned(&node.audit, key);
    }
}

#[tokio::test]
async fn a_group_written_during_a_walk_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_keyed(&mut node.state_machine, 1, 63).await;
    assert_eq!(forms(&node.audit).0, 0, "63 batches stay in the tail");
    // The 64th batch, sealed as another node sealed it.
    let source_dir = tempfile::tempdir().unwrap();
    let mut source = storage(source_dir.path());
    append_keyed(&mut source.state_machine, 1, 64).await;
    let sealed = source.audit.stored_below(64, usize::MAX).unwrap()[..1].to_vec();
    assert_eq!(sealed[0].0, 63);
    // A walk that takes the tail after the group's write and before the tail empties reads
    // the tail as before the write, not the group as well.
    let db = node.audit.db_for_tests();
    let early = places(&entries(&node.audit, K2));
    let mut batch = WriteBatch::default();
    let staged = node.audit.put_sealed(&mut batch, &sealed);
    db.write(batch).unwrap();
    assert_eq!(forms(&node.audit).0, 2, "the group of each key is on disk");
    assert_eq!(places(&entries(&node.audit, K2)), early);
    // Then the group alone, with the new batch's event.
    node.audit.sealed_written(staged);
    let after = places(&entries(&node.audit, K2));
    assert_eq!(after, scanned(&node.audit, K2));
    assert_eq!((after[0], &after[1..]), ((63, 1), &early[..]));
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
    // Their tails started apart (at 0 and at the snapshot's tip), so their groups end apart.
    append_chunked(&mut copy.state_machine, 9, 100, 5).await;
    append_chunked(&mut source.state_machine, 9, 100, 5).await;
    assert_ne!(copy.audit.tail_from(), source.audit.tail_from());
    for key in [K1, K2] {
        assert_eq!(entries(&copy.audit, key), entries(&source.audit, key));
    }
}

#[tokio::test]
async fn retention_takes_the_entries_of_the_batches_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_chunked(&mut node.state_machine, 1, 200, 10).await;
    // Groups of 70 batches: [0, 70), [70, 140), then the tail; the cut falls in the second.
    let prune = [
        entry(201, Command::AuditExported { before: 100 }),
        entry(
            202,
            Command::PruneAudit {
                before: 100,
                events: 200,
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
    assert_eq!(
        forms(&node.audit).0,
        2,
        "the first group of each key is dropped"
    );
    // The group the cut falls in is kept whole; its pruned batches are read as gone.
    assert!(left.iter().all(|e| e.seq >= 70), "{left:?}");
    let kept: Vec<_> = left.iter().filter(|e| e.seq >= 100).copied().collect();
    assert_eq!(places(&kept), scanned(&node.audit, K2));
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
async fn entries_of_every_form_and_the_tail_are_walked_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    // Batches 1-6 as a trentd before runs indexed them, 7-9 in runs, then groups and a tail.
    append_keyed(&mut node.state_machine, 1, 6).await;
    node.audit.tail_to_disk_as_singles();
    append_keyed(&mut node.state_machine, 7, 3).await;
    node.audit.tail_to_disk_as_runs();
    append_chunked(&mut node.state_machine, 10, 100, 10).await;
    // One run per batch and key: batches 7 and 8 name K1 and K2, batch 9 K2 twice.
    let (groups, runs, singles) = forms(&node.audit);
    assert_eq!((groups, runs, singles), (2, 5, 12));
    assert!(node.audit.tail_from() < tip(&node.state_machine).next_seq);
    for key in [K1, K2] {
        assert_indexed_as_scanned(&node.audit, key);
        // Some batches name K2 in both events: walks start inside them too.
        assert_walks_from_each_entry(&node.audit, key);
    }
    let k2 = entries(&node.audit, K2);
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
async fn the_marks_of_older_trentds_are_taken_over_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    // Batches 0-2 (log indices 1-3): K1 and K2, K1 and K2, K2 twice.
    append_keyed(&mut node.state_machine, 1, 3).await;
    // As a trentd before groups left the database: runs of every batch, its mark at 1.
    node.audit.tail_to_disk_as_runs();
    let db = node.audit.db_for_tests();
    let mut batch = WriteBatch::default();
    audit_index::forget_marks(&db, &mut batch);
    put_old_mark(&db, &mut batch, b"audit_indexed_from_runs", 1);
    db.write(batch).unwrap();
    drop((db, node));
    let mut node = storage(dir.path());
    assert_eq!(node.audit.indexed_from(), 1, "its entries are read");
    let db = node.audit.db_for_tests();
    assert_eq!(
        old_marks(&db),
        [None, None],
        "a downgraded trentd finds no mark"
    );
    let next = tip(&node.state_machine).next_seq;
    assert_eq!(node.audit.tail_from(), next);
    assert_eq!(
        entries(&node.audit, K2).len(),
        4,
        "batches 0-1 name K2 once, 2 twice"
    );
    // Downgraded, that trentd marked its own start (5) and indexed from there; this one's
    // tail (batches 3-4) was never written, so the index is trusted from 5 on, and the old
    // mark goes again.
    append_keyed(&mut node.state_machine, 4, 2).await;
    let mut batch = WriteBatch::default();
    put_old_mark(&db, &mut batch, b"audit_indexed_from", 5);
    db.write(batch).unwrap();
    drop((db, node));
    let mut node = storage(dir.path());
    assert_eq!(node.audit.indexed_from(), 5);
    assert_eq!(old_marks(&node.audit.db_for_tests()), [None, None]);
    // The tail starts afresh at the tip, and what this trentd applies from there is found.
    assert_eq!(node.audit.tail_from(), 5);
    append_keyed(&mut node.state_machine, 6, 2).await;
    let above: Vec<_> = scanned(&node.audit, K2)
        .into_iter()
        .filter(|&(seq, _)| seq >= 5)
        .collect();
    assert_eq!(above.len(), 3, "batch 5 names K2 twice, 6 once");
    let found: Vec<_> = places(&entries(&node.audit, K2))
        .into_iter()
        .filter(|&(seq, _)| seq >= 5)
        .collect();
    assert_eq!(found, above);
}

#[tokio::test]
async fn a_tail_left_long_is_written_a_group_at_a_time_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = storage(dir.path());
    append_chunked(&mut node.state_machine, 1, 200, 10).await;
    // As if the tail had never gone to disk: no entries, the tail starting at 0.
    let db = node.audit.db_for_tests();
    let mut batch = WriteBatch::default();
    audit_index::clear(&db, &mut batch, 0);
    db.write(batch).unwrap();
    drop((db, node));
    let node = storage(dir.path());
    // 200 batches: three groups of 64 per key, then 8 in the tail.
    assert_eq!(forms(&node.audit), (6, 0, 0));
    assert_eq!(node.audit.tail_from(), 192);
    for key in [K1, K2] {
        assert_indexed_as_scanned(&node.audit, key);
    }
}

#[tokio::test]
async fn an_install_replaces_the_groups_and_the_tail() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut node = storage(a.path());
    append_chunked(&mut node.state_machine, 1, 100, 10).await;
    assert!(forms(&node.audit).0 > 0 && node.audit.tail_from() < 100);
    let mut source = storage(b.path());
    append_chunked(&mut source.state_machine, 1, 130, 13).await;
    let snapshot = super::audit_tests::snapshot_of(&mut source).await;
    node.state_machine
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    assert_eq!(forms(&node.audit), (0, 0, 0));
    assert!(entries(&node.audit, K1).is_empty(), "nothing stored yet");
    assert_eq!(node.audit.tail_from(), 130);
    let answer = source.audit.stored_below(130, usize::MAX).unwrap();
    assert_eq!(node.audit.fill(&answer, || 0).await.unwrap(), 130);
    append_chunked(&mut node.state_machine, 131, 70, 7).await;
    append_chunked(&mut source.state_machine, 131, 70, 7).await;
    for key in [K1, K2] {
        assert_eq!(entries(&node.audit, key), entries(&source.audit, key));
        assert_indexed_as_scanned(&node.audit, key);
    }
}

fn put_old_mark(db: &rocksdb::DB, batch: &mut WriteBatch, name: &[u8], seq: u64) {
    batch.put_cf(
        db.cf_handle(CF_STATE_META).unwrap(),
        name,
        seq.to_be_bytes(),
    );
}

/// The index marks as trentds before groups keep them (runs, singles).
fn old_marks(db: &rocksdb::DB) -> [Option<Vec<u8>>; 2] {
    let meta = db.cf_handle(CF_STATE_META).unwrap();
    [b"audit_indexed_from_runs".as_slice(), b"audit_indexed_from"]
        .map(|name| db.get_cf(meta, name).unwrap())
}
