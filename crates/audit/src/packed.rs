//! A batch of [`Unlinked`] events as the Raft log carries it: one LZ4 block.
//!
//! Every byte of an `AppendAudit` entry is written to the log's WAL and memtable on every
//! node, sent to every follower, read back for replication and cloned by openraft on the
//! way; a batch of events of one workload repeats itself (the same caller, key ARN, user
//! agent and member names), so it shrinks several times over. Compressing it once on the
//! leader costs less than carrying it whole through all of that (docs/BENCHMARKS.md, "Audit
//! trail").
//!
//! Guarantees:
//! - [`Packed::unpack`] of [`Packed::pack`] gives the events back byte for byte, so sealing
//!   a packed batch gives the same chain as sealing the events themselves.
//! - Unpacking never allocates more than [`MAX_UNPACKED`] bytes, whatever the block claims,
//!   and answers an error (never a panic) for a block that is not a packed batch.

use serde::{Deserialize, Serialize};

use crate::Unlinked;

/// The most an unpacked batch may hold (far above the leader's batches: at most 128 events
/// of at most a few hundred KB each).
pub const MAX_UNPACKED: usize = 256 << 20;

/// Events packed for the log: each event's `head` and `tail`, length-prefixed (u32 LE),
/// concatenated, then compressed as one LZ4 block that starts with its unpacked size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packed(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl Packed {
    /// `events`, packed.
    pub fn pack(events: &[Unlinked]) -> Packed {
        let size: usize = events.iter().map(|e| 8 + e.head.len() + e.tail.len()).sum();
        let mut raw = Vec::with_capacity(size);
        for event in events {
            for part in [&event.head, &event.tail] {
                let len = u32::try_from(part.len()).expect("an event is under 4 GiB");
                raw.extend_from_slice(&len.to_le_bytes());
                raw.extend_from_slice(part.as_bytes());
            }
        }
        Packed(lz4_flex::compress_prepend_size(&raw))
    }

    /// The events, or why these bytes are not a packed batch.
    pub fn unpack(&self) -> Result<Vec<Unlinked>, String> {
        let claimed = self
            .0
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or("a packed audit batch is cut short")?;
        if claimed > MAX_UNPACKED {
            return Err(format!(
                "a packed audit batch claims {claimed} bytes, over {MAX_UNPACKED}"
            ));
        }
        let raw = lz4_flex::decompress_size_prepended(&self.0)
            .map_err(|e| format!("a packed audit batch does not decompress: {e}"))?;
        let mut events = Vec::new();
        let mut rest = raw.as_slice();
        while !rest.is_empty() {
            let head = take_part(&mut rest)?;
            let tail = take_part(&mut rest)?;
            events.push(Unlinked { head, tail });
        }
        Ok(events)
    }
}

/// The next length-prefixed UTF-8 part of `rest`, moving past it.
fn take_part(rest: &mut &[u8]) -> Result<String, String> {
    let short = || "a packed audit batch is cut short".to_owned();
    let len = rest.get(..4).ok_or_else(short)?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    let bytes = rest.get(4..4 + len).ok_or_else(short)?;
    let part = std::str::from_utf8(bytes)
        .map_err(|e| format!("a packed audit event is not UTF-8: {e}"))?
        .to_owned();
    *rest = &rest[4 + len..];
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlinked(i: usize) -> Unlinked {
        Unlinked {
            head: format!(
                "{{\"eventVersion\":\"1.11\",\"n\":{i},\"s\":\"é\\\"\",\"additionalEventData\":{{"
            ),
            tail: "},\"readOnly\":true}".repeat(i % 3 + 1),
        }
    }

    #[test]
    fn unpacking_gives_the_events_back_byte_for_byte() {
        let events: Vec<_> = (0..128).map(unlinked).collect();
        let packed = Packed::pack(&events);
        assert_eq!(packed.unpack().unwrap(), events);
        let raw: usize = events.iter().map(|e| e.head.len() + e.tail.len()).sum();
        assert!(
            packed.0.len() * 3 < raw,
            "{} of {raw} bytes",
            packed.0.len()
        );
        assert_eq!(Packed::pack(&[]).unpack().unwrap(), Vec::<Unlinked>::new());
    }

    #[test]
    fn bytes_that_are_not_a_packed_batch_are_refused_without_a_panic() {
        let packed = Packed::pack(&(0..4).map(unlinked).collect::<Vec<_>>());
        let mut cases = vec![
            Vec::new(),
            vec![1, 2],
            packed.0[..packed.0.len() - 3].to_vec(),
        ];
        // A block that claims more than the bound is refused before it is decompressed.
        let mut huge = packed.0.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push(huge);
        // A block that decompresses to parts cut short, and to parts that are not UTF-8.
        cases.push(lz4_flex::compress_prepend_size(&[9, 0, 0, 0, b'a']));
        cases.push(lz4_flex::compress_prepend_size(&[
            1, 0, 0, 0, 0xff, 0, 0, 0, 0,
        ]));
        for case in cases {
            assert!(Packed(case.clone()).unpack().is_err(), "{case:?}");
        }
    }
}
