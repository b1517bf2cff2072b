//! `ExportBackup` and `ImportBackup`: the wire side of backup and restore (the operator
//! root, or a user of the operator account allowed `trent:ExportBackup` / `trent:ImportBackup`). A backup travels as base64 in JSON: whole in the export's answer (answers
//! have no size limit), in parts of at most `trent_state::MAX_PART_BYTES` on import, since a
//! request body may not exceed 256 KiB.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_model::Error;
use trent_service::{Blob, Call, ImportPart, ImportProgress, OpError};
use uuid::Uuid;

use super::{input, required, Admin, Empty};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ImportRequest {
    restore_id: Option<String>,
    part: Option<u32>,
    parts: Option<u32>,
    data: Option<Blob>,
}

impl Admin {
    pub(super) async fn export_backup(&self, call: &Call, body: Value) -> Result<Value, OpError> {
        input::<Empty>("ExportBackup", body)?;
        self.operator_authorized(call, "ExportBackup").await?;
        let backup = self.service.export_backup(call).await?;
        tracing::info!(
            caller = %call.caller.arn(),
            records = backup.header.records,
            bytes = backup.blob.len(),
            "exported a backup"
        );
        Ok(json!({
            "Backup": Blob(backup.blob),
            "Header": backup.header,
        }))
    }

    pub(super) async fn import_backup(&self, call: &Call, body: Value) -> Result<Value, OpError> {
        let req = input::<ImportRequest>("ImportBackup", body)?;
        self.operator_authorized(call, "ImportBackup").await?;
        let restore_id = required(req.restore_id, "restoreId")?;
        let part = ImportPart {
            restore_id: Uuid::parse_str(&restore_id)
                .map_err(|_| Error::invalid_member("restoreId", "Member must be a UUID"))?,
            part: required(req.part, "part")?,
            parts: required(req.parts, "parts")?,
            data: std::mem::take(&mut required(req.data, "data")?.0),
        };
        let answer = match self
            .service
            .import_backup(call, &self.operator, part)
            .await?
        {
            ImportProgress::Staged { received, parts } => json!({
                "RestoreId": restore_id,
                "Received": received,
                "Parts": parts,
                "Restored": false,
            }),
            ImportProgress::Restored(header) => json!({
                "RestoreId": restore_id,
                "Restored": true,
                "Header": header,
            }),
        };
        Ok(answer)
    }
}
