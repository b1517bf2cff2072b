//! Export: batches written as CloudTrail log files, and a signed digest over them, into one
//! flat directory.
//!
//! Guarantees:
//! - A log file is the gzip of `{"Records":[...]}`, each record exactly its event's canonical
//!   bytes (so the verifier recomputes the chain from the file), whole batches only, named
//!   `<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<unique>.json.gz` as CloudTrail names
//!   them, `<unique>` being the first batch's seq in 16 hex digits.
//! - One digest per call, over the log files of that call, named
//!   `<account>_CloudTrail-Digest_<region>_<trail>_<region>_<yyyymmddThhmmssZ>_<unique>.json.gz`
//!   (CloudTrail's name plus `_<unique>`, the first batch's seq: trent may export more than
//!   once a second), its hex signature beside it in `<name>.sig`.
//! - [`export`] refuses batches that do not continue the chain the previous digest ended
//!   (`previous`), so what it writes always verifies; the returned [`DigestTip`] is what the
//!   next call continues from (the integration keeps it in the replicated state).
//! - Times are the caller's; gzip headers carry no time, so the same input writes the same
//!   bytes. Each file is synced before `export` returns; the directory entry is the
//!   caller's to sync. Log files are written before their digest: an export that fails
//!   (the signer refuses) leaves log files no digest lists, which `verify_dir` reports until
//!   the same export is run again (same names, same bytes).
//!
//! Not matched: CloudTrail's `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`
//! prefixes (one flat directory is easier to hand to `trent audit verify`).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use flate2::{write::GzEncoder, Compression};
use time::{macros::format_description, OffsetDateTime};

use crate::chain::Batch;
use crate::digest::HASH_ALGORITHM;
use crate::digest::{fingerprint, sha256_hex, DigestFile, DigestSigner, LogFileEntry};
use crate::Error;

/// The trail an export belongs to: the names that go into file names and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub account: String,
    pub region: String,
    /// What `digestS3Bucket`/`s3Bucket` say (a label: there is no bucket).
    pub bucket: String,
    pub name: String,
}

/// Where the digest chain stands after a digest: what the next digest follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestTip {
    /// The digest's file name.
    pub object: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub hash: String,
    /// Its hex signature.
    pub signature: String,
    pub last_batch_seq: u64,
    pub last_batch_hash: [u8; 32],
}

impl DigestTip {
    /// The tip in the JSON form `TrentAdmin.ExportAuditTrail` takes as `PreviousDigest` and
    /// answers as `Digest`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Object": self.object,
            "HashValue": self.hash,
            "Signature": self.signature,
            "LastBatchSeq": self.last_batch_seq,
            "LastBatchHashValue": crate::hex(&self.last_batch_hash),
        })
    }
}

/// Writes one log file per element of `files` (each a run of consecutive batches) and a
/// digest over them, continuing `previous`. `start`/`end` are the digest's period.
pub fn export(
    dir: &Path,
    trail: &Trail,
    signer: &dyn DigestSigner,
    previous: Option<&DigestTip>,
    files: &[&[Batch]],
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Result<DigestTip, Error> {
    let batches: Vec<&Batch> = files.iter().flat_map(|f| f.iter()).collect();
    check_continues(previous, &batches)?;
    let mut entries = Vec::with_capacity(files.len());
    for file in files.iter().filter(|f| !f.is_empty()) {
        entries.push(write_log_file(dir, trail, file, end)?);
    }
    let (first, last) = (batches[0], batches[batches.len() - 1]);
    let digest = DigestFile {
        aws_account_id: trail.account.clone(),
        digest_start_time: start,
        digest_end_time: end,
        digest_s3_bucket: trail.bucket.clone(),
        digest_s3_object: digest_name(trail, end, first.seq),
        digest_public_key_fingerprint: fingerprint(&signer.public_key_der()),
        digest_signature_algorithm: signer.algorithm().to_owned(),
        newest_event_time: entries
            .iter()
            .map(|e| e.newest_event_time)
            .max()
            .expect("a file"),
        oldest_event_time: entries
            .iter()
            .map(|e| e.oldest_event_time)
            .min()
            .expect("a file"),
        previous_digest_s3_bucket: previous.map(|_| trail.bucket.clone()),
        previous_digest_s3_object: previous.map(|p| p.object.clone()),
        previous_digest_hash_value: previous.map(|p| p.hash.clone()),
        previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM.to_owned()),
        previous_digest_signature: previous.map(|p| p.signature.clone()),
        log_files: entries,
        first_batch_seq: first.seq,
        last_batch_seq: last.seq,
        last_batch_hash_value: last.hash(),
    };
    write_digest(dir, &digest, signer)
}

