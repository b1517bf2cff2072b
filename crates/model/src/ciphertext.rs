//! The ciphertext blob that Encrypt, GenerateDataKey and ReEncrypt return, and the canonical
//! encoding of an encryption context.
//!
//! Blob layouts (all integers big-endian), parsed by [`CiphertextBlob::parse`] alone:
//!
//! ```text
//! format 2: "TK" | 2 | key id (16-byte UUID) | material version (u32) | salt (14) | nonce (12) | ciphertext+tag
//! format 1: "TK" | 1 | key id (16-byte UUID) | material version (u32) |             nonce (12) | ciphertext+tag
//! ```
//!
//! Everything before the nonce is the *header*; it is bound into the AEAD's additional data,
//! together with the canonical encryption context, so no part of a blob can be changed or
//! moved to another key without failing authentication. Format 2 (written since issue 18)
//! seals under a key derived from the material and the blob's random salt, one key per
//! ciphertext (the HSM derives it); format 1 sealed under the material itself and is only
//! read, so blobs made before still decrypt.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::{Error, KeyId};

const MAGIC: &[u8; 2] = b"TK";
/// The format every new blob has: a per-ciphertext key derived from a salt.
pub const BLOB_FORMAT: u8 = 2;
/// The format of blobs sealed under the material itself (read only).
pub const BLOB_FORMAT_1: u8 = 1;
/// Length of a format-2 blob's salt.
pub const CIPHERTEXT_SALT_LEN: usize = 14;
const FIXED_LEN: usize = 2 + 1 + 16 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// AWS's bound on `CiphertextBlob`.
pub const MAX_CIPHERTEXT_BLOB: usize = 6144;
/// Bound on the encoded encryption context.
pub const MAX_ENCRYPTION_CONTEXT: usize = 8192;

/// A format-2 blob's salt.
pub type Salt = [u8; CIPHERTEXT_SALT_LEN];

/// A parsed ciphertext blob; it borrows the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiphertextBlob<'a> {
    pub key_id: KeyId,
    pub material_version: u32,
    pub header: &'a [u8],
    /// The key-derivation salt (format 2); `None` for a format-1 blob.
    pub salt: Option<&'a Salt>,
    pub nonce: &'a [u8; NONCE_LEN],
    pub sealed: &'a [u8],
}

impl<'a> CiphertextBlob<'a> {
    /// The header of a new (format 2) blob of `key_id` under material `version`.
    pub fn header_for(key_id: KeyId, version: u32, salt: &Salt) -> Vec<u8> {
        let mut header = Self::fixed_header(BLOB_FORMAT, key_id, version);
        header.extend_from_slice(salt);
        header
    }

    /// The header of a format-1 blob (tests and fixtures: nothing writes format 1 now).
    pub fn header_v1_for(key_id: KeyId, version: u32) -> Vec<u8> {
        Self::fixed_header(BLOB_FORMAT_1, key_id, version)
    }

    fn fixed_header(format: u8, key_id: KeyId, version: u32) -> Vec<u8> {
        let mut header = Vec::with_capacity(FIXED_LEN + CIPHERTEXT_SALT_LEN);
        header.extend_from_slice(MAGIC);
        header.push(format);
        header.extend_from_slice(key_id.0.as_bytes());
        header.extend_from_slice(&version.to_be_bytes());
        header
    }

    /// Assembles a blob from its header, nonce and sealed bytes.
    pub fn assemble(header: &[u8], nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Vec<u8> {
        let mut blob = Vec::with_capacity(header.len() + NONCE_LEN + sealed.len());
        blob.extend_from_slice(header);
        blob.extend_from_slice(nonce);
        blob.extend_from_slice(sealed);
        blob
    }

    /// Parses `bytes` with strict bounds. Anything that is not a well-formed blob of a known
    /// format is `InvalidCiphertextException`; nothing here can panic.
    pub fn parse(bytes: &'a [u8]) -> Result<CiphertextBlob<'a>, Error> {
        // `why` documents each refusal here; AWS tells the caller nothing more.
        let invalid = |_why: &str| Error::invalid_ciphertext();
        if bytes.len() > MAX_CIPHERTEXT_BLOB {
            return Err(invalid("longer than 6144 bytes"));
        }
        if bytes.len() < 3 || &bytes[..2] != MAGIC {
            return Err(invalid("unknown format"));
        }
        let salt_len = match bytes[2] {
            BLOB_FORMAT => CIPHERTEXT_SALT_LEN,
            BLOB_FORMAT_1 => 0,
            _ => return Err(invalid("unknown format")),
        };
        let header_len = FIXED_LEN + salt_len;
        if bytes.len() < header_len + NONCE_LEN + TAG_LEN + 1 {
            return Err(invalid("too short"));
        }
        let (header, rest) = bytes.split_at(header_len);
        let key_id = KeyId(Uuid::from_bytes(
            header[3..19].try_into().expect("16 bytes"),
        ));
        let material_version = u32::from_be_bytes(header[19..23].try_into().expect("4 bytes"));
        if material_version == 0 {
            return Err(invalid("material version 0"));
        }
        let salt = (salt_len > 0).then(|| header[FIXED_LEN..].try_into().expect("salt length"));
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        Ok(CiphertextBlob {
            key_id,
            material_version,
            header,
            salt,
            nonce: nonce.try_into().expect("12 bytes"),
            sealed,
        })
    }

    /// The additional data the blob was sealed with: header, then the encoded context.
    pub fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
        let mut aad = header.to_vec();
        aad.extend_from_slice(&context.encode());
        aad
    }
}

/// An encryption context: string pairs bound to a ciphertext. Order-independent (sorted by
/// key), case-sensitive, and encoded with length prefixes so no two contexts share an
/// encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(pub BTreeMap<String, String>);

impl EncryptionContext {
    /// Validates size and emptiness of keys; `field` names the request member.
    pub fn new(pairs: BTreeMap<String, String>, field: &str) -> Result<Self, Error> {
        let context = EncryptionContext(pairs);
        if context.0.keys().any(|k| k.is_empty()) {
            return Err(Error::validation(
                field,
                None,
                "Member must have keys of length greater than or equal to 1",
            ));
        }
        if context.encode().len() > MAX_ENCRYPTION_CONTEXT {
            return Err(Error::validation(
                field,
                None,
                "Member must have length less than or equal to 8192 bytes when encoded",
            ));
        }
        Ok(context)
    }

