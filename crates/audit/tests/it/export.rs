//! Export to a directory and verify it; each tampering done to a real export, each finding
//! exact.

use std::io::{Read, Write};
use std::path::Path;

use crate::common::*;
use serde_json::Value;
use trent_audit::{
    export, verify_dir, verify_dir_keys, verify_dir_to, verify_signature, Batch, DigestFile,
    DigestSigner, DigestTip, Event, Finding, Subject, Tamper, GENESIS,
};

/// Batches 0..=5 holding events 0..17: digest 1 over files [0,1] and [2], digest 2 over [3]
/// and [4], digest 3 over [5].
struct Export {
    dir: tempfile::TempDir,
    batches: Vec<Batch>,
    tips: Vec<DigestTip>,
}

fn export_with(signer: &dyn DigestSigner) -> Export {
    export_signed_by(&[signer, signer, signer])
}

/// The export, digest `i` signed by `signers[i]`.
fn export_signed_by(signers: &[&dyn DigestSigner; 3]) -> Export {
    let dir = tempfile::tempdir().unwrap();
    let b = batches(0, GENESIS, 0, &[3, 2, 4, 3, 2, 3]);
    let hour = time::Duration::hours(1);
    let plan: [&[&[Batch]]; 3] = [&[&b[0..2], &b[2..3]], &[&b[3..4], &b[4..5]], &[&b[5..6]]];
    let mut tips: Vec<DigestTip> = Vec::new();
    for (i, files) in plan.iter().enumerate() {
        let (start, end) = (t0() + hour * i as i32, t0() + hour * (i as i32 + 1));
        let signer = signers[i];
        let tip = export(dir.path(), &trail(), signer, tips.last(), files, start, end).unwrap();
        tips.push(tip);
    }
    Export {
        dir,
        batches: b,
        tips,
    }
}

fn exported() -> Export {
    export_with(&*rsa_signer())
}

