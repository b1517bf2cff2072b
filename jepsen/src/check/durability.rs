//! Nothing acknowledged is lost.
//!
//! - `creation-set`: every key whose CreateKey was acknowledged appears in every successful
//!   ListKeys invoked after that acknowledgement (a missing one is a stale or lost read), and
//!   in the final ListKeys made after the faults healed. Without a final read the verdict is
//!   Unknown unless some read already proved a loss.
//! - `ciphertext-durability`: every acknowledged Encrypt / GenerateDataKey ciphertext was
//!   decrypted after the faults healed, to its original plaintext. A ciphertext with no
//!   Decrypt recorded, a Decrypt answering an error, or a wrong plaintext is an anomaly; one
//!   whose every Decrypt had an unknown outcome or failed leaves the verdict Unknown. The
//!   durability workload rotates its keys during the run, so the ciphertexts span material
//!   versions (the version is in each ciphertext's header; the stats count them).

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::history::{Completed, Kind, Op};

use super::{fmt_op, fmt_time, Verdict};

/// An acknowledged CreateKey: its key id and when it was acknowledged.
struct Created<'a> {
    key: &'a str,
    op: &'a Completed,
    acked: u64,
}

pub fn check_creation_set(ops: &[Completed]) -> Verdict {
    let created: Vec<Created> = ops
        .iter()
        .filter_map(|c| match (&c.op, c.kind, c.complete) {
            (Op::CreateKey { key: Some(Ok(key)) }, Kind::Ok, Some(acked)) => {
                Some(Created { key, op: c, acked })
            }
            _ => None,
        })
        .collect();
    let reads: Vec<(&Completed, &Vec<String>, bool)> = ops
        .iter()
        .filter_map(|c| match (&c.op, c.kind) {
            (
                Op::ListKeys {
                    final_read,
                    keys: Some(Ok(keys)),
                },
                Kind::Ok,
            ) => Some((c, keys, *final_read)),
            _ => None,
        })
        .collect();
    let final_read = reads.iter().rev().find(|(_, _, is_final)| *is_final);
    let mut anomalies = vec![];
    let mut missing_from_final = 0;
    for (read, keys, _) in &reads {
        let listed: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        let is_the_final = final_read.is_some_and(|(f, _, _)| std::ptr::eq(*f, *read));
        for c in created
            .iter()
            .filter(|c| c.acked < read.invoke && !listed.contains(c.key))
        {
            missing_from_final += usize::from(is_the_final);
            let what = if is_the_final { "lost" } else { "stale read" };
            anomalies.push(format!(
                "{what}: key {} (acknowledged at {} to {}) is missing from {}",
                c.key,
                fmt_time(c.acked),
                fmt_op(c.op),
                fmt_op(read)
            ));
        }
    }
    let acked_after_final = final_read.map_or(0, |(f, _, _)| {
        created.iter().filter(|c| c.acked >= f.invoke).count()
    });
    let info_creates = ops
        .iter()
        .filter(|c| matches!(c.op, Op::CreateKey { .. }) && c.kind == Kind::Info)
        .count();
    let summary = match final_read {
        _ if !anomalies.is_empty() => format!(
            "{} acknowledged keys missing from reads ({missing_from_final} from the final read)",
            anomalies.len()
        ),
        None => format!(
            "{} keys acknowledged; no final ListKeys read to check them",
            created.len()
        ),
        Some((_, keys, _)) => format!(
            "all {} acknowledged keys present in the final read of {} keys and in {} earlier reads",
            created.len(),
            keys.len(),
            reads.len() - 1
        ),
    };
    let stats = json!({
        "acknowledged_creates": created.len(), "unknown_outcome_creates": info_creates,
        "reads": reads.len(), "final_read": final_read.is_some(),
        "missing_from_final_read": missing_from_final, "acknowledged_after_final_read": acked_after_final,
    });
    Verdict::from_anomalies(
        "creation-set",
        anomalies,
        final_read.is_none(),
        summary,
        stats,
    )
}

/// An acknowledged ciphertext and the plaintext it must decrypt to.
struct Sealed<'a> {
    ciphertext: &'a str,
    plaintext: &'a str,
    op: &'a Completed,
}

/// How one ciphertext fared in the final decrypts.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Verified,
    /// Every Decrypt failed or had an unknown outcome.
    Unverified,
    Missing,
    Failed,
    Corrupted,
}