    /// `count | (len key, key, len value, value)*`, lengths as big-endian u32.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_blob_round_trips_in_both_formats() {
        let id = KeyId(Uuid::new_v4());
        let salt = [5u8; CIPHERTEXT_SALT_LEN];
        for (header, salt) in [
            (CiphertextBlob::header_for(id, 7, &salt), Some(&salt)),
            (CiphertextBlob::header_v1_for(id, 7), None),
        ] {
            let blob = CiphertextBlob::assemble(&header, &[9; 12], &[1; 40]);
            let parsed = CiphertextBlob::parse(&blob).unwrap();
            assert_eq!(parsed.key_id, id);
            assert_eq!(parsed.material_version, 7);
            assert_eq!(parsed.header, &header[..]);
            assert_eq!(parsed.salt, salt);
            assert_eq!(parsed.nonce, &[9; 12]);
            assert_eq!(parsed.sealed, &[1; 40]);
        }
        let header = CiphertextBlob::header_for(id, 7, &salt);
        assert_eq!(header[2], BLOB_FORMAT);
        assert_eq!(&header[header.len() - CIPHERTEXT_SALT_LEN..], &salt);
    }

    #[test]
    fn malformed_blobs_are_invalid_ciphertext() {
        let id = KeyId(Uuid::new_v4());
        let salt = [3u8; CIPHERTEXT_SALT_LEN];
        let good = CiphertextBlob::assemble(
            &CiphertextBlob::header_for(id, 1, &salt),
            &[0; 12],
            &[0; 17],
        );
        let good_v1 =
            CiphertextBlob::assemble(&CiphertextBlob::header_v1_for(id, 1), &[0; 12], &[0; 17]);
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let mut bad_format = good.clone();
        bad_format[2] = 3;
        let mut format_zero = good.clone();
        format_zero[2] = 0;
        let version_zero = CiphertextBlob::assemble(
            &CiphertextBlob::header_for(id, 0, &salt),
            &[0; 12],
            &[0; 17],
        );
        // A format-2 blob read as format 1 is longer than it seems, not malformed; but a
        // format-1 blob of minimal length read as format 2 is too short.
        let mut v1_as_v2 = good_v1.clone();
        v1_as_v2[2] = BLOB_FORMAT;
        for bad in [
            &[][..],
            b"T",
            b"TK",
            b"TK\x02",
            &good[..good.len() - 1],
            &good_v1[..good_v1.len() - 1],
            &bad_magic,
            &bad_format,
            &format_zero,
            &version_zero,
            &v1_as_v2,
            &vec![0u8; 7000],
        ] {
            let e = CiphertextBlob::parse(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidCiphertext);
        }
        assert!(CiphertextBlob::parse(&good).is_ok());
        assert!(CiphertextBlob::parse(&good_v1).is_ok());
    }

    #[test]
    fn no_truncation_or_bit_flip_panics() {
        let id = KeyId(Uuid::new_v4());
        let salt = [7u8; CIPHERTEXT_SALT_LEN];
        for header in [
            CiphertextBlob::header_for(id, 2, &salt),
            CiphertextBlob::header_v1_for(id, 2),
        ] {
            let blob = CiphertextBlob::assemble(&header, &[1; 12], &[2; 33]);
            for end in 0..=blob.len() {
                let parsed = CiphertextBlob::parse(&blob[..end]);
                if let Err(e) = parsed {
                    assert_eq!(e.kind, ErrorKind::InvalidCiphertext);
                }
            }
            for at in 0..blob.len() {
                for bit in 0..8 {
                    let mut flipped = blob.clone();
                    flipped[at] ^= 1 << bit;
                    if let Err(e) = CiphertextBlob::parse(&flipped) {
                        assert_eq!(e.kind, ErrorKind::InvalidCiphertext);
                    }
                }
            }
        }
    }

    #[test]
    fn context_encoding_is_order_independent_and_unambiguous() {
        assert_eq!(
            ctx(&[("a", "1"), ("b", "2")]).encode(),
            ctx(&[("b", "2"), ("a", "1")]).encode()
        );
        assert_ne!(ctx(&[("ab", "c")]).encode(), ctx(&[("a", "bc")]).encode());
        assert_ne!(ctx(&[("A", "1")]).encode(), ctx(&[("a", "1")]).encode());
        assert_ne!(ctx(&[]).encode(), ctx(&[("", "")]).encode());
    }

    #[test]
    fn oversized_or_empty_keyed_contexts_are_refused() {
        let big = [("k".to_string(), "v".repeat(9000))].into_iter().collect();
        let e = EncryptionContext::new(big, "EncryptionContext").unwrap_err();
        assert!(e.message.contains("EncryptionContext"), "{}", e.message);
        let empty = [(String::new(), "v".into())].into_iter().collect();
        assert!(EncryptionContext::new(empty, "EncryptionContext").is_err());
    }
}
