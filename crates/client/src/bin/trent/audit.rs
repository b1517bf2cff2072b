//! `trent audit`: the audit trail as an auditor meets it. `verify` checks a directory of
//! exported CloudTrail log and digest files offline, as `aws cloudtrail validate-logs` does
//! (digest signatures and chain, each log file's hash), and inside the files the events'
//! hash chain; it names the first deleted, reordered, edited or inserted record. It needs no
//! cluster and no credentials: only the audit signing key's public key. `lookup` queries the
//! cluster (LookupEvents); `export` adds to a directory what the cluster recorded since the
//! directory's newest digest, after verifying what the directory holds; `public-key` prints
//! the key digests are signed with.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Subcommand;
use serde_json::{json, Value};
use trent_client::Client;

use crate::Context;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Verifies an exported directory; exits non-zero naming the first bad record, file or
    /// digest.
    Verify {
        /// The directory of `*_CloudTrail_*.json.gz` log files and their digests.
        dir: PathBuf,
        /// The audit signing key's public key: DER SubjectPublicKeyInfo, or PEM
        /// (`-----BEGIN PUBLIC KEY-----`). Repeat it for a trail that spans a domain key
        /// switch: each digest is verified under the key it names.
        #[arg(long, value_name = "FILE", required = true)]
        public_key: Vec<PathBuf>,
    },
    /// Events of the caller's account, newest first (LookupEvents; every page unless
    /// --max-results is given).
    Lookup {
        /// Seconds since 1970 (default: 90 days before the end).
        #[arg(long)]
        start_time: Option<f64>,
        /// Seconds since 1970 (default: now).
        #[arg(long)]
        end_time: Option<f64>,
        /// One lookup attribute, KEY=VALUE: EventId, EventName, ReadOnly, Username,
        /// ResourceType, ResourceName, EventSource or AccessKeyId.
        #[arg(long, value_name = "KEY=VALUE")]
        attribute: Option<String>,
        /// One page of at most this many (1..50).
        #[arg(long)]
        max_results: Option<u32>,
    },
    /// Exports what the cluster recorded since DIR's newest digest into DIR (created if
    /// absent), after verifying DIR under the cluster's audit key (the operator's).
    Export { dir: PathBuf },
    /// The audit signing key's public key, PEM (what `verify --public-key` takes).
    PublicKey,
}

/// Whether `command` needs the cluster (and so credentials).
pub fn needs_cluster(command: &AuditCmd) -> bool {
    !matches!(command, AuditCmd::Verify { .. })
}

/// Runs a command that talks to the cluster.
pub async fn run_online(ctx: &Context, command: AuditCmd) -> Result<Value, String> {
    let client = Client::with_ca_bundle(
        &ctx.endpoint,
        &ctx.region,
        ctx.credentials.clone(),
        ctx.ca.as_ref(),
    )?;
    match command {
        AuditCmd::Lookup {
            start_time,
            end_time,
            attribute,
            max_results,
        } => lookup(&client, start_time, end_time, attribute, max_results).await,
        AuditCmd::Export { dir } => export(&client, &dir).await,
        AuditCmd::PublicKey => {
            let der = public_key(&client).await?;
            Ok(json!({ "PublicKey": trent_audit::public_key_pem(&der) }))
        }
        AuditCmd::Verify { .. } => unreachable!("offline"),
    }
}

async fn lookup(
    client: &Client,
    start_time: Option<f64>,
    end_time: Option<f64>,
    attribute: Option<String>,
    max_results: Option<u32>,
) -> Result<Value, String> {
    let mut input = json!({});
    if let Some(t) = start_time {
        input["StartTime"] = json!(t);
    }
    if let Some(t) = end_time {
        input["EndTime"] = json!(t);
    }
    if let Some(a) = attribute {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("--attribute {a:?}: expected KEY=VALUE"))?;
        input["LookupAttributes"] = json!([{ "AttributeKey": k, "AttributeValue": v }]);
    }
    if let Some(n) = max_results {
        input["MaxResults"] = json!(n);
        return client
            .admin_retrying("LookupEvents", &input)
            .await
            .map_err(|e| e.to_string());
    }
    let mut events = Vec::new();
    loop {
        let out = client
            .admin_retrying("LookupEvents", &input)
            .await
            .map_err(|e| e.to_string())?;
        events.extend(out["Events"].as_array().cloned().unwrap_or_default());
        match out.get("NextToken") {
            Some(token) => input["NextToken"] = token.clone(),
            None => return Ok(json!({ "Events": events })),
        }
    }
}

