//! The audit event of every API call, made in one place (`dispatch.rs` calls it once the
//! outcome is known) and handed to the service's audit buffer (trent_service's `audit.rs`).
//!
//! Guarantees: the event's `requestID` is the `x-amzn-RequestId` the caller is answered with
//! (the attempt id); what of the request and response it holds is only what trent-audit's
//! allowlists keep (never a plaintext, ciphertext, signature, MAC, secret or credential);
//! `resources` are the keys the service authorized the call on (alias names resolved), or the
//! key CreateKey made; a caller whose signature did not verify is `Unknown`, with the access
//! key id it claimed when the header names a plausible one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use time::OffsetDateTime;
use trent_audit::{Event, IdentityType, Resource, TlsDetails, UserIdentity};
use trent_model::{AccountId, Error, Principal};
use trent_service::{AuditNote, Output, Service};
use uuid::Uuid;

use crate::wire::{RawRequest, TLS_CIPHER_HEADER, TLS_VERSION_HEADER};
use crate::ADMIN_PREFIX;

/// `eventSource` of the admin target's events (CloudTrail names a service by its endpoint).
pub const ADMIN_EVENT_SOURCE: &str = "admin.trent";

/// What the leader learned of a call while serving it.
#[derive(Default)]
pub(crate) struct Seen {
    /// The access key that signed it and its owner, once the signature verified.
    pub caller: Option<(String, Principal)>,
    pub note: AuditNote,
}

/// The event of a call to `raw`, answered `outcome` under `attempt`.
pub(crate) fn event(
    service: &Service,
    operator: &AccountId,
    raw: &RawRequest,
    attempt: Uuid,
    seen: &Seen,
    outcome: Result<&Output, &Error>,
) -> Event {
    let (prefix, name) = raw.target().unwrap_or(("", "Unknown"));
    let body: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    let mut resources: Vec<Resource> = seen
        .note
        .keys()
        .iter()
        .map(|(account, arn)| Resource::key(account, arn))
        .collect();
    if let Ok(Output::Json(v)) = outcome {
        if let Some(made) = created_key(v) {
            resources.push(made);
        }
    }
    let identity = identity(raw, seen.caller.as_ref());
    let recipient = identity
        .account_id
        .clone()
        .unwrap_or_else(|| operator.to_string());
    let (source_ip, _) = raw.origin();
    let mut event = Event::kms(trent_audit::Call {
        identity,
        time: event_time(service),
        operation: name.to_owned(),
        region: service.region().to_owned(),
        source_ip: source_ip.unwrap_or_default(),
        user_agent: raw.header("user-agent").unwrap_or_default().to_owned(),
        request_id: attempt.to_string(),
        event_id: Uuid::new_v4().to_string(),
        read_only: read_only(name),
        recipient_account_id: recipient,
    });
    if prefix == ADMIN_PREFIX {
        event.event_source = ADMIN_EVENT_SOURCE.to_owned();
    }
    event.request_parameters = trent_audit::request_parameters(name, &body);
    event.tls_details = tls_details(raw);
    let mut event = event.on_resources(resources);
    match outcome {
        Ok(Output::Json(v)) => event.response_elements = trent_audit::response_elements(name, v),
        Ok(_) => {}
        Err(e) => event = event.failed(e.aws_code(), &e.message),
    }
    event
}

fn identity(raw: &RawRequest, caller: Option<&(String, Principal)>) -> UserIdentity {
    match caller {
        Some((access_key_id, principal)) => UserIdentity {
            kind: match principal.user {
                None => IdentityType::Root,
                Some(_) => IdentityType::IamUser,
            },
            principal_id: principal
                .user
                .is_none()
                .then(|| principal.account.to_string()),
            arn: Some(principal.arn().to_string()),
            account_id: Some(principal.account.to_string()),
            access_key_id: Some(access_key_id.clone()),
            user_name: principal.user.as_ref().map(|u| u.to_string()),
        },
        None => UserIdentity {
            kind: IdentityType::Unknown,
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: crate::access::access_key_id(raw.header("authorization")),
            user_name: None,
        },
    }
}

/// The TLS session the receiving node stamped, with the Host header the client sent.
fn tls_details(raw: &RawRequest) -> Option<TlsDetails> {
    Some(TlsDetails {
        tls_version: raw.header(TLS_VERSION_HEADER)?.to_owned(),
        cipher_suite: raw.header(TLS_CIPHER_HEADER)?.to_owned(),
        client_provided_host_header: raw.header("host").unwrap_or_default().to_owned(),
    })
}

/// The `KeyId` a request names, if any (a replayed write's event names its key from it).
pub(crate) fn key_text(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("KeyId")?.as_str().map(str::to_owned)
}

/// CreateKey's new key, from its answer.
fn created_key(response: &Value) -> Option<Resource> {
    let metadata = response.get("KeyMetadata")?;
    let arn = metadata.get("Arn")?.as_str()?;
    let account = metadata.get("AWSAccountId")?.as_str()?;
    Some(Resource::key(account, arn))
}

/// The leader's trusted time when it can tell, else its own clock.
fn event_time(service: &Service) -> OffsetDateTime {
    let now = (service.node().signing_time())
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    OffsetDateTime::from(now)
}

/// CloudTrail's `readOnly`: true for calls that change nothing (the cryptographic operations
/// and every Describe, Get, List), false for the rest.
pub(crate) fn read_only(name: &str) -> bool {
    const CRYPTO: &[&str] = &[
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "Sign",
        "Verify",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
        "LookupEvents",
        "ExportBackup",
    ];
    CRYPTO.contains(&name)
        || ["Describe", "Get", "List"]
            .iter()
            .any(|p| name.starts_with(p))
}
