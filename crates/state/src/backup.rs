//! The backup blob: a point-in-time copy of the replicated state's records, self-describing,
//! versioned, sealed and checksummed. Pure encoding and parsing; the service adds the seal
//! (an HMAC under the domain key, made by the HSM), and both the service and `apply` (the
//! restore commit, through [`crate::SealCheck`]) check it.
//!
//! ```text
//! "TRENTBAK" | format u16 BE (2) | header length u32 BE | header (JSON, BackupHeader)
//!   | (owner length u32 BE | owner account | key length u32 BE | key
//!      | value length u32 BE | value) * header.Records
//!   | seal (32 bytes) | CRC-32 u32 BE of everything before it
//! ```
//!
//! Each record is labelled with the account that owns it, inside what the seal covers, and a
//! restore checks the label against the record (`record::owner_of`): a record moved to
//! another account's part of a backup is refused even by a holder of the sealing key. Format
//! 1 (the same without owner labels, sealed for purpose `trent/backup/v1`) is still read.
//!
//! Guarantees: [`parse`] never panics and reads nothing outside the blob; it refuses a blob
//! that is truncated, damaged (checksum), of another format, or whose record count or framing
//! disagrees with its header, each with a message saying which. Records are the same bytes as
//! the state's storage records, so key material and secrets are in it only wrapped under the
//! domain key. The JSON header can be read with `head -c` and carries no secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use trent_model::Millis;

/// First bytes of every backup.
pub const MAGIC: &[u8; 8] = b"TRENTBAK";
/// The format this build writes.
pub const FORMAT: u16 = 2;
/// The format before owner labels, still read.
pub const FORMAT_1: u16 = 1;
/// Length of the seal (an HMAC-SHA256 the HSM makes) near the end of the blob.
pub const SEAL_LEN: usize = 32;
/// The purpose the seal's key is bound to (format 2).
pub const SEAL_PURPOSE: &[u8] = b"trent/backup/v2";
/// The purpose of a format-1 backup's seal.
pub const SEAL_PURPOSE_1: &[u8] = b"trent/backup/v1";

const PREFIX_LEN: usize = MAGIC.len() + 2 + 4;
const TRAILER_LEN: usize = SEAL_LEN + 4;
/// A header is a few hundred bytes; anything larger is damage, not a header.
const MAX_HEADER_LEN: usize = 64 * 1024;

/// One stored record (key and value bytes) and the account that owns it (empty in a format-1
/// backup, which has no labels).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub owner: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// What a backup says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupHeader {
    /// The cluster the backup was taken from.
    pub cluster: String,
    /// The exporting leader's wall-clock time, milliseconds since the Unix epoch.
    pub created: Millis,
    /// The same time in RFC 3339 (UTC), for people. Added after format 2 was first
    /// written: absent from older backups, ignored by older builds (the header is read
    /// without refusing unknown fields), and `created` stays the authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The Raft term when the backup was taken.
    pub term: u64,
    /// The backup holds every log entry up to this index (at least).
    pub last_applied_index: Option<u64>,
    /// Hex of the domain key's fingerprint (never the key): a restore needs the same key.
    pub domain_key_fingerprint: String,
    pub records: u64,
    pub keys: u64,
    pub aliases: u64,
    pub users: u64,
    pub access_keys: u64,
    /// Written by builds with users' inline policies: the backup holds them. A backup
    /// without it (from an older build) gives its users the migration policy when it is
    /// restored into a cluster in the user policies era (`user_policies.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user_policies: bool,
}

/// `millis` since the Unix epoch in RFC 3339, UTC, to the millisecond
/// (`2024-05-01T12:00:00.123Z`). Pure arithmetic (civil-from-days, H. Hinnant), so this
/// crate keeps no calendar dependency.
pub fn rfc3339(millis: Millis) -> String {
    let (days, ms_of_day) = ((millis / 86_400_000) as i64, millis % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, sec, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}.{ms:03}Z")
}

/// Bytes of a backup (or part of one) whose `Debug` shows only their length: they hold
/// wrapped material and secrets, which have no business in logs.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackupBytes(pub Vec<u8>);

impl fmt::Debug for BackupBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Why a blob is not a usable backup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("not a trent backup (it does not start with {MAGIC:?})")]
    NotABackup,
    #[error(
        "backup format {0} is not supported (this build reads formats {FORMAT_1} and {FORMAT})"
    )]
    Format(u16),
    #[error("the backup is truncated: {0}")]
    Truncated(&'static str),
    #[error("the backup is damaged: its checksum does not match (a changed or truncated file)")]
    Checksum,
    #[error("the backup's header is unreadable: {0}")]
    Header(String),
    #[error("the backup's records are malformed: {0}")]
    Records(String),
}

/// A parsed backup: its header, its records, and what its seal covers.
pub struct ParsedBackup<'a> {
    pub format: u16,
    pub header: BackupHeader,
    pub records: Vec<Record>,
    /// The bytes the seal authenticates (everything before it).
    pub sealed: &'a [u8],
    pub seal: &'a [u8],
}

impl ParsedBackup<'_> {
    /// The purpose this backup's seal was made for.
    pub fn seal_purpose(&self) -> &'static [u8] {
        match self.format {
            FORMAT_1 => SEAL_PURPOSE_1,
            _ => SEAL_PURPOSE,
        }
    }
}

