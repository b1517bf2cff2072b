//! Backup and restore through the admin target: `ExportBackup` answers the whole blob;
//! `ImportBackup` takes it in parts that fit the API's 256 KiB request limit. Each part is
//! retried with the same invocation id after a transport failure or a 503
//! (`Client::call_retrying`), so a part the cluster already applied is not applied twice.
//!
//! Files are written 0600: a backup holds only wrapped key material, but it is still the
//! whole of a cluster's keys for anyone who also holds its domain key.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Client, ClientError};

/// Raw bytes per import part: 128 KiB is ~171 KiB of base64, well under the request limit.
pub const PART_BYTES: usize = 128 * 1024;

/// A backup of the cluster behind `client` (operator root only): the blob and its header.
pub async fn export(client: &Client) -> Result<(Vec<u8>, Value), ClientError> {
    let answer = client.admin("ExportBackup", &json!({})).await?;
    let blob = answer["Backup"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| undecodable("ExportBackup answered no base64 Backup member"))?;
    Ok((blob, answer["Header"].clone()))
}

/// Restores `blob` into the (fresh) cluster behind `client`; answers the last part's answer.
pub async fn import(client: &Client, blob: &[u8]) -> Result<Value, ClientError> {
    if blob.is_empty() {
        return Err(undecodable("the backup file is empty"));
    }
    let restore_id = Uuid::new_v4().to_string();
    let parts: Vec<&[u8]> = blob.chunks(PART_BYTES).collect();
    let mut last = Value::Null;
    for (i, data) in parts.iter().enumerate() {
        let input = json!({
            "RestoreId": restore_id,
            "Part": i,
            "Parts": parts.len(),
            "Data": base64::engine::general_purpose::STANDARD.encode(data),
        });
        last = client
            .call_retrying("TrentAdmin.ImportBackup", &input)
            .await?;
    }
    Ok(last)
}

/// Writes `blob` to a new file at `path`, readable by its owner only; never overwrites.
pub fn write_file(path: &Path, blob: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(blob)?;
    file.sync_all()
}

fn undecodable(message: &str) -> ClientError {
    ClientError::Api {
        status: 200,
        code: "UndecodableResponse".into(),
        message: message.into(),
    }
}
