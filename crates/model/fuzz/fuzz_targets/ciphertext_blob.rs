//! `CiphertextBlob::parse` on arbitrary bytes: it must never panic, must accept exactly the
//! well-formed blobs (`"TK" | 1 | key id (16) | version (u32 BE, not 0) | nonce (12) |
//! sealed (at least tag + 1 byte)`, 6144 bytes at most), must refuse everything else as
//! `InvalidCiphertext`, and what it accepts must put back together into the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::{CiphertextBlob, ErrorKind, MAX_CIPHERTEXT_BLOB};

const HEADER_LEN: usize = 2 + 1 + 16 + 4;
const NONCE_LEN: usize = 12;
const MIN_SEALED: usize = 16 + 1;

/// The layout, restated independently of the parser.
fn well_formed(data: &[u8]) -> bool {
    data.len() <= MAX_CIPHERTEXT_BLOB
        && data.len() >= HEADER_LEN + NONCE_LEN + MIN_SEALED
        && data.starts_with(b"TK\x01")
        && data[19..23] != [0, 0, 0, 0]
}

fuzz_target!(|data: &[u8]| {
    match CiphertextBlob::parse(data) {
        Ok(blob) => {
            assert!(well_formed(data), "accepted a malformed blob");
            assert_eq!(blob.header, &data[..HEADER_LEN]);
            assert_eq!(&blob.nonce[..], &data[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
            assert_eq!(blob.sealed, &data[HEADER_LEN + NONCE_LEN..]);
            assert!(blob.sealed.len() >= MIN_SEALED);
            assert_ne!(blob.material_version, 0);
            assert_eq!(
                CiphertextBlob::header_for(blob.key_id, blob.material_version),
                blob.header,
                "the header does not match the key id and version parsed from it"
            );
            assert_eq!(
                CiphertextBlob::assemble(blob.header, blob.nonce, blob.sealed),
                data,
                "re-assembling the parts does not give back the input"
            );
            assert_eq!(CiphertextBlob::parse(data).ok(), Some(blob));
        }
        Err(e) => {
            assert!(
                !well_formed(data),
                "refused a well-formed blob: {}",
                e.message
            );
            assert_eq!(e.kind, ErrorKind::InvalidCiphertext, "{}", e.message);
        }
    }
});
