//! `signatures`: what trent signed stays signed. Every signature an acknowledged Sign
//! answered verifies, on every node, at any later time: through trent (a later Verify of
//! it never answers `KMSInvalidSignatureException`, whatever leader changes, crashes or
//! partitions came in between) and outside trent (with the key's public key from
//! GetPublicKey, by aws-lc-rs after the run); a tampered signature (one bit flipped) is
//! always refused; and every GetPublicKey of a key answers the same public key.
//!
//! Anomalies: a Verify answered `Ok` of a signature that an acknowledged Sign made, acknowledged
//! before the Verify was invoked, whose answer is not `SignatureValid: true`; a Verify of a
//! tampered signature answered anything but `KMSInvalidSignatureException`; two different
//! public keys for one key; an acknowledged signature that does not verify with the key's
//! public key. Verifies of unknown outcome or failed are not judged; without a public key for
//! a key that signed, the verdict is Unknown.

use std::collections::{BTreeMap, HashMap};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;

use crate::history::{Completed, Entry, Kind, Nanos, Op};
use crate::workload::signing::{ECDSA_SHA_256, RSASSA_PSS_SHA_256};

use super::availability::fault_intervals;
use super::{fmt_op, fmt_time, short, Verdict};

const INVALID: &str = "KMSInvalidSignatureException";

/// An acknowledged Sign: (key, algorithm, message, signature) -> the op.
type Signed<'a> = HashMap<(&'a str, &'a str, &'a str, &'a str), &'a Completed>;

#[derive(Default)]
struct Tally {
    valid: usize,
    across_fault: usize,
    tampered_refused: usize,
    unmatched: usize,
    offline_verified: usize,
    offline_unverified: usize,
}

pub fn check_signatures(entries: &[Entry], ops: &[Completed]) -> Verdict {
    let signed: Signed = ops
        .iter()
        .filter(|c| c.kind == Kind::Ok)
        .filter_map(|c| match &c.op {
            Op::Sign {
                key,
                algorithm,
                message,
                signature: Some(Ok(s)),
            } => Some((
                (
                    key.as_str(),
                    algorithm.as_str(),
                    message.as_str(),
                    s.as_str(),
                ),
                c,
            )),
            _ => None,
        })
        .collect();
    let fault_starts: Vec<Nanos> = fault_intervals(entries).iter().map(|f| f.start).collect();
    let (mut anomalies, mut tally) = (vec![], Tally::default());
    for c in ops.iter().filter(|c| c.kind == Kind::Ok) {
        judge_verify(c, &signed, &fault_starts, &mut tally, &mut anomalies);
    }
    let public_keys = public_keys(ops, &mut anomalies);
    let mut by_time: Vec<&&Completed> = signed.values().collect();
    by_time.sort_by_key(|c| c.invoke);
    for c in by_time {
        verify_offline(c, &public_keys, &mut tally, &mut anomalies);
    }
    let t = &tally;
    let summary = format!(
        "{} acknowledged signatures, {} verified outside trent; {} Verifies of them valid \
         ({} after a fault that began after the Sign), {} tampered refused; {} anomalies",
        signed.len(),
        t.offline_verified,
        t.valid,
        t.across_fault,
        t.tampered_refused,
        anomalies.len()
    );
    let stats = json!({
        "acknowledged_signatures": signed.len(), "valid_verifies": t.valid,
        "valid_after_a_fault": t.across_fault, "tampered_refused": t.tampered_refused,
        "unmatched_verifies": t.unmatched, "verified_outside_trent": t.offline_verified,
        "not_verified_outside_trent": t.offline_unverified, "keys_with_public_key": public_keys.len(),
    });
    let undecided = t.offline_unverified > 0;
    Verdict::from_anomalies("signatures", anomalies, undecided, summary, stats)
}

