//! `CiphertextBlob::parse` on arbitrary bytes: it must never panic, must accept exactly the
//! well-formed blobs of both formats (`"TK" | 2 | key id (16) | version (u32 BE, not 0) |
//! salt (14) | nonce (12) | sealed (at least tag + 1 byte)`, and format 1, the same without
//! the salt; 6144 bytes at most), must refuse everything else as `InvalidCiphertext`, and
//! what it accepts must put back together into the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::{CiphertextBlob, ErrorKind, MAX_CIPHERTEXT_BLOB};

const FIXED_LEN: usize = 2 + 1 + 16 + 4;
const SALT_LEN: usize = 14;
const NONCE_LEN: usize = 12;
const MIN_SEALED: usize = 16 + 1;

/// The header length of a well-formed blob, restated independently of the parser.
fn well_formed(data: &[u8]) -> Option<usize> {
    let header_len = match data.get(..3)? {
        b"TK\x02" => FIXED_LEN + SALT_LEN,
        b"TK\x01" => FIXED_LEN,
        _ => return None,
    };
    let fits = data.len() <= MAX_CIPHERTEXT_BLOB
        && data.len() >= header_len + NONCE_LEN + MIN_SEALED
        && data[19..23] != [0, 0, 0, 0];
    fits.then_some(header_len)
}

fuzz_target!(|data: &[u8]| {
    match CiphertextBlob::parse(data) {
        Ok(blob) => {
            let header_len = well_formed(data).expect("accepted a malformed blob");
            assert_eq!(blob.header, &data[..header_len]);
            assert_eq!(
                &blob.nonce[..],
                &data[header_len..header_len + NONCE_LEN]
            );
            assert_eq!(blob.sealed, &data[header_len + NONCE_LEN..]);
            assert!(blob.sealed.len() >= MIN_SEALED);
            assert_ne!(blob.material_version, 0);
            let header = match blob.salt {
                Some(salt) => {
                    assert_eq!(&salt[..], &data[FIXED_LEN..FIXED_LEN + SALT_LEN]);
                    CiphertextBlob::header_for(blob.key_id, blob.material_version, salt)
                }
                None => CiphertextBlob::header_v1_for(blob.key_id, blob.material_version),
            };
            assert_eq!(
                header, blob.header,
                "the header does not match the key id, version and salt parsed from it"
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
                well_formed(data).is_none(),
                "refused a well-formed blob: {}",
                e.message
            );
            assert_eq!(e.kind, ErrorKind::InvalidCiphertext, "{}", e.message);
        }
    }
});
