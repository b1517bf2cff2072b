//! Verification of an export directory, the way `aws cloudtrail validate-logs` validates a
//! trail, and then the event chain inside the files.
//!
//! Order (the first failure is the answer):
//! 1. Every digest (`*_CloudTrail-Digest_*.json.gz`): readable, in the place it names
//!    (`digestS3Object` is its file name), signed by the given key (fingerprint and
//!    signature over CloudTrail's data signing string). Else **Edited** digest.
//! 2. The digest chain, oldest first (by `firstBatchSeq`): each names the one before it,
//!    its hash and its signature, and starts at the batch after it. A named digest that is
//!    not in the directory is **Deleted** (named); any other disagreement **ChainBroken**.
//!    The oldest digest must start the chain (no previous); else its previous is **Deleted**.
//! 3. For each digest, each log file it lists, in order: present (else **Deleted** log
//!    file); its records walked through the chain (`walk.rs`: the first bad record, by file,
//!    record index and eventID); at the digest's end, the chain must stand at the digest's
//!    last batch and hash; then each file's hash (else **Edited** log file: a change the
//!    chain cannot see, such as whitespace). The hashes come last so that an edited record
//!    is named by the record or digest that vouches for it, not only by its file.
//! 4. With a trusted tip ([`verify_dir_to`]): the digest it names must be there, unchanged.
//! 5. A log file no digest lists: the digest that covered it is **Deleted**.
//!
//! The end of the trail is vouched for only by a tip kept outside the directory: removing
//! the newest exports whole leaves a shorter trail that [`verify_dir`] accepts.
//!
//! Every file must be exactly one gzip member: bytes after it (a second member that `zcat`
//! would print) make a log file or digest **Edited**.
//!
//! A reorder is recognised within one file (the walker looks ahead in the file); one across
//! files reads as a deletion. The whole of one file is in memory at a time.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use flate2::bufread::GzDecoder;
use serde_json::Value;
use time::OffsetDateTime;

use crate::digest::{fingerprint, sha256_hex, verify_signature, DigestFile, LogFileEntry};
use crate::export::DigestTip;
use crate::finding::{Finding, Subject, Tamper};
use crate::walk::{At, Record, Walker};

/// What a directory that verified holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub digests: usize,
    pub log_files: usize,
    pub events: usize,
    pub first_batch_seq: u64,
    pub last_batch_seq: u64,
    pub last_batch_hash: [u8; 32],
    pub oldest_event_time: OffsetDateTime,
    pub newest_event_time: OffsetDateTime,
}

/// A digest read, checked, with what the next one must name.
struct Loaded {
    name: String,
    digest: DigestFile,
    hash: String,
    signature: String,
}

/// Verifies the export in `dir` against the digest signing key `public_key_der`.
///
/// Nothing in a directory vouches for its end: with the newest exports removed whole (digest,
/// signature and log files) it verifies as a shorter trail. [`verify_dir_to`] checks the end
/// against a tip kept elsewhere; without one, compare [`Report::last_batch_seq`] with it.
pub fn verify_dir(dir: &Path, public_key_der: &[u8]) -> Result<Report, Finding> {
    verify(dir, &[public_key_der], None)
}

/// [`verify_dir`] where digests may be signed by any of `public_keys`, each digest by the one
/// its `digestPublicKeyFingerprint` names: a trail that spans a change of the cluster's
/// domain key (its audit key changes with it), as CloudTrail's trails span key rotations.
pub fn verify_dir_keys(dir: &Path, public_keys: &[Vec<u8>]) -> Result<Report, Finding> {
    let keys: Vec<&[u8]> = public_keys.iter().map(Vec::as_slice).collect();
    verify(dir, &keys, None)
}