fn key() -> Vec<u8> {
    rsa_signer().public_key_der()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip_to(path: &Path, bytes: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

fn digest(e: &Export, i: usize) -> DigestFile {
    serde_json::from_slice(&gunzip(&e.dir.path().join(&e.tips[i].object))).unwrap()
}

/// The name of log file `n` (0..5) in export order.
fn log_file(e: &Export, n: usize) -> String {
    let names: Vec<String> = (0..3)
        .flat_map(|i| digest(e, i).log_files)
        .map(|f| f.s3_object)
        .collect();
    names[n].clone()
}

fn records(e: &Export, name: &str) -> Vec<Event> {
    let doc: Value = serde_json::from_slice(&gunzip(&e.dir.path().join(name))).unwrap();
    serde_json::from_value(doc["Records"].clone()).unwrap()
}

/// Writes `events` back as the log file `name`, each record in its canonical form.
fn rewrite(e: &Export, name: &str, events: &[Event]) {
    let records: Vec<String> = events
        .iter()
        .map(|ev| String::from_utf8(ev.canonical_bytes()).unwrap())
        .collect();
    let json = format!("{{\"Records\":[{}]}}", records.join(","));
    gzip_to(&e.dir.path().join(name), json.as_bytes());
}

fn id(n: u64) -> Option<String> {
    Some(encrypt_event(n).event_id)
}

fn found(e: &Export) -> Finding {
    verify_dir(e.dir.path(), &key()).unwrap_err()
}

fn at(
    f: &Finding,
) -> (
    Tamper,
    Subject,
    Option<String>,
    Option<usize>,
    Option<String>,
) {
    (
        f.what,
        f.subject,
        f.file.clone(),
        f.record,
        f.event_id.clone(),
    )
}

#[test]
fn an_export_verifies() {
    let e = exported();
    let r = verify_dir(e.dir.path(), &key()).unwrap();
    assert_eq!((r.digests, r.log_files, r.events), (3, 5, 17));
    assert_eq!((r.first_batch_seq, r.last_batch_seq), (0, 5));
    assert_eq!(r.last_batch_hash, e.batches[5].hash());
    assert_eq!(r.oldest_event_time, t0());
    assert_eq!(r.newest_event_time, t0() + time::Duration::seconds(16));
}

#[test]
fn an_export_signed_with_ecdsa_verifies() {
    let signer = EcSigner::new();
    let e = export_with(&signer);
    verify_dir(e.dir.path(), &signer.public_key_der()).unwrap();
    assert_eq!(digest(&e, 0).digest_signature_algorithm, "SHA256withECDSA");
}

/// A trail across a change of the cluster's domain key (issue 26's migration): digests
/// before it signed by the old audit key, after it by the new; both keys verify it, each
/// digest under the key its fingerprint names, and neither key alone does.
#[test]
fn an_export_across_a_key_change_verifies_under_both_keys() {
    let (old, new) = (rsa_signer(), EcSigner::new());
    let e = export_signed_by(&[&*old, &new, &new]);
    let keys = [old.public_key_der(), new.public_key_der()];
    let r = verify_dir_keys(e.dir.path(), &keys).unwrap();
    assert_eq!((r.digests, r.events), (3, 17));
    for alone in &keys {
        let f = verify_dir(e.dir.path(), alone).unwrap_err();
        assert_eq!(
            (f.what, f.subject),
            (Tamper::Edited, Subject::Digest),
            "{f}"
        );
    }
}

/// Names and contents in CloudTrail's formats.
#[test]
fn the_files_are_cloudtrail_log_and_digest_files() {
    let e = exported();
    let first = log_file(&e, 0);
    assert_eq!(
        first,
        "111122223333_CloudTrail_us-west-2_20250520T2146Z_0000000000000000.json.gz"
    );
    assert_eq!(
        e.tips[0].object,
        "111122223333_CloudTrail-Digest_us-west-2_trent_us-west-2_20250520T214616Z_0000000000000000.json.gz"
    );
    let log = gunzip(&e.dir.path().join(&first));
    assert!(log.starts_with(br#"{"Records":[{"eventVersion":"1.11","#));
    assert_eq!(records(&e, &first).len(), 5);

    let text = String::from_utf8(gunzip(&e.dir.path().join(&e.tips[0].object))).unwrap();
    let order = [
        "awsAccountId",
        "digestStartTime",
        "digestEndTime",
        "digestS3Bucket",
        "digestS3Object",
        "digestPublicKeyFingerprint",
        "digestSignatureAlgorithm",
        "newestEventTime",
        "oldestEventTime",
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
        "logFiles",
        "firstBatchSeq",
        "lastBatchSeq",
        "lastBatchHashValue",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|m| text.find(&format!("\"{m}\":")).expect(m))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains(r#""previousDigestS3Object":null,"previousDigestHashValue":null"#));
    assert!(text.contains(r#""digestSignatureAlgorithm":"SHA256withRSA""#));
    assert!(text.contains(&format!(
        r#""hashValue":"{}","hashAlgorithm":"SHA-256""#,
        trent_audit::sha256_hex(&log)
    )));

    let second = digest(&e, 1);
    assert_eq!(
        second.previous_digest_s3_object.as_deref(),
        Some(e.tips[0].object.as_str())
    );
    assert_eq!(
        second.previous_digest_signature.as_deref(),
        Some(e.tips[0].signature.as_str())
    );
    let sig = std::fs::read_to_string(e.dir.path().join(format!("{}.sig", e.tips[1].object)));
    assert_eq!(sig.unwrap(), e.tips[1].signature);
}

/// CloudTrail's data signing string, checked by hand: end time, bucket/object, the digest's
/// hash, the previous signature.
#[test]
fn the_signature_covers_cloudtrails_data_signing_string() {
    let e = exported();
    let bytes = gunzip(&e.dir.path().join(&e.tips[1].object));
    let d: DigestFile = serde_json::from_slice(&bytes).unwrap();
    let string = format!(
        "2025-05-20T22:46:16Z\ntrent-audit/{}\n{}\n{}",
        e.tips[1].object,
        trent_audit::sha256_hex(&bytes),
        e.tips[0].signature
    );
    assert_eq!(d.signing_string(&bytes), string);
    let sig: Vec<u8> = (0..e.tips[1].signature.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&e.tips[1].signature[i..i + 2], 16).unwrap())
        .collect();
    assert!(verify_signature(&key(), "SHA256withRSA", string.as_bytes(), &sig).unwrap());
    assert!(!verify_signature(&key(), "SHA256withRSA", b"other", &sig).unwrap());
    assert!(verify_signature(&key(), "MD5withRSA", b"x", &sig).is_err());
}

#[test]
fn a_deleted_event_is_named() {
    let e = exported();
    let name = log_file(&e, 0);
    let mut events = records(&e, &name);
    events.remove(1); // event 1
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::Event, Some(name), Some(1), id(2)),
        "{f}"
    );
}

#[test]
fn two_reordered_events_are_named() {
    let e = exported();
    let name = log_file(&e, 0);
    let mut events = records(&e, &name);
    events.swap(3, 4); // events 3 and 4
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (
            Tamper::Reordered,
            Subject::Event,
            Some(name),
            Some(3),
            id(4)
        ),
        "{f}"
    );
}

#[test]
fn an_edited_event_is_named() {
    let e = exported();
    let name = log_file(&e, 1);
    let mut events = records(&e, &name);
    events[1].source_ip_address = "203.0.113.66".into(); // event 6
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Event, Some(name), Some(1), id(6)),
        "{f}"
    );
}

/// The last record a digest covers has no successor in its range: the digest's last batch
/// hash vouches for it.
#[test]
fn an_edited_last_event_of_a_digest_is_named() {
    let e = exported();
    let name = log_file(&e, 4);
    let mut events = records(&e, &name);
    events[2].error_code = Some("AccessDeniedException".into()); // event 16
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Event, Some(name), Some(2), id(16)),
        "{f}"
    );
}

