//! trent's audit trail, the part that needs no cluster: the event every API call produces,
//! what of a request may go into it, the hash chain that binds events in commit order, the
//! signed digests over ranges of the chain, and the CloudTrail-format export and its
//! verification (issue 25; docs/ARCHITECTURE.md, "Audit trail (issue 25)").
//!
//! This crate reads no clock (times are passed in), draws no randomness (event ids are
//! passed in), holds no key (a [`DigestSigner`] signs), and does no I/O except that
//! [`export`] writes and [`verify_dir`] reads the one directory they are given.
//!
//! - [`Event`] (`event`): the CloudTrail record of one KMS call, serialized with CloudTrail's
//!   member names and order; [`Event::canonical_bytes`] are the bytes everything hashes.
//! - [`request_parameters`], [`response_elements`] (`parameters`): an allowlist per
//!   operation; no plaintext, ciphertext, signature, MAC, key material or credential.
//! - [`Batch`], [`verify_chain`] (`chain`, `walk`): batches hash-chained, events linked to
//!   their predecessors; the first bad place as a [`Finding`] (`finding`).
//! - [`DigestFile`], [`DigestSigner`] (`digest`): CloudTrail's digest file, signed
//!   `SHA256withRSA` over CloudTrail's data signing string.
//! - [`export`] (`export`) and [`verify_dir`] (`verify`): log files and digests in a
//!   directory, verified as `aws cloudtrail validate-logs` would, naming the first bad record.
//!
//! Not here (the integration's): emitting the event on the request path, batching through
//! Raft's group commit, storage, LookupEvents, retention, metrics, the HSM's signing key.

mod chain;
mod digest;
mod event;
mod export;
mod finding;
mod packed;
mod parameters;
mod unlinked;
mod verify;
mod walk;

pub use chain::{
    batch_hash_of_bytes, event_hash, verify_chain, verify_chain_to, Batch, BATCH_LABEL,
    EVENT_LABEL, GENESIS,
};
pub use digest::{
    fingerprint, sha256_hex, verify_signature, DigestFile, DigestSigner, LogFileEntry, SignError,
    HASH_ALGORITHM, SHA256_WITH_ECDSA, SHA256_WITH_RSA,
};
pub use event::{
    whole_seconds, AdditionalEventData, Call, ChainLink, Event, IdentityType, Resource, TlsDetails,
    UserIdentity, API_CALL, EVENT_VERSION, KMS_EVENT_SOURCE, KMS_KEY_TYPE, MANAGEMENT,
};
pub use export::{export, DigestTip, Trail};
pub use finding::{Finding, Subject, Tamper};
pub use packed::Packed;
pub use parameters::{cloudtrail_name, looks_secret, request_parameters, response_elements};
pub use unlinked::Unlinked;
pub use verify::{newest_tip, read_events, verify_dir, verify_dir_keys, verify_dir_to, Report};

use std::path::PathBuf;

/// What can go wrong writing an export (verification answers [`Finding`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("audit export: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(
        "unknown digest signature algorithm {0:?} (trent knows SHA256withRSA and SHA256withECDSA)"
    )]
    Algorithm(String),
    #[error("audit export refused: {0}")]
    NotContiguous(String),
}

/// A public key (DER SubjectPublicKeyInfo) as PEM, as `trent audit public-key` and
/// `trentd hsm init` publish the audit signing key for `trent audit verify --public-key`.
pub fn public_key_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // Every chain link carries one, on every node: no formatter per byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The bytes of lowercase (or uppercase) hex; `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// 64 hex digits as 32 bytes (a batch hash as [`DigestTip::to_json`] writes it).
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    unhex(s)?.try_into().ok()
}

#[cfg(test)]
mod hex_tests {
    #[test]
    fn hex_is_lowercase_and_reads_back() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = super::hex(&bytes);
        assert!(text.starts_with("000102") && text.ends_with("fdfeff"));
        assert_eq!(super::unhex(&text).unwrap(), bytes);
    }
}