pub fn check_ciphertexts(ops: &[Completed]) -> Verdict {
    let sealed: Vec<Sealed> = ops
        .iter()
        .filter(|c| c.kind == Kind::Ok)
        .filter_map(sealed)
        .collect();
    let mut decrypts: HashMap<&str, Vec<&Completed>> = HashMap::new();
    for c in ops {
        if let Op::Decrypt { ciphertext, .. } = &c.op {
            decrypts.entry(ciphertext).or_default().push(c);
        }
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut anomalies = vec![];
    for s in &sealed {
        let attempts = decrypts.get(s.ciphertext).map_or(&[][..], Vec::as_slice);
        let (fate, culprit) = fate(s, attempts);
        *counts
            .entry(format!("{fate:?}").to_lowercase())
            .or_default() += 1;
        let culprit = culprit.map(fmt_op).unwrap_or_default();
        match fate {
            Fate::Verified | Fate::Unverified => {}
            Fate::Missing => anomalies.push(format!("never decrypted: {}", fmt_op(s.op))),
            Fate::Failed => anomalies.push(format!("lost: {} but {culprit}", fmt_op(s.op))),
            Fate::Corrupted => anomalies.push(format!(
                "corrupted: {} (plaintext {}) but {culprit}",
                fmt_op(s.op),
                super::short(s.plaintext)
            )),
        }
    }
    let mut versions: BTreeMap<u32, usize> = BTreeMap::new();
    for v in sealed.iter().filter_map(|s| material_version(s.ciphertext)) {
        *versions.entry(v).or_default() += 1;
    }
    let rotations = ops
        .iter()
        .filter(|c| c.kind == Kind::Ok && matches!(c.op, Op::RotateKey { .. }))
        .count();
    let unverified = counts.get("unverified").copied().unwrap_or(0);
    let summary = format!(
        "{} acknowledged ciphertexts: {} decrypted correctly, {} lost or corrupted, \
         {unverified} unverified; sealed under {} material versions ({rotations} acknowledged \
         rotations)",
        sealed.len(),
        counts.get("verified").copied().unwrap_or(0),
        anomalies.len(),
        versions.len(),
    );
    let data_keys = sealed
        .iter()
        .filter(|s| matches!(s.op.op, Op::GenerateDataKey { .. }))
        .count();
    let stats = json!({
        "ciphertexts": sealed.len(), "from_encrypt": sealed.len() - data_keys,
        "from_generate_data_key": data_keys, "fates": counts,
        "acknowledged_rotations": rotations, "ciphertexts_by_material_version": versions,
    });
    Verdict::from_anomalies(
        "ciphertext-durability",
        anomalies,
        unverified > 0,
        summary,
        stats,
    )
}

/// The material version a trent ciphertext names: `"TK" | format | key id (16) | version (u32
/// BE) | ...` (trent-model's ciphertext.rs).
fn material_version(ciphertext: &str) -> Option<u32> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ciphertext)
        .ok()?;
    let version = bytes.get(19..23)?;
    Some(u32::from_be_bytes(version.try_into().ok()?))
}

fn sealed(c: &Completed) -> Option<Sealed<'_>> {
    match &c.op {
        Op::Encrypt {
            plaintext,
            ciphertext: Some(Ok(ciphertext)),
            ..
        } => Some(Sealed {
            ciphertext,
            plaintext,
            op: c,
        }),
        Op::GenerateDataKey {
            data_key: Some(Ok(dk)),
            ..
        } => Some(Sealed {
            ciphertext: &dk.ciphertext,
            plaintext: &dk.plaintext,
            op: c,
        }),
        _ => None,
    }
}

/// The worst definite answer wins: one wrong plaintext or error is an anomaly even if a
/// retry decrypted correctly (a KMS must never answer either for an acknowledged ciphertext).
fn fate<'a>(s: &Sealed, attempts: &[&'a Completed]) -> (Fate, Option<&'a Completed>) {
    if attempts.is_empty() {
        return (Fate::Missing, None);
    }
    let mut worst = (Fate::Unverified, None);
    for c in attempts.iter().filter(|c| c.kind == Kind::Ok) {
        let fate = match &c.op {
            Op::Decrypt {
                plaintext: Some(Ok(p)),
                ..
            } if p == s.plaintext => Fate::Verified,
            Op::Decrypt {
                plaintext: Some(Ok(_)),
                ..
            } => Fate::Corrupted,
            Op::Decrypt {
                plaintext: Some(Err(_)),
                ..
            } => Fate::Failed,
            _ => continue,
        };
        let worse = match (&worst.0, &fate) {
            (Fate::Unverified, _) => true,
            (old, new) => new > old,
        };
        if worse {
            worst = (fate, Some(*c));
        }
    }
    worst
}