#[test]
fn a_copied_event_is_inserted() {
    let e = exported();
    let name = log_file(&e, 2);
    let mut events = records(&e, &name);
    let copy = events[0].clone(); // event 9 twice
    events.insert(1, copy);
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Inserted, Subject::Event, Some(name), Some(1), id(9)),
        "{f}"
    );
}

/// A change the chain cannot see (the records reformatted) still fails the file's hash.
#[test]
fn a_reformatted_log_file_fails_its_hash() {
    let e = exported();
    let name = log_file(&e, 3);
    let text = String::from_utf8(gunzip(&e.dir.path().join(&name))).unwrap();
    gzip_to(
        &e.dir.path().join(&name),
        text.replace("\",\"", "\", \"").as_bytes(),
    );
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::LogFile, Some(name), None, None),
        "{f}"
    );
}

#[test]
fn a_deleted_log_file_is_named() {
    let e = exported();
    let name = log_file(&e, 1);
    std::fs::remove_file(e.dir.path().join(&name)).unwrap();
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::LogFile, Some(name), None, None),
        "{f}"
    );
}

#[test]
fn a_deleted_digest_is_named_by_the_next() {
    let e = exported();
    std::fs::remove_file(e.dir.path().join(&e.tips[1].object)).unwrap();
    let f = found(&e);
    let name = e.tips[1].object.clone();
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

#[test]
fn a_deleted_first_digest_is_named_by_the_second() {
    let e = exported();
    std::fs::remove_file(e.dir.path().join(&e.tips[0].object)).unwrap();
    let f = found(&e);
    let name = e.tips[0].object.clone();
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

/// Nothing names the newest digest: the log files it listed are left uncovered.
#[test]
fn a_deleted_newest_digest_leaves_its_log_files_uncovered() {
    let e = exported();
    std::fs::remove_file(e.dir.path().join(&e.tips[2].object)).unwrap();
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::Digest, None, None, None),
        "{f}"
    );
    assert!(f.detail.contains(&log_file_of_last(&e)), "{f}");
}

fn log_file_of_last(e: &Export) -> String {
    let names: Vec<String> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("_CloudTrail_") && n.ends_with("0000000000000005.json.gz"))
        .collect();
    names[0].clone()
}

#[test]
fn an_edited_digest_is_named() {
    let e = exported();
    let path = e.dir.path().join(&e.tips[1].object);
    let mut d = digest(&e, 1);
    d.log_files[0].hash_value = trent_audit::sha256_hex(b"what the tamperer wrote");
    gzip_to(&path, &d.to_bytes());
    let f = found(&e);
    let name = e.tips[1].object.clone();
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

#[test]
fn a_digest_checked_with_another_key_is_refused() {
    let e = exported();
    let f = verify_dir(e.dir.path(), &EcSigner::new().public_key_der()).unwrap_err();
    assert_eq!(
        (f.what, f.subject),
        (Tamper::Edited, Subject::Digest),
        "{f}"
    );
}

#[test]
fn export_refuses_batches_that_do_not_continue_the_chain() {
    let e = exported();
    let dir = tempfile::tempdir().unwrap();
    let signer = rsa_signer();
    let later = batches(7, [3; 32], 100, &[1]);
    let end = t0() + time::Duration::hours(9);
    let refused = export(
        dir.path(),
        &trail(),
        &*signer,
        e.tips.last(),
        &[&later],
        t0(),
        end,
    );
    assert!(
        matches!(refused, Err(trent_audit::Error::NotContiguous(_))),
        "{refused:?}"
    );
    let from_zero = batches(0, [3; 32], 100, &[1]);
    let refused = export(
        dir.path(),
        &trail(),
        &*signer,
        None,
        &[&from_zero],
        t0(),
        end,
    );
    assert!(
        matches!(refused, Err(trent_audit::Error::NotContiguous(_))),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // The next batch after the last digest is taken.
    let next = batches(6, e.batches[5].hash(), 17, &[2]);
    export(
        e.dir.path(),
        &trail(),
        &*signer,
        e.tips.last(),
        &[&next],
        t0(),
        end,
    )
    .unwrap();
    assert_eq!(verify_dir(e.dir.path(), &key()).unwrap().events, 19);
}

/// A file's last record is vouched for by the next file's first.
#[test]
fn an_edited_last_event_of_a_file_is_named_by_the_next_file() {
    let e = exported();
    let name = log_file(&e, 0);
    let mut events = records(&e, &name);
    events[4].user_agent = "forged".into(); // event 4, last of batch 1
    rewrite(&e, &name, &events);
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Event, Some(name), Some(4), id(4)),
        "{f}"
    );
}