/// [`verify_dir`], and the directory must hold the digest `trusted` names, exactly (the tip
/// the cluster keeps, or one an auditor noted earlier): else that digest is **Deleted**
/// (the newest exports were removed) or **Edited**. Digests after it are verified as usual.
pub fn verify_dir_to(
    dir: &Path,
    public_key_der: &[u8],
    trusted: &DigestTip,
) -> Result<Report, Finding> {
    verify(dir, &[public_key_der], Some(trusted))
}

fn verify(
    dir: &Path,
    public_keys: &[&[u8]],
    trusted: Option<&DigestTip>,
) -> Result<Report, Finding> {
    let names = list(dir)?;
    let mut digests = Vec::new();
    for name in names.iter().filter(|n| is_digest(n)) {
        digests.push(load_digest(dir, name, public_keys)?);
    }
    digests.sort_by_key(|d| d.digest.first_batch_seq);
    check_digest_chain(&digests)?;
    let (Some(first), Some(last)) = (digests.first(), digests.last()) else {
        let detail = "the directory holds no digest".into();
        return Err(Finding::file(
            Tamper::Deleted,
            Subject::Digest,
            None,
            detail,
        ));
    };
    let first_seq = first.digest.first_batch_seq;
    let mut walker = Walker::new(first_seq, (first_seq == 0).then_some(crate::GENESIS));
    let mut covered = BTreeSet::new();
    for d in &digests {
        let mut end = At::default();
        let mut first_bad_hash = None;
        for entry in &d.digest.log_files {
            let (at, hash_ok) = walk_log_file(dir, entry, &mut walker)?;
            end = at;
            if !hash_ok && first_bad_hash.is_none() {
                first_bad_hash = Some(entry.s3_object.as_str());
            }
            covered.insert(entry.s3_object.clone());
        }
        // The file hashes after the range's end: a file's last record is vouched for by the
        // next file's first, or by the digest's last batch hash, which name the record.
        walker.checkpoint(
            d.digest.last_batch_seq,
            &d.digest.last_batch_hash_value,
            &end,
        )?;
        if let Some(name) = first_bad_hash {
            let detail = "its hash is not the one its digest signed for".into();
            return Err(Finding::file(
                Tamper::Edited,
                Subject::LogFile,
                Some(name),
                detail,
            ));
        }
    }
    if let Some(tip) = trusted {
        check_holds(&digests, tip)?;
    }
    if let Some(stray) = names
        .iter()
        .find(|n| is_log_file(n) && !covered.contains(*n))
    {
        let detail =
            format!("no digest lists log file {stray}: the digest that covered it is missing");
        return Err(Finding::file(
            Tamper::Deleted,
            Subject::Digest,
            None,
            detail,
        ));
    }
    let (_, events) = walker.finish(At::default())?;
    Ok(Report {
        digests: digests.len(),
        log_files: covered.len(),
        events,
        first_batch_seq: first_seq,
        last_batch_seq: last.digest.last_batch_seq,
        last_batch_hash: last.digest.last_batch_hash_value,
        oldest_event_time: digests
            .iter()
            .map(|d| d.digest.oldest_event_time)
            .min()
            .expect("one"),
        newest_event_time: digests
            .iter()
            .map(|d| d.digest.newest_event_time)
            .max()
            .expect("one"),
    })
}

fn is_digest(name: &str) -> bool {
    name.contains("_CloudTrail-Digest_") && name.ends_with(".json.gz")
}

fn is_log_file(name: &str) -> bool {
    name.contains("_CloudTrail_") && name.ends_with(".json.gz")
}

