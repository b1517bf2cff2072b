//! The cluster's audit trail exported into the run directory (`audit/`, as `trent audit
//! export` writes it) and verified under the cluster's audit key: after every nemesis (each
//! export continues the directory's digest chain) and after the run, for the `audit-trail`
//! checker (`check::audit`).

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};
use trent_audit::Event;

use crate::client::{Clients, Outcome};

/// Why a collection failed: the cluster did not answer the export (not a finding while it
/// recovers from a fault), or what it exported does not verify (always a finding).
#[derive(Debug)]
pub enum Failed {
    Unavailable(String),
    Invalid(String),
}

/// Exports what is new into `dir` and answers the directory's events once it verifies.
pub async fn collect(clients: &Clients, dir: &Path) -> Result<Vec<Event>, Failed> {
    let events = export(clients, dir).await.map_err(Failed::Unavailable)?;
    events.map_err(Failed::Invalid)
}

/// The export; its outer error is the cluster's, its inner one the directory's.
async fn export(clients: &Clients, dir: &Path) -> Result<Result<Vec<Event>, String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = match clients.admin("GetAuditPublicKey", &json!({})).await {
        Outcome::Answered { answer: Ok(v), .. } => blob(&v["PublicKey"])?,
        other => return Err(format!("GetAuditPublicKey: {}", describe(&other))),
    };
    std::fs::write(dir.join("audit-public-key.der"), &key).map_err(|e| e.to_string())?;
    loop {
        let mut input = json!({});
        if let Some(p) = trent_audit::newest_tip(dir)? {
            input["PreviousDigest"] = p.to_json();
        }
        let out = match clients.admin("ExportAuditTrail", &input).await {
            Outcome::Answered { answer: Ok(v), .. } => v,
            other => return Err(format!("ExportAuditTrail: {}", describe(&other))),
        };
        for file in out["Files"].as_array().into_iter().flatten() {
            let name = file["Name"].as_str().ok_or("a file without a name")?;
            // A retried export call answers the same files again: the same names and bytes.
            std::fs::write(dir.join(name), blob(&file["Data"])?).map_err(|e| e.to_string())?;
        }
        if out["More"] != json!(true) {
            break;
        }
    }
    Ok(trent_audit::verify_dir(dir, &key)
        .map_err(|finding| finding.to_string())
        .and_then(|_| trent_audit::read_events(dir)))
}

fn blob(v: &Value) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().ok_or("not base64 text")?)
        .map_err(|e| e.to_string())
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered { answer, .. } => format!("{answer:?}"),
        Outcome::NotApplied { error, .. } | Outcome::Unknown { error, .. } => error.clone(),
    }
}