async fn public_key(client: &Client) -> Result<Vec<u8>, String> {
    Ok(public_keys(client).await?.remove(0))
}

/// The cluster's audit public key, then those of the domain keys it switched away from.
async fn public_keys(client: &Client) -> Result<Vec<Vec<u8>>, String> {
    let out = client
        .admin_retrying("GetAuditPublicKey", &json!({}))
        .await
        .map_err(|e| e.to_string())?;
    let decode = |b64: &Value| {
        let b64 = b64.as_str().ok_or("a public key that is not a string")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("PublicKey: {e}"))
    };
    let mut keys = vec![decode(&out["PublicKey"])?];
    for retired in out["RetiredPublicKeys"].as_array().into_iter().flatten() {
        keys.push(decode(retired)?);
    }
    Ok(keys)
}

async fn export(client: &Client, dir: &Path) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let keys = public_keys(client).await?;
    // What the directory holds must verify before anything is added to it.
    let mut previous = match trent_audit::newest_tip(dir)? {
        None => None,
        Some(tip) => {
            trent_audit::verify_dir_keys(dir, &keys)
                .map_err(|finding| format!("{} does not verify: {finding}", dir.display()))?;
            Some(tip)
        }
    };
    let (mut files, mut digests) = (0usize, 0usize);
    loop {
        let mut input = json!({});
        if let Some(p) = &previous {
            input["PreviousDigest"] = p.to_json();
        }
        let out = client
            .admin_retrying("ExportAuditTrail", &input)
            .await
            .map_err(|e| e.to_string())?;
        let written = out["Files"].as_array().cloned().unwrap_or_default();
        for file in &written {
            let name = file["Name"].as_str().ok_or("a file without a Name")?;
            if name.contains('/') || name.starts_with('.') {
                return Err(format!("refusing a file name from the cluster: {name:?}"));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(file["Data"].as_str().ok_or("a file without Data")?)
                .map_err(|e| format!("{name}: {e}"))?;
            write_new(&dir.join(name), &data)?;
            files += 1;
        }
        if !written.is_empty() {
            digests += 1;
            previous = trent_audit::newest_tip(dir)?;
        }
        // Each export call is itself recorded: stop once the cluster had no more waiting
        // when it answered, or the call would chase its own events for ever.
        if out["More"] != json!(true) {
            break;
        }
    }
    // Tell the cluster this directory holds what it was given, so retention may prune it
    // there (nothing is exported by this call).
    if let Some(p) = &previous {
        let input = json!({ "PreviousDigest": p.to_json(), "MaxBatches": 0 });
        client
            .admin_retrying("ExportAuditTrail", &input)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Asked again: a domain key switch during the export signs its later digests anew.
    let keys = public_keys(client).await?;
    let key = keys[0].clone();
    let report = trent_audit::verify_dir_keys(dir, &keys).map_err(|finding| {
        format!(
            "{} does not verify after the export: {finding}",
            dir.display()
        )
    })?;
    Ok(json!({
        "Directory": dir.display().to_string(),
        "FilesWritten": files,
        "Digests": digests,
        "Events": report.events,
        "LastBatchSeq": report.last_batch_seq,
        "LastBatchHash": hex(&report.last_batch_hash),
        "PublicKey": trent_audit::public_key_pem(&key),
    }))
}

/// Writes a file that must not exist yet, synced.
fn write_new(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(command: AuditCmd) -> Result<Value, String> {
    match command {
        AuditCmd::Verify { dir, public_key } => {
            let keys = public_key
                .iter()
                .map(|path| public_key_der(path))
                .collect::<Result<Vec<_>, _>>()?;
            let report = trent_audit::verify_dir_keys(&dir, &keys)
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
        _ => Err("this audit command needs the cluster (see run_online)".into()),
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
