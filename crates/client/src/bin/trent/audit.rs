//! `trent audit`: the audit trail as an auditor meets it. `verify` checks a directory of
//! exported CloudTrail log and digest files offline, as `aws cloudtrail validate-logs` does
//! (digest signatures and chain, each log file's hash), and inside the files the events'
//! hash chain; it names the first deleted, reordered, edited or inserted record. It needs no
//! cluster and no credentials: only the audit signing key's public key.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Verifies an exported directory; exits non-zero naming the first bad record, file or
    /// digest.
    Verify {
        /// The directory of `*_CloudTrail_*.json.gz` log files and their digests.
        dir: PathBuf,
        /// The audit signing key's public key: DER SubjectPublicKeyInfo, or PEM
        /// (`-----BEGIN PUBLIC KEY-----`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

pub fn run(command: AuditCmd) -> Result<Value, String> {
    match command {
        AuditCmd::Verify { dir, public_key } => {
            let key = public_key_der(&public_key)?;
            let report = trent_audit::verify_dir(&dir, &key)
                .map_err(|finding| format!("{}: {finding}", dir.display()))?;
            Ok(json!({
                "Digests": report.digests,
                "LogFiles": report.log_files,
                "Events": report.events,
                "FirstBatchSeq": report.first_batch_seq,
                "LastBatchSeq": report.last_batch_seq,
                "LastBatchHash": hex(&report.last_batch_hash),
                "OldestEventTime": report.oldest_event_time.unix_timestamp(),
                "NewestEventTime": report.newest_event_time.unix_timestamp(),
            }))
        }
    }
}

/// The DER of a public key file, PEM or DER.
fn public_key_der(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let Some(body) = text
        .split("-----BEGIN PUBLIC KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PUBLIC KEY-----").next())
    else {
        return Ok(bytes);
    };
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("{}: not a PEM public key: {e}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