/// The directory's file names, sorted.
fn list(dir: &Path) -> Result<Vec<String>, Finding> {
    let unreadable = |e: std::io::Error| {
        let detail = format!("cannot list {}: {e}", dir.display());
        Finding::file(Tamper::Unreadable, Subject::LogFile, None, detail)
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        names.push(
            entry
                .map_err(unreadable)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    Ok(names)
}

fn load_digest(dir: &Path, name: &str, public_keys: &[&[u8]]) -> Result<Loaded, Finding> {
    let edited =
        |detail: String| Finding::file(Tamper::Edited, Subject::Digest, Some(name), detail);
    let bytes = read_gz(dir, name).map_err(edited)?;
    let digest: DigestFile =
        serde_json::from_slice(&bytes).map_err(|e| edited(format!("not a digest file: {e}")))?;
    let signature = std::fs::read_to_string(dir.join(format!("{name}.sig")))
        .map_err(|e| edited(format!("its signature cannot be read: {e}")))?;
    let signature = signature.trim().to_owned();
    if digest.digest_s3_object != name {
        return Err(edited(format!("it says it is {}", digest.digest_s3_object)));
    }
    let named = &digest.digest_public_key_fingerprint;
    let Some(public_key_der) = public_keys.iter().find(|k| fingerprint(k) == *named) else {
        return Err(edited("it names another signing key".into()));
    };
    let message = digest.signing_string(&bytes);
    let raw = crate::unhex(&signature).ok_or_else(|| edited("its signature is not hex".into()))?;
    let algorithm = &digest.digest_signature_algorithm;
    match verify_signature(public_key_der, algorithm, message.as_bytes(), &raw) {
        Ok(true) => {}
        Ok(false) => return Err(edited("its signature does not verify".into())),
        Err(e) => return Err(edited(e.to_string())),
    }
    Ok(Loaded {
        name: name.to_owned(),
        digest,
        hash: sha256_hex(&bytes),
        signature,
    })
}

fn check_digest_chain(digests: &[Loaded]) -> Result<(), Finding> {
    let mut before: Option<&Loaded> = None;
    for d in digests {
        let named = d.digest.previous_digest_s3_object.as_deref();
        let present = |n: &str| digests.iter().any(|x| x.name == n);
        if let Some(missing) = named.filter(|n| !present(n)) {
            let detail = format!("{} follows it, and it is not in the directory", d.name);
            return Err(Finding::file(
                Tamper::Deleted,
                Subject::Digest,
                Some(missing),
                detail,
            ));
        }
        let follows = match before {
            None => named.is_none(),
            Some(b) => {
                named == Some(b.name.as_str())
                    && d.digest.previous_digest_hash_value.as_deref() == Some(b.hash.as_str())
                    && d.digest.previous_digest_signature.as_deref() == Some(b.signature.as_str())
                    && b.digest.last_batch_seq.checked_add(1) == Some(d.digest.first_batch_seq)
            }
        };
        if !follows {
            let detail = "it does not follow the digest before it".into();
            return Err(Finding::file(
                Tamper::ChainBroken,
                Subject::Digest,
                Some(&d.name),
                detail,
            ));
        }
        before = Some(d);
    }
    Ok(())
}

/// The digest `tip` names is in the directory, and is the one it names.
fn check_holds(digests: &[Loaded], tip: &DigestTip) -> Result<(), Finding> {
    let finding = |what, detail: &str| {
        let detail = format!("the trusted tip names it: {detail}");
        Err(Finding::file(
            what,
            Subject::Digest,
            Some(&tip.object),
            detail,
        ))
    };
    let Some(d) = digests.iter().find(|d| d.name == tip.object) else {
        return finding(Tamper::Deleted, "it is not in the directory");
    };
    let same = d.hash == tip.hash
        && d.signature == tip.signature
        && d.digest.last_batch_seq == tip.last_batch_seq
        && d.digest.last_batch_hash_value == tip.last_batch_hash;
    if !same {
        return finding(Tamper::Edited, "the directory's is another digest");
    }
    Ok(())
}

/// Walks one log file; answers the place just past its last record, and whether the file's
/// hash is its digest's.
fn walk_log_file(
    dir: &Path,
    entry: &LogFileEntry,
    walker: &mut Walker,
) -> Result<(At, bool), Finding> {
    let name = entry.s3_object.as_str();
    let file_finding = |what, detail| Finding::file(what, Subject::LogFile, Some(name), detail);
    if name.contains('/') || name.contains("..") || !dir.join(name).is_file() {
        return Err(file_finding(
            Tamper::Deleted,
            "a digest lists it; it is not there".into(),
        ));
    }
    let bytes = read_gz(dir, name).map_err(|d| file_finding(Tamper::Edited, d))?;
    let records = parse_records(name, &bytes).map_err(|d| file_finding(Tamper::Edited, d))?;
    for (i, record) in records.iter().enumerate() {
        walker.step(record, &records[i + 1..])?;
    }
    let end = At {
        file: Some(name.to_owned()),
        record: Some(records.len()),
        ..At::default()
    };
    Ok((end, sha256_hex(&bytes) == entry.hash_value))
}

fn parse_records(name: &str, bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a CloudTrail log file: {e}"))?;
    let Some(Value::Array(records)) = doc.get_mut("Records").map(Value::take) else {
        return Err("it has no Records".into());
    };
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let event_id = raw
                .get("eventID")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let at = At {
                file: Some(name.to_owned()),
                record: Some(i),
                event_id,
                ..At::default()
            };
            let event = serde_json::from_value(raw).map_err(|e| format!("not an event: {e}"));
            Record { event, at }
        })
        .collect())
}