/// The gzip of `bytes` appended to the file `name`: a second gzip member, which `gunzip`,
/// `zcat` and most readers decompress and print after the first.
fn append_gzip_member(e: &Export, name: &str, bytes: &[u8]) {
    let path = e.dir.path().join(name);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    let mut file = std::fs::read(&path).unwrap();
    file.extend(gz.finish().unwrap());
    std::fs::write(&path, file).unwrap();
}

/// Records hidden in a second gzip member would be read by `zcat | jq` but not hashed.
#[test]
fn records_appended_as_a_second_gzip_member_are_found() {
    let e = exported();
    let name = log_file(&e, 4);
    let mut forged = records(&e, &name)[0].clone();
    forged.user_agent = "forged".into();
    let json = format!(
        "{{\"Records\":[{}]}}",
        String::from_utf8(forged.canonical_bytes()).unwrap()
    );
    append_gzip_member(&e, &name, json.as_bytes());
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::LogFile, Some(name), None, None),
        "{f}"
    );
}

#[test]
fn bytes_appended_to_a_digest_are_found() {
    let e = exported();
    let name = e.tips[2].object.clone();
    append_gzip_member(&e, &name, b"{}");
    let f = found(&e);
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

/// Removes the newest export whole: its digest, its signature and its log file.
fn remove_newest_export(e: &Export) {
    let name = log_file_of_last(e);
    for file in [
        name,
        e.tips[2].object.clone(),
        format!("{}.sig", e.tips[2].object),
    ] {
        std::fs::remove_file(e.dir.path().join(file)).unwrap();
    }
}

/// Nothing in the directory vouches for its own end: only a tip kept elsewhere does.
#[test]
fn a_removed_newest_export_is_found_against_the_trusted_tip() {
    let e = exported();
    remove_newest_export(&e);
    let shorter = verify_dir(e.dir.path(), &key()).unwrap();
    assert_eq!(shorter.last_batch_seq, 4, "a shorter trail verifies alone");
    let f = verify_dir_to(e.dir.path(), &key(), &e.tips[2]).unwrap_err();
    let name = e.tips[2].object.clone();
    assert_eq!(
        at(&f),
        (Tamper::Deleted, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

/// The trusted tip may be older than the directory's newest digest (exports since).
#[test]
fn a_directory_verifies_to_a_tip_it_holds() {
    let e = exported();
    for tip in &e.tips {
        let r = verify_dir_to(e.dir.path(), &key(), tip).unwrap();
        assert_eq!(r.last_batch_seq, 5);
    }
    let mut other = e.tips[1].clone();
    other.hash = e.tips[0].hash.clone();
    let f = verify_dir_to(e.dir.path(), &key(), &other).unwrap_err();
    let name = e.tips[1].object.clone();
    assert_eq!(
        at(&f),
        (Tamper::Edited, Subject::Digest, Some(name), None, None),
        "{f}"
    );
}

/// A tampered file gives a finding, never a panic: truncated gzip, broken JSON, numbers
/// out of every range.
#[test]
fn malformed_files_are_findings_not_panics() {
    type Tampering = fn(&Export, &str);
    let cases: [(&str, Tampering); 3] = [
        ("truncated gzip", |e, n| {
            let path = e.dir.path().join(n);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("invalid JSON", |e, n| {
            gzip_to(&e.dir.path().join(n), b"{\"Records\":[{")
        }),
        ("no Records", |e, n| gzip_to(&e.dir.path().join(n), b"[]")),
    ];
    for (what, tamper) in cases {
        let e = exported();
        let name = log_file(&e, 2);
        tamper(&e, &name);
        let f = found(&e);
        assert_eq!(
            (f.what, f.file.as_deref()),
            (Tamper::Edited, Some(name.as_str())),
            "{what}: {f}"
        );
    }
    for number in ["1e400", "18446744073709551616", "-1", "4294967295"] {
        let e = exported();
        let name = log_file(&e, 2);
        let text = String::from_utf8(gunzip(&e.dir.path().join(&name))).unwrap();
        let edited = text.replacen("\"index\":0", &format!("\"index\":{number}"), 1);
        gzip_to(&e.dir.path().join(&name), edited.as_bytes());
        let f = found(&e);
        assert_eq!(f.file.as_deref(), Some(name.as_str()), "{number}: {f}");
    }
}
