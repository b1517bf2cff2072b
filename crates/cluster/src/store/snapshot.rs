//! The snapshot format: a header with the snapshot's meta, then the state records, then a
//! CRC-32 of everything before it. Snapshots hold only what the state holds (wrapped key
//! material, never plaintext).
//!
//! ```text
//! "TRENTSNP" | format u32 | meta_len u32 | meta (bincode SnapshotMeta)
//! { key_len u32 | key | value_len u32 | value }*  | 0xFFFFFFFF | crc32 u32
//! ```

use openraft::SnapshotMeta;

use crate::NodeId;

const MAGIC: &[u8; 8] = b"TRENTSNP";
const FORMAT: u32 = 1;
const END: u32 = u32::MAX;

pub(crate) type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;

/// Builds a snapshot image record by record.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(meta: &Meta) -> Writer {
        let meta = bincode::serialize(meta).expect("meta serializes");
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT.to_le_bytes());
        put_bytes(&mut buf, &meta);
        Writer { buf }
    }

    pub fn record(&mut self, key: &[u8], value: &[u8]) {
        put_bytes(&mut self.buf, key);
        put_bytes(&mut self.buf, value);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&END.to_le_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("record under 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// A parsed snapshot image.
pub(crate) struct Image {
    pub meta: Meta,
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Parses and verifies a snapshot image; any damage is an error, never a panic.
pub(crate) fn parse(data: &[u8]) -> Result<Image, String> {
    let body_len = data.len().checked_sub(4).ok_or("snapshot is truncated")?;
    let (body, crc) = data.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("snapshot checksum mismatch".into());
    }
    let mut cursor = Cursor { data: body };
    if cursor.take(8)? != MAGIC {
        return Err("not a trent snapshot".into());
    }
    let format = cursor.u32()?;
    if format != FORMAT {
        return Err(format!("snapshot format {format} is not supported"));
    }
    let meta: Meta =
        bincode::deserialize(cursor.bytes()?).map_err(|e| format!("snapshot meta: {e}"))?;
    let mut records = Vec::new();
    loop {
        let len = cursor.u32()?;
        if len == END {
            break;
        }
        let key = cursor.take(len as usize)?.to_vec();
        let value = cursor.bytes()?.to_vec();
        records.push((key, value));
    }
    if !cursor.data.is_empty() {
        return Err("trailing bytes after snapshot end".into());
    }
    Ok(Image { meta, records })
}

/// Reads the meta alone (for a snapshot file at start-up).
pub(crate) fn parse_meta(data: &[u8]) -> Result<Meta, String> {
    parse(data).map(|image| image.meta)
}

struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err("snapshot is truncated".into());
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Vec<u8> {
        let mut w = Writer::new(&Meta::default());
        w.record(b"k1", b"v1");
        w.record(b"k2", b"");
        w.finish()
    }

    #[test]
    fn round_trips() {
        let parsed = parse(&image()).unwrap();
        assert_eq!(
            parsed.records,
            vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), vec![])]
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let data = image();
        for n in 0..data.len() {
            assert!(parse(&data[..n]).is_err(), "truncated to {n}");
            let mut flipped = data.clone();
            flipped[n] ^= 0x01;
            assert!(parse(&flipped).is_err(), "flipped byte {n}");
        }
    }
}
