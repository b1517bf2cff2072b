//! Export of the audit trail (issue 25): the stored batches written as CloudTrail log files
//! with a digest signed by the HSM's audit signing key, handed to the caller as files.
//!
//! Guarantees:
//! - What is exported continues the caller's previous digest (its last batch and hash) or
//!   starts the chain at the oldest batch kept; a previous digest that the stored trail does
//!   not continue (another cluster's, or a tampered one) is refused, never papered over.
//! - The digest is signed inside the HSM (`Hsm::audit_sign`): the signing key never leaves
//!   it, and the leader signs only digests it built itself from the stored trail, so no
//!   caller can have arbitrary bytes signed.
//! - The files are exactly what `trent_audit::export` writes (written to a private temporary
//!   directory on the leader and read back), so `trent audit verify` checks them unchanged.

use std::sync::Arc;

use time::OffsetDateTime;
use trent_audit::{Batch, DigestSigner, DigestTip, SignError, Trail, SHA256_WITH_ECDSA};
use trent_hsm::Hsm;
use trent_model::Error;
use trent_state::Command;
use uuid::Uuid;

use crate::{Call, OpError, Service};

/// Batches in one log file.
const BATCHES_PER_FILE: usize = 1000;
/// Batches one export call covers at most, unless the caller asks fewer.
pub const MAX_EXPORT_BATCHES: usize = 10_000;

/// One export: its files (name, bytes), the digest chain's new tip (`None` when nothing new
/// was stored since `previous`), the audit signing key's public key, and whether more
/// batches than `max_batches` were waiting (the caller asks again). The export call's own
/// event is always newer than what it exports: "more" never counts it, so a caller looping
/// on it stops.
pub struct AuditExport {
    pub files: Files,
    pub tip: Option<DigestTip>,
    pub public_key: Vec<u8>,
    pub more: bool,
}

/// The HSM's audit signing key as trent-audit's signer.
struct HsmSigner {
    hsm: Arc<dyn Hsm>,
    public_key: Vec<u8>,
}

impl DigestSigner for HsmSigner {
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError> {
        self.hsm
            .audit_sign(bytes)
            .map_err(|e| SignError(e.to_string()))
    }
    fn public_key_der(&self) -> Vec<u8> {
        self.public_key.clone()
    }
    fn algorithm(&self) -> &str {
        SHA256_WITH_ECDSA
    }
}

impl Service {
    /// The audit signing key's public key (DER SubjectPublicKeyInfo).
    pub fn audit_public_key(&self) -> Result<Vec<u8>, OpError> {
        Ok(self
            .hsm()
            .audit_public_key()
            .map_err(|e| Error::internal(format!("the audit signing key: {e}")))?)
    }

    /// The audit public keys of the domain keys the cluster switched away from, oldest first.
    pub async fn retired_audit_keys(&self, call: &Call) -> Result<Vec<Vec<u8>>, OpError> {
        self.read_for(call, |s| s.retired_audit_keys().to_vec())
            .await
    }

    /// Exports up to `max_batches` batches after `previous` (the caller has authorized it),
    /// in files named after `account` (the operator's: the trail is the cluster's). A
    /// `previous` the trail continues is proof that the caller holds the batches before it:
    /// retention may prune them (`audit_retention.rs`). `max_batches` 0 only records that.
    pub async fn export_audit(
        &self,
        call: &Call,
        account: String,
        previous: Option<DigestTip>,
        max_batches: usize,
    ) -> Result<AuditExport, OpError> {
        let public_key = self.audit_public_key()?;
        let tip = self.read_for(call, |s| s.audit_tip()).await?;
        let store = self.node().audit_store().clone();
        if let Some(below) = store.missing_below(&tip) {
            return Err(trail_incomplete(below).into());
        }
        let from = match &previous {
            Some(p) => p.last_batch_seq + 1,
            None => store.first_seq().map_err(Error::internal)?.unwrap_or(0),
        };
        if let Some(p) = &previous {
            check_holds(&store, p, from, &tip)?;
            // The caller proved it holds everything before `from`: retention may take it.
            if from > tip.exported_before {
                let command = Command::AuditExported { before: from };
                self.node().write(Uuid::new_v4(), command).await??;
            }
        }
        let waiting = tip.next_seq.saturating_sub(from) as usize;
        let count = waiting.min(max_batches);
        if count == 0 {
            return Ok(AuditExport {
                files: Vec::new(),
                tip: previous,
                public_key,
                more: waiting > 0,
            });
        }
        let batches = read_batches(&store, from, count)?;
        let trail = Trail {
            account,
            region: self.region().to_owned(),
            bucket: "trent".into(),
            name: "trent".into(),
        };
        let signer = HsmSigner {
            hsm: self.hsm_shared(),
            public_key: public_key.clone(),
        };
        let end = OffsetDateTime::from(std::time::SystemTime::now());
        let written = tokio::task::spawn_blocking(move || {
            write_export(&trail, &signer, previous.as_ref(), &batches, end)
        })
        .await
        .map_err(|e| Error::internal(format!("the export task failed: {e}")))??;
        // A domain key switch between reading the public key and signing would leave a
        // digest naming one key and signed by the other: answer nothing, the caller retries.
        if self.audit_public_key()? != public_key {
            return Err(Error::unavailable(
                "The cluster's audit key changed during the export (a domain key switch); try \
                 again",
            )
            .into());
        }
        Ok(AuditExport {
            files: written.0,
            tip: Some(written.1),
            public_key,
            more: waiting > count,
        })
    }
}