/// The uncompressed bytes of a file that must be exactly one gzip member. Anything after the
/// first member is refused: the hashes cover only what is decompressed here, and `gunzip`
/// or `zcat` would print a second member's records after the first's.
fn read_gz(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(dir.join(name)).map_err(|e| format!("cannot read it: {e}"))?;
    let mut rest = raw.as_slice();
    let mut out = Vec::new();
    GzDecoder::new(&mut rest)
        .read_to_end(&mut out)
        .map_err(|e| format!("not gzip: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow its gzip stream", rest.len()));
    }
    Ok(out)
}

/// Where the digest chain of an exported directory ends: the newest digest (the one covering
/// the highest batch), for the next export to continue. `None` for a directory without
/// digests. It reads, it does not verify: run [`verify_dir`] first to trust it.
pub fn newest_tip(dir: &Path) -> Result<Option<DigestTip>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut newest: Option<DigestTip> = None;
    for entry in entries {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let Some(name) = name.to_str().filter(|n| is_digest(n)) else {
            continue;
        };
        let bytes = read_gz(dir, name).map_err(|e| format!("{name}: {e}"))?;
        let digest: DigestFile =
            serde_json::from_slice(&bytes).map_err(|e| format!("{name}: not a digest: {e}"))?;
        let signature = std::fs::read_to_string(dir.join(format!("{name}.sig")))
            .map_err(|e| format!("{name}.sig: {e}"))?;
        if newest
            .as_ref()
            .is_some_and(|n| n.last_batch_seq >= digest.last_batch_seq)
        {
            continue;
        }
        newest = Some(DigestTip {
            object: name.to_owned(),
            hash: sha256_hex(&bytes),
            signature: signature.trim().to_owned(),
            last_batch_seq: digest.last_batch_seq,
            last_batch_hash: digest.last_batch_hash_value,
        });
    }
    Ok(newest)
}

/// Every event of the log files in `dir`, in file name order (which is batch order: names
/// end with the first batch's seq). It reads, it does not verify: run [`verify_dir`] first.
pub fn read_events(dir: &Path) -> Result<Vec<crate::Event>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_log_file(name))
        .collect();
    names.sort_by_key(|name| name.rsplit('_').next().map(str::to_owned));
    let mut events = Vec::new();
    for name in names {
        let bytes = read_gz(dir, &name).map_err(|e| format!("{name}: {e}"))?;
        for record in parse_records(&name, &bytes)? {
            events.push(record.event.map_err(|e| format!("{name}: {e}"))?);
        }
    }
    Ok(events)
}