/// The batches must be whole, consecutive, and follow `previous` (or start the chain).
fn check_continues(previous: Option<&DigestTip>, batches: &[&Batch]) -> Result<(), Error> {
    let Some(first) = batches.first() else {
        return Err(Error::NotContiguous("no batches to export".into()));
    };
    let (mut seq, mut hash) = match previous {
        Some(p) => (p.last_batch_seq + 1, p.last_batch_hash),
        None if first.seq == 0 => (0, crate::GENESIS),
        None => (first.seq, first.prev),
    };
    for batch in batches {
        if batch.seq != seq || batch.prev != hash || batch.events.is_empty() {
            let why = format!(
                "batch {} does not follow batch {} (or is empty)",
                batch.seq, seq
            );
            return Err(Error::NotContiguous(why));
        }
        seq += 1;
        hash = batch.hash();
    }
    Ok(())
}

fn write_log_file(
    dir: &Path,
    trail: &Trail,
    batches: &[Batch],
    at: OffsetDateTime,
) -> Result<LogFileEntry, Error> {
    let events: Vec<_> = batches.iter().flat_map(|b| &b.events).collect();
    let mut json = b"{\"Records\":[".to_vec();
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(&event.canonical_bytes());
    }
    json.extend_from_slice(b"]}");
    let name = format!(
        "{}_CloudTrail_{}_{}_{:016x}.json.gz",
        trail.account,
        trail.region,
        stamp(at, false),
        batches[0].seq
    );
    write_gz(&dir.join(&name), &json)?;
    let times = events.iter().map(|e| e.event_time);
    Ok(LogFileEntry {
        s3_bucket: trail.bucket.clone(),
        s3_object: name,
        hash_value: sha256_hex(&json),
        hash_algorithm: HASH_ALGORITHM.to_owned(),
        newest_event_time: times.clone().max().expect("whole batches have events"),
        oldest_event_time: times.min().expect("whole batches have events"),
    })
}

fn write_digest(
    dir: &Path,
    digest: &DigestFile,
    signer: &dyn DigestSigner,
) -> Result<DigestTip, Error> {
    let bytes = digest.to_bytes();
    let signature = crate::hex(&signer.sign(digest.signing_string(&bytes).as_bytes())?);
    let name = &digest.digest_s3_object;
    write_gz(&dir.join(name), &bytes)?;
    write_file(&dir.join(format!("{name}.sig")), signature.as_bytes())?;
    Ok(DigestTip {
        object: name.clone(),
        hash: sha256_hex(&bytes),
        signature,
        last_batch_seq: digest.last_batch_seq,
        last_batch_hash: digest.last_batch_hash_value,
    })
}

fn digest_name(trail: &Trail, end: OffsetDateTime, first_seq: u64) -> String {
    format!(
        "{}_CloudTrail-Digest_{}_{}_{}_{}_{:016x}.json.gz",
        trail.account,
        trail.region,
        trail.name,
        trail.region,
        stamp(end, true),
        first_seq
    )
}

/// `20150817T1501Z` (log files) or `20150817T150131Z` (digests), UTC.
fn stamp(t: OffsetDateTime, seconds: bool) -> String {
    let t = crate::event::whole_seconds(t);
    let out = if seconds {
        t.format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
    } else {
        t.format(format_description!("[year][month][day]T[hour][minute]Z"))
    };
    out.expect("UTC times format")
}

/// Gzip of `bytes`, as this crate writes and reads it.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

fn write_gz(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_file(path, &gzip(bytes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::create(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}