/// The answer of the trail's readers on a leader that still fetches batches it lacks
/// (restored from a snapshot, `trent_cluster`'s audit_backfill.rs): 503, never a partial trail.
pub(crate) fn trail_incomplete(below: u64) -> Error {
    tracing::info!(
        below,
        "audit trail read refused: this leader still fetches the batches below this seq"
    );
    Error::unavailable(
        "This node is still fetching audit events from its peers (it was restored from a \
         snapshot); try again shortly",
    )
}

/// The stored trail continues `previous` at batch `from`: the batch there (or the tip, when
/// nothing follows) follows the previous digest's last hash.
fn check_holds(
    store: &trent_cluster::store::AuditStore,
    previous: &DigestTip,
    from: u64,
    tip: &trent_state::AuditTip,
) -> Result<(), Error> {
    let follows = match from.cmp(&tip.next_seq) {
        std::cmp::Ordering::Equal => tip.hash,
        std::cmp::Ordering::Greater => [0xFF; 32],
        std::cmp::Ordering::Less => match store.batch(from).map_err(Error::internal)? {
            Some(batch) => batch.prev,
            None => {
                return Err(Error::invalid_member(
                    "previousDigest",
                    format_args!("audit batch {from} is no longer stored (pruned)"),
                ))
            }
        },
    };
    if follows != previous.last_batch_hash {
        return Err(Error::invalid_member(
            "previousDigest",
            format_args!(
                "the stored trail does not continue the previous digest {} (batch {from} \
                 follows another hash): it is another cluster's export, or altered",
                previous.object
            ),
        ));
    }
    Ok(())
}

fn read_batches(
    store: &trent_cluster::store::AuditStore,
    from: u64,
    count: usize,
) -> Result<Vec<Batch>, Error> {
    let stored = store.batches(from, true, count).map_err(Error::internal)?;
    let mut out = Vec::with_capacity(stored.len());
    for (seq, batch) in stored {
        out.push(batch.to_batch(seq).map_err(Error::internal)?);
    }
    if out.first().map(|b| b.seq) != Some(from) {
        return Err(Error::internal(format!(
            "audit batch {from} is not stored (pruned meanwhile?)"
        )));
    }
    Ok(out)
}

/// Files by name, with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Writes the export into a private temporary directory and reads the files back.
fn write_export(
    trail: &Trail,
    signer: &HsmSigner,
    previous: Option<&DigestTip>,
    batches: &[Batch],
    end: OffsetDateTime,
) -> Result<(Files, DigestTip), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::internal(format!("export: {e}")))?;
    let files: Vec<&[Batch]> = batches.chunks(BATCHES_PER_FILE).collect();
    let start = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| e.event_time)
        .min()
        .unwrap_or(end);
    let tip = trent_audit::export(dir.path(), trail, signer, previous, &files, start, end)
        .map_err(|e| Error::internal(e.to_string()))?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.path()).map_err(|e| Error::internal(e.to_string()))? {
        let entry = entry.map_err(|e| Error::internal(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).map_err(|e| Error::internal(e.to_string()))?;
        out.push((name, bytes));
    }
    out.sort();
    Ok((out, tip))
}
