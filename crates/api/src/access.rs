//! The access log: one JSON line per API request, written by the node that received it, for
//! audits until the replicated audit trail exists.
//!
//! A line holds the time (RFC 3339, UTC), the request id the client saw (`x-amzn-RequestId`),
//! the client's address, the operation, the access key id the request was signed with and
//! that key's owner as this node's state knows it, the key id the request named (or the
//! reply did, as Decrypt's and CreateKey's do), the HTTP status, the AWS error code (or
//! none) and the duration. Never a body, a plaintext, a ciphertext, a secret, a signature
//! or the Authorization header: the key id and the access key id are read out of the body
//! and the header, nothing else is kept. The access key id is as the request claimed it;
//! the error code says whether its signature verified (`UnrecognizedClientException`,
//! `InvalidSignatureException`, `IncorrectSignature...` mean it did not).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Receives one record per API request. Must be cheap (a queue push): it runs on the
/// request path.
pub trait AccessLog: Send + Sync + 'static {
    fn record(&self, record: AccessRecord);
}

/// One request, as the access log writes it.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub request_id: Uuid,
    pub client: Option<SocketAddr>,
    pub operation: &'static str,
    pub access_key_id: Option<String>,
    pub principal: Option<String>,
    pub key_id: Option<String>,
    pub status: u16,
    pub error_code: Option<&'static str>,
    pub duration_ms: f64,
}

impl AccessRecord {
    /// The record as one line of JSON (with its newline).
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("records serialize");
        line.push('\n');
        line
    }
}

/// The time (RFC 3339, UTC) of a request that started `elapsed` ago.
pub(crate) fn started_at(elapsed: Duration) -> String {
    let at = time::OffsetDateTime::from(SystemTime::now() - elapsed);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The access key id of a SigV4 `Authorization` header (`Credential=<id>/<scope>`), if it
/// looks like one: bounded and alphanumeric, so a forged header cannot put anything else
/// in the log.
pub(crate) fn access_key_id(authorization: Option<&str>) -> Option<String> {
    let rest = authorization?.split_once("Credential=")?.1;
    let id = rest.split_once('/')?.0;
    let plausible =
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    plausible.then(|| id.to_owned())
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(rename = "KeyId", borrow)]
    key_id: Option<Cow<'a, str>>,
    #[serde(rename = "DestinationKeyId", borrow)]
    destination: Option<Cow<'a, str>>,
    #[serde(rename = "KeyMetadata", borrow)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(rename = "KeyId", borrow)]
    key_id: Option<Cow<'a, str>>,
}

/// The key a JSON body names (`KeyId`, else `DestinationKeyId`, else `KeyMetadata.KeyId`).
/// Other fields are skipped unread (serde keeps nothing of them).
pub(crate) fn key_id(body: &[u8]) -> Option<String> {
    let named: Named = serde_json::from_slice(body).ok()?;
    let id = named
        .key_id
        .or(named.destination)
        .or(named.metadata.and_then(|m| m.key_id))?;
    (id.len() <= 2048).then(|| id.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_key_id_comes_from_the_credential_scope_only() {
        let header = "AWS4-HMAC-SHA256 Credential=TKIAEXAMPLE1/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=abcd";
        assert_eq!(access_key_id(Some(header)).as_deref(), Some("TKIAEXAMPLE1"));
        assert_eq!(access_key_id(Some("Credential=a\"b/x")), None);
        assert_eq!(access_key_id(None), None);
    }

    #[test]
    fn key_ids_come_from_the_request_or_the_reply_and_nothing_else_is_kept() {
        let encrypt = br#"{"KeyId":"alias/a","Plaintext":"c2VjcmV0"}"#;
        assert_eq!(key_id(encrypt).as_deref(), Some("alias/a"));
        let created = br#"{"KeyMetadata":{"KeyId":"1234","Arn":"x"}}"#;
        assert_eq!(key_id(created).as_deref(), Some("1234"));
        assert_eq!(key_id(b"not json"), None);
        let record = AccessRecord {
            time: "1970-01-01T00:00:00Z".into(),
            request_id: Uuid::nil(),
            client: None,
            operation: "Encrypt",
            access_key_id: None,
            principal: None,
            key_id: key_id(encrypt),
            status: 200,
            error_code: None,
            duration_ms: 1.5,
        };
        let line = record.to_line();
        assert!(
            line.starts_with("{\"time\":\"1970-01-01T00:00:00Z\""),
            "{line}"
        );
        assert!(!line.contains("c2VjcmV0"));
    }
}
