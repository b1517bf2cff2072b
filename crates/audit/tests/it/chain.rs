//! The chain in memory: sealing, hashing, and the first bad place for each tampering.

use crate::common::*;
use trent_audit::{event_hash, verify_chain, verify_chain_to, Batch, Finding, Tamper, GENESIS};

/// Three batches of three events, events 0..9.
fn chain() -> Vec<Batch> {
    batches(0, GENESIS, 0, &[3, 3, 3])
}

fn id(n: u64) -> Option<String> {
    Some(encrypt_event(n).event_id)
}

fn at(f: &Finding) -> (Tamper, Option<u64>, Option<u32>, Option<String>) {
    (f.what, f.batch, f.index, f.event_id.clone())
}

#[test]
fn sealed_batches_link_every_event_to_what_precedes_it() {
    let c = chain();
    verify_chain(&c).unwrap();
    verify_chain_to(&c, &c[2].hash()).unwrap();
    for (b, batch) in c.iter().enumerate() {
        for (i, e) in batch.events.iter().enumerate() {
            let link = e.chain_link().unwrap();
            assert_eq!(
                (link.batch, link.index, link.count),
                (b as u64, i as u32, 3)
            );
            let before = if i == 0 {
                batch.prev
            } else {
                event_hash(&batch.events[i - 1])
            };
            assert_eq!(link.prev, before);
        }
    }
    assert_eq!(c[1].prev, c[0].hash());
    assert_eq!(c[0].prev, GENESIS);
}

#[test]
fn the_batch_hash_covers_seq_prev_and_every_event() {
    let c = chain();
    let h = c[1].hash();
    let mut other = c[1].clone();
    other.seq = 7;
    assert_ne!(other.hash(), h);
    let mut other = c[1].clone();
    other.prev = [1; 32];
    assert_ne!(other.hash(), h);
    let mut other = c[1].clone();
    other.events[2].user_agent.push('!');
    assert_ne!(other.hash(), h);
    let mut other = c[1].clone();
    other.events.swap(0, 1);
    assert_ne!(other.hash(), h);
}

#[test]
fn a_deleted_event_is_found_where_the_gap_is() {
    let mut c = chain();
    c[1].events.remove(1); // event 4
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Deleted, Some(1), Some(1), id(5)), "{f}");
}

#[test]
fn a_deleted_last_event_of_a_batch_is_found_at_the_next_batch() {
    let mut c = chain();
    c[0].events.remove(2); // event 2
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Deleted, Some(1), Some(0), id(3)), "{f}");
}

#[test]
fn a_deleted_last_event_of_the_chain_is_found_at_its_end() {
    let mut c = chain();
    c[2].events.pop(); // event 8
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Deleted, Some(2), Some(2), None), "{f}");
}

#[test]
fn a_deleted_batch_is_found_at_the_batch_after_it() {
    let mut c = chain();
    c.remove(1);
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Deleted, Some(2), Some(0), id(6)), "{f}");
}

#[test]
fn two_swapped_events_are_reordered_at_the_first() {
    let mut c = chain();
    c[1].events.swap(0, 1); // events 3 and 4
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Reordered, Some(1), Some(0), id(4)), "{f}");
}

#[test]
fn an_event_moved_after_its_successor_across_batches_is_reordered() {
    let mut c = chain();
    let e = c[0].events.remove(2); // event 2, now after event 3
    c[1].events.insert(1, e);
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Reordered, Some(1), Some(0), id(3)), "{f}");
}

/// The events in their order, but a batch boundary moved: the headers no longer match.
#[test]
fn an_event_moved_to_the_next_batch_in_order_breaks_the_chain() {
    let mut c = chain();
    let e = c[0].events.remove(2); // event 2, now first of batch 1
    c[1].events.insert(0, e);
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::ChainBroken, Some(1), None, None), "{f}");
}

#[test]
fn an_edited_event_is_named_by_its_successor() {
    let mut c = chain();
    c[1].events[1].source_ip_address = "203.0.113.9".into(); // event 4
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Edited, Some(1), Some(1), id(4)), "{f}");
}

#[test]
fn an_edited_last_event_of_a_batch_is_named_by_the_next_batch() {
    let mut c = chain();
    c[0].events[2].event_name = "Decrypt".into(); // event 2
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Edited, Some(0), Some(2), id(2)), "{f}");
}

/// The last event has no successor: only the hash the caller trusts vouches for it.
#[test]
fn an_edited_last_event_of_the_chain_needs_the_trusted_end() {
    let mut c = chain();
    let end = c[2].hash();
    c[2].events[2].read_only = false; // event 8
    verify_chain(&c).unwrap();
    let f = verify_chain_to(&c, &end).unwrap_err();
    assert_eq!(at(&f), (Tamper::Edited, Some(2), Some(2), id(8)), "{f}");
}

#[test]
fn a_replayed_event_is_inserted() {
    let mut c = chain();
    let copy = c[1].events[1].clone(); // event 4 again, after itself
    c[1].events.insert(2, copy);
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Inserted, Some(1), Some(2), id(4)), "{f}");
}

#[test]
fn an_event_the_chain_never_sealed_is_inserted() {
    let mut c = chain();
    c[1].events.insert(1, encrypt_event(99));
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::Inserted, Some(1), Some(1), id(99)), "{f}");
}

#[test]
fn a_batch_header_that_disagrees_with_its_events_breaks_the_chain() {
    let mut c = chain();
    c[2].prev = [7; 32];
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(at(&f), (Tamper::ChainBroken, Some(2), None, None), "{f}");
}

#[test]
fn a_chain_from_seq_zero_starts_at_genesis() {
    let c = batches(0, [9; 32], 0, &[2]);
    let f = verify_chain(&c).unwrap_err();
    assert_eq!(
        at(&f),
        (Tamper::ChainBroken, Some(0), Some(0), id(0)),
        "{f}"
    );
    // A range that starts later is anchored by its first batch.
    verify_chain(&batches(5, [9; 32], 0, &[2, 1])).unwrap();
}

#[test]
fn an_empty_batch_has_lost_its_events() {
    let mut c = chain();
    c[1].events.clear();
    let f = verify_chain(&c).unwrap_err();
    assert_eq!((f.what, f.batch), (Tamper::Deleted, Some(1)), "{f}");
}

/// Batches read from storage are input: the largest sequence number is a finding or a
/// pass, never an overflow.
#[test]
fn the_last_sequence_number_does_not_overflow() {
    let b = batches(u64::MAX, [7; 32], 0, &[2]);
    assert_eq!(verify_chain(&b), Ok(()));
    let end = b[0].hash();
    assert_eq!(verify_chain_to(&b, &end), Ok(()));
}

#[test]
fn sealing_to_bytes_gives_the_sealed_events_bytes_and_the_batch_hash() {
    let events: Vec<_> = (0..5).map(encrypt_event).collect();
    let prev = [7u8; 32];
    let sealed = Batch::seal(4, prev, events.clone());
    let (bytes, hash) = Batch::seal_to_bytes(4, prev, events);
    let expected: Vec<Vec<u8>> = sealed.events.iter().map(|e| e.canonical_bytes()).collect();
    assert_eq!(bytes, expected);
    assert_eq!(hash, sealed.hash());
}