/// Everything but the seal and checksum: what the HSM seals.
pub fn encode_body(header: &BackupHeader, records: &[Record]) -> Vec<u8> {
    let header = serde_json::to_vec(header).expect("a header always serializes");
    let size: usize = records
        .iter()
        .map(|r| 12 + r.owner.len() + r.key.len() + r.value.len())
        .sum();
    let mut out = Vec::with_capacity(PREFIX_LEN + header.len() + size + TRAILER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    for record in records {
        for field in [record.owner.as_bytes(), &record.key, &record.value] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    out
}

/// The finished blob: `body`, its seal, and the checksum of both.
pub fn finish(mut body: Vec<u8>, seal: &[u8; SEAL_LEN]) -> Vec<u8> {
    body.extend_from_slice(seal);
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

/// The header alone, from the first bytes of a blob (to refuse a backup early, before all of
/// it is uploaded). `Ok(None)` if `prefix` is too short to hold the whole header.
pub fn peek_header(prefix: &[u8]) -> Result<Option<BackupHeader>, BackupError> {
    if prefix.len() < PREFIX_LEN {
        return Ok(None);
    }
    let (_, header_len) = check_prefix(prefix)?;
    let Some(json) = prefix.get(PREFIX_LEN..PREFIX_LEN + header_len) else {
        return Ok(None);
    };
    decode_header(json).map(Some)
}

/// Parses and checks a whole blob (format, checksum, header, record framing); the seal is
/// the caller's to verify.
pub fn parse(blob: &[u8]) -> Result<ParsedBackup<'_>, BackupError> {
    if blob.len() < MAGIC.len() || &blob[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    if blob.len() < PREFIX_LEN {
        return Err(BackupError::Truncated("it ends inside its first bytes"));
    }
    let (format, header_len) = check_prefix(blob)?;
    if blob.len() < PREFIX_LEN + TRAILER_LEN {
        return Err(BackupError::Truncated("shorter than the smallest backup"));
    }
    let (checked, crc) = blob.split_at(blob.len() - 4);
    if crc32fast::hash(checked).to_be_bytes() != crc {
        return Err(BackupError::Checksum);
    }
    let (sealed, seal) = checked.split_at(checked.len() - SEAL_LEN);
    let mut rest = sealed
        .get(PREFIX_LEN..)
        .ok_or(BackupError::Truncated("no header"))?;
    let json = take(&mut rest, header_len).ok_or(BackupError::Truncated("header"))?;
    let header = decode_header(json)?;
    let records = decode_records(rest, header.records, format == FORMAT)?;
    Ok(ParsedBackup {
        format,
        header,
        records,
        sealed,
        seal,
    })
}

/// Checks magic and format; answers the format and the header's length.
fn check_prefix(blob: &[u8]) -> Result<(u16, usize), BackupError> {
    if &blob[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = u16::from_be_bytes([blob[8], blob[9]]);
    if format != FORMAT && format != FORMAT_1 {
        return Err(BackupError::Format(format));
    }
    let len = u32::from_be_bytes([blob[10], blob[11], blob[12], blob[13]]) as usize;
    if len > MAX_HEADER_LEN {
        return Err(BackupError::Header(format!(
            "{len} bytes long (at most {MAX_HEADER_LEN})"
        )));
    }
    Ok((format, len))
}

fn decode_header(json: &[u8]) -> Result<BackupHeader, BackupError> {
    serde_json::from_slice(json).map_err(|e| BackupError::Header(e.to_string()))
}

fn decode_records(mut rest: &[u8], count: u64, labelled: bool) -> Result<Vec<Record>, BackupError> {
    let malformed = |i: u64, what: &str| BackupError::Records(format!("record {i}: {what}"));
    // Every record takes at least 8 bytes, which bounds the allocation by the blob's size.
    let mut records = Vec::with_capacity(count.min(rest.len() as u64 / 8) as usize);
    for i in 0..count {
        let owner = match labelled {
            true => {
                take_framed(&mut rest).ok_or_else(|| malformed(i, "owner runs past the end"))?
            }
            false => &[],
        };
        let owner = std::str::from_utf8(owner)
            .map_err(|_| malformed(i, "the owner is not text"))?
            .to_owned();
        let key = take_framed(&mut rest).ok_or_else(|| malformed(i, "key runs past the end"))?;
        let value =
            take_framed(&mut rest).ok_or_else(|| malformed(i, "value runs past the end"))?;
        records.push(Record {
            owner,
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }
    if !rest.is_empty() {
        return Err(BackupError::Records(format!(
            "{} bytes after the {count} records the header announces",
            rest.len()
        )));
    }
    Ok(records)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_framed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take(rest, 4)?;
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    take(rest, len)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn headers_with_and_without_the_rfc3339_time_both_read() {
        let old = r#"{"Cluster":"c","Created":5,"Term":1,"LastAppliedIndex":null,"DomainKeyFingerprint":"00","Records":0,"Keys":0,"Aliases":0,"Users":0,"AccessKeys":0}"#;
        let header: BackupHeader = serde_json::from_str(old).unwrap();
        assert_eq!((header.created, header.created_at), (5, None));
        let new = BackupHeader {
            created_at: Some(rfc3339(5)),
            ..header
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(
            text.contains(r#""CreatedAt":"1970-01-01T00:00:00.005Z""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<BackupHeader>(&text).unwrap(), new);
    }
}