fn judge_verify(
    c: &Completed,
    signed: &Signed,
    fault_starts: &[Nanos],
    tally: &mut Tally,
    anomalies: &mut Vec<String>,
) {
    let Op::Verify {
        key,
        algorithm,
        message,
        signature,
        tampered,
        valid: Some(answer),
    } = &c.op
    else {
        return;
    };
    if *tampered {
        match answer {
            Err(code) if code == INVALID => tally.tampered_refused += 1,
            _ => anomalies.push(format!("a tampered signature not refused: {}", fmt_op(c))),
        }
        return;
    }
    let sign = signed
        .get(&(
            key.as_str(),
            algorithm.as_str(),
            message.as_str(),
            signature.as_str(),
        ))
        .filter(|s| s.complete.is_some_and(|done| done < c.invoke));
    let Some(sign) = sign else {
        tally.unmatched += 1;
        return;
    };
    let acked = sign.complete.unwrap_or_default();
    if matches!(answer, Ok(true)) {
        tally.valid += 1;
        let fault_between = fault_starts.iter().any(|&t| acked < t && t < c.invoke);
        tally.across_fault += usize::from(fault_between);
        return;
    }
    anomalies.push(format!(
        "a good signature refused: {} although {} was acknowledged at {}",
        fmt_op(c),
        fmt_op(sign),
        fmt_time(acked)
    ));
}

/// Each key's public key (DER SubjectPublicKeyInfo, base64), as GetPublicKey answered it;
/// two different answers for one key are an anomaly.
fn public_keys<'a>(
    ops: &'a [Completed],
    anomalies: &mut Vec<String>,
) -> BTreeMap<&'a str, &'a str> {
    let mut first: BTreeMap<&str, (&str, &Completed)> = BTreeMap::new();
    for c in ops.iter().filter(|c| c.kind == Kind::Ok) {
        let Op::GetPublicKey {
            key,
            public_key: Some(Ok(public)),
            ..
        } = &c.op
        else {
            continue;
        };
        let (seen, by) = *first.entry(key).or_insert((public, c));
        if seen != public {
            anomalies.push(format!(
                "key {key}: two public keys: {} answered {}, {} answered {}",
                fmt_op(by),
                short(seen),
                fmt_op(c),
                short(public)
            ));
        }
    }
    first.into_iter().map(|(k, (p, _))| (k, p)).collect()
}

/// Verifies one acknowledged signature with the key's public key, outside trent.
fn verify_offline(
    c: &Completed,
    public_keys: &BTreeMap<&str, &str>,
    tally: &mut Tally,
    anomalies: &mut Vec<String>,
) {
    let Op::Sign {
        key,
        algorithm,
        message,
        signature: Some(Ok(sig)),
    } = &c.op
    else {
        return;
    };
    let Some(public) = public_keys.get(key.as_str()) else {
        tally.offline_unverified += 1;
        return;
    };
    match verifies(algorithm, public, message, sig) {
        Ok(true) => tally.offline_verified += 1,
        Ok(false) => anomalies.push(format!(
            "a signature that does not verify outside trent with the public key {} of key {key}: {}",
            short(public),
            fmt_op(c)
        )),
        Err(why) => anomalies.push(format!("{why}: {}", fmt_op(c))),
    }
}

/// Whether `signature` of `message` (all base64) verifies under the DER SubjectPublicKeyInfo
/// `public_key` with the KMS signing algorithm `algorithm` (aws-lc-rs takes the SPKI as it
/// is for either key type, as well as a bare EC point or PKCS#1 RSA key).
pub fn verifies(
    algorithm: &str,
    public_key: &str,
    message: &str,
    signature: &str,
) -> Result<bool, String> {
    let verifier: &'static dyn VerificationAlgorithm = match algorithm {
        ECDSA_SHA_256 => &signature::ECDSA_P256_SHA256_ASN1,
        RSASSA_PSS_SHA_256 => &signature::RSA_PSS_2048_8192_SHA256,
        other => return Err(format!("no verifier for {other}")),
    };
    let decode = |what: &str, b64: &str| {
        B64.decode(b64)
            .map_err(|e| format!("{what} is not base64 ({e})"))
    };
    let public = decode("the public key", public_key)?;
    let (message, signature) = (
        decode("the message", message)?,
        decode("the signature", signature)?,
    );
    Ok(UnparsedPublicKey::new(verifier, public)
        .verify(&message, &signature)
        .is_ok())
}
