//! `ExportAuditTrail` and `GetAuditPublicKey`: the audit trail as CloudTrail files for the
//! operator (its root, or a user of the operator account allowed `trent:ExportAuditTrail`):
//! the trail spans every account, so no tenant exports it. The public key is anyone's
//! authenticated caller's to read: it verifies, it grants nothing.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_audit::DigestTip;
use trent_model::Error;
use trent_service::{Blob, Call, OpError, MAX_EXPORT_BATCHES};

use super::{input, Admin, Empty};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ExportRequest {
    previous_digest: Option<Tip>,
    max_batches: Option<u32>,
}

/// Where the caller's digest chain ends (`trent_audit::newest_tip` of its directory).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Tip {
    object: String,
    hash_value: String,
    signature: String,
    last_batch_seq: u64,
    last_batch_hash_value: String,
}

impl Admin {
    pub(super) async fn export_audit(&self, call: &Call, body: Value) -> Result<Value, OpError> {
        let r = input::<ExportRequest>("ExportAuditTrail", body)?;
        self.operator_authorized(call, "ExportAuditTrail").await?;
        let max = match r.max_batches {
            None => MAX_EXPORT_BATCHES,
            Some(n) if (n as usize) <= MAX_EXPORT_BATCHES => n as usize,
            Some(_) => {
                return Err(Error::invalid_member(
                    "maxBatches",
                    format_args!(
                        "MaxBatches must be between 0 (only confirm PreviousDigest) and \
                         {MAX_EXPORT_BATCHES}"
                    ),
                )
                .into())
            }
        };
        let previous = r.previous_digest.map(tip).transpose()?;
        let account = self.operator.to_string();
        let export = self
            .service
            .export_audit(call, account, previous, max)
            .await?;
        let files: Vec<Value> = export
            .files
            .into_iter()
            .map(|(name, data)| json!({ "Name": name, "Data": Blob(data) }))
            .collect();
        Ok(json!({
            "Files": files,
            "Digest": export.tip.map(|t| t.to_json()),
            "PublicKey": Blob(export.public_key),
            "More": export.more,
        }))
    }

    /// The audit key and those of the domain keys the cluster switched away from
    /// (`RetiredPublicKeys`, oldest first): an export spanning a switch verifies under them.
    pub(super) async fn audit_public_key(
        &self,
        call: &Call,
        body: Value,
    ) -> Result<Value, OpError> {
        input::<Empty>("GetAuditPublicKey", body)?;
        let key = self.service.audit_public_key()?;
        let retired = self.service.retired_audit_keys(call).await?;
        let retired: Vec<Blob> = retired.into_iter().map(Blob).collect();
        Ok(json!({
            "PublicKey": Blob(key),
            "SignatureAlgorithm": trent_audit::SHA256_WITH_ECDSA,
            "RetiredPublicKeys": retired,
        }))
    }
}

fn tip(t: Tip) -> Result<DigestTip, Error> {
    let last_batch_hash = trent_audit::unhex32(&t.last_batch_hash_value).ok_or_else(|| {
        Error::invalid_member("previousDigest", "LastBatchHashValue must be 64 hex digits")
    })?;
    Ok(DigestTip {
        object: t.object,
        hash: t.hash_value,
        signature: t.signature,
        last_batch_seq: t.last_batch_seq,
        last_batch_hash,
    })
}
