//! The HTTP side: AWS JSON 1.1 requests in, AWS-shaped responses out.
//!
//! The node that receives a request checks only what needs no state (method, path, size,
//! content type, target) and carries the raw request, unchanged, to the leader through the
//! cluster layer, which authenticates and executes it ([`crate::dispatch`]). The client never
//! sees a redirect: a follower answers with the leader's reply.
//!
//! Request and reply bodies may hold plaintexts (Encrypt's input, Decrypt's and
//! GenerateDataKey's answers): every copy this crate owns is zeroized when dropped, the HTTP
//! answer's body included (its bytes are owned by a `Zeroizing` buffer until hyper drops
//! them), and JSON is written into one buffer of the exact size, so no reallocation leaves a
//! copy behind. Neither type's `Debug` shows a body.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use trent_model::Error;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::body::{self, ConnectionBudget, Refused};
use crate::{access, observe, Api, CHANNEL};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// The error code of a body that missed its deadline (HTTP 408).
pub const REQUEST_TIMEOUT: &str = "RequestTimeoutException";

/// A request as received, carried to the leader for authentication and execution.
#[derive(Clone, Serialize, Deserialize)]
pub struct RawRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Lowercase names; values that are not visible ASCII are dropped (they cannot be signed).
    pub headers: Vec<(String, String)>,
    /// As one byte string: bincode would otherwise encode a `Vec<u8>` byte by byte.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Drop for RawRequest {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

/// What the receiving node adds to a request about its connection, for policies
/// (`aws:SourceIp`, `aws:SecureTransport`): never signed, dropped from what a client sends, and
/// carried to the leader over the authenticated peer transport like the rest of the request.
pub const SOURCE_IP_HEADER: &str = "x-trent-source-ip";
pub const SECURE_TRANSPORT_HEADER: &str = "x-trent-secure-transport";
/// The TLS version and cipher suite of the client's connection (the audit event's
/// `tlsDetails`), stamped by the node that terminated TLS.
pub const TLS_VERSION_HEADER: &str = "x-trent-tls-version";
pub const TLS_CIPHER_HEADER: &str = "x-trent-tls-cipher";
const ORIGIN_HEADERS: [&str; 4] = [
    SOURCE_IP_HEADER,
    SECURE_TRANSPORT_HEADER,
    TLS_VERSION_HEADER,
    TLS_CIPHER_HEADER,
];

/// The TLS session a request arrived over, as the server's acceptor saw it: a request
/// extension the front end stamps into what it forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The IANA name: `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
}

impl RawRequest {
    /// Records the client's address, whether it came over TLS and which session. Whatever a
    /// client sent under these names is dropped first: only the receiving node says them.
    pub fn stamp_origin(
        &mut self,
        ip: Option<std::net::IpAddr>,
        secure: bool,
        tls: Option<&TlsSession>,
    ) {
        self.headers
            .retain(|(n, _)| !ORIGIN_HEADERS.contains(&n.as_str()));
        if let Some(ip) = ip {
            self.headers.push((SOURCE_IP_HEADER.into(), ip.to_string()));
        }
        self.headers
            .push((SECURE_TRANSPORT_HEADER.into(), secure.to_string()));
        if let Some(tls) = tls {
            self.headers
                .push((TLS_VERSION_HEADER.into(), tls.version.clone()));
            self.headers
                .push((TLS_CIPHER_HEADER.into(), tls.cipher_suite.clone()));
        }
    }

    /// The client's address and transport, as the receiving node recorded them.
    pub fn origin(&self) -> (Option<String>, Option<bool>) {
        (
            self.header(SOURCE_IP_HEADER).map(str::to_owned),
            self.header(SECURE_TRANSPORT_HEADER)
                .and_then(|v| v.parse().ok()),
        )
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The operation named by `X-Amz-Target`, split into prefix and name.
    pub fn target(&self) -> Result<(&str, &str), Error> {
        let target = self
            .header("x-amz-target")
            .ok_or_else(Error::missing_target)?;
        target
            .split_once('.')
            .ok_or_else(|| Error::unknown_operation(target))
    }
}

/// The leader's answer: HTTP status and JSON body (zeroized when dropped).
#[derive(Clone, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply({}, <{} bytes>)", self.status, self.body.len())
    }
}

impl Reply {
    pub fn ok(value: &impl Serialize) -> Reply {
        Reply {
            status: 200,
            body: std::mem::take(&mut *json(value)),
        }
    }

    /// 408: the body did not arrive within its deadline. Not an [`trent_model::ErrorKind`]: the service
    /// never sees such a request.
    pub fn timeout(deadline: Duration) -> Reply {
        let message = format!(
            "the request body did not arrive within {} ms",
            deadline.as_millis()
        );
        let body = serde_json::json!({"__type": REQUEST_TIMEOUT, "message": message});
        Reply {
            status: 408,
            body: serde_json::to_vec(&body).expect("JSON values serialize"),
        }
    }

    /// AWS's error body: `__type` and `message`, with no `message` when it is empty (as AWS
    /// sends `InvalidCiphertextException`).
    pub fn error(e: &Error) -> Reply {
        let body = match e.message.is_empty() {
            true => serde_json::json!({"__type": e.aws_code()}),
            false => serde_json::json!({"__type": e.aws_code(), "message": e.message}),
        };
        Reply {
            status: e.http_status(),
            body: serde_json::to_vec(&body).expect("JSON values serialize"),
        }
    }
}

/// `value` as JSON, written into one buffer of the exact size (measured first), zeroized
/// when dropped: a growing buffer would leave copies of a plaintext in freed memory.
fn json(value: &impl Serialize) -> Zeroizing<Vec<u8>> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("responses serialize");
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value).expect("responses serialize");
    out
}

/// The one HTTP handler of the API: `POST /`.
// Each argument is an axum extractor: grouping them would only hide what the handler reads.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    State(api): State<Api>,
    budget: Option<Extension<ConnectionBudget>>,
    version: Version,
    method: Method,
    uri: Uri,
    client: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    tls: Option<Extension<TlsSession>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // This attempt's id, for the cluster's routing (the same on every hop and leader change
    // of this attempt) and the client's logs. The id that makes a retried write apply once
    // is the leader's to derive, from what it verified (`dispatch::request_id`).
    let request_id = Uuid::new_v4();
    let started = Instant::now();
    let operation = observe::operation(&headers);
    let access_key_id = api.access_log.as_ref().and_then(|_| {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
        access::access_key_id(authorization)
    });
    let mut key_id = None;
    let budget = budget.map(|Extension(b)| b);
    // The body's bytes stay drawn from the connection's budget until the answer is built.
    let (admitted, _held) = admit(
        method,
        uri,
        headers,
        body,
        budget.as_ref(),
        api.body_timeout,
    )
    .await;
    let reply = match admitted {
        Err(e) => e,
        Ok(mut raw) => {
            let tls = tls.as_ref().map(|Extension(t)| t);
            raw.stamp_origin(
                client.as_ref().map(|c| c.0 .0.ip()),
                api.secure_transport,
                tls,
            );
            if api.access_log.is_some() {
                key_id = access::key_id(&raw.body);
            }
            let payload = bincode::serialize(&raw).expect("requests serialize");
            match api.service.node().route(CHANNEL, request_id, payload).await {
                Err(e) => Reply::error(&e.into()),
                Ok(bytes) => {
                    let bytes = Zeroizing::new(bytes);
                    bincode::deserialize(&bytes).unwrap_or_else(|e| {
                        Reply::error(&Error::internal(format!(
                            "undecodable reply from the leader: {e}"
                        )))
                    })
                }
            }
        }
    };
    let outcome = observe::outcome(&reply);
    if let Some(observer) = &api.observer {
        observer.observe(operation, outcome, started.elapsed());
    }
    if let Some(log) = &api.access_log {
        if key_id.is_none() && reply.status == 200 {
            key_id = access::key_id(&reply.body);
        }
        let principal = access_key_id.as_deref().and_then(|id| {
            let node = api.service.node();
            node.read_local(|s| s.access_key(id).map(|k| k.owner.arn().to_string()))
        });
        let elapsed = started.elapsed();
        log.record(access::AccessRecord {
            time: access::started_at(elapsed),
            request_id,
            client: client.map(|Extension(c)| c.0),
            operation,
            access_key_id,
            principal,
            key_id,
            status: reply.status,
            error_code: (outcome != observe::OK).then_some(outcome),
            duration_ms: elapsed.as_secs_f64() * 1000.0,
        });
    }
    let timed_out = reply.status == 408;
    let mut response = respond(reply, request_id);
    if timed_out && version < Version::HTTP_2 {
        // The rest of the body may still be on its way: the connection cannot be reused (an
        // HTTP/2 stream is reset instead, by hyper).
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    response
}

/// Checks what needs no state and reads the body (bounded in size, time and the connection's
/// budget). The permit holds the body's share of the budget.
async fn admit(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    budget: Option<&ConnectionBudget>,
    deadline: Duration,
) -> (Result<RawRequest, Reply>, Option<OwnedSemaphorePermit>) {
    if let Err(e) = check(&method, &uri, &headers) {
        return (Err(Reply::error(&e)), None);
    }
    let read = match body::read(&headers, body, budget, deadline).await {
        Ok(read) => read,
        Err(Refused::Bad(e)) => return (Err(Reply::error(&e)), None),
        Err(Refused::Deadline) => return (Err(Reply::timeout(deadline)), None),
    };
    let raw = RawRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into()),
        headers: signable_headers(&uri, &headers),
        body: read.body,
    };
    match raw.target() {
        Ok(_) => (Ok(raw), read.held),
        Err(e) => (Err(Reply::error(&e)), read.held),
    }
}

/// What needs neither state nor the body: method, path, content type.
fn check(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Error> {
    if method != Method::POST || uri.path() != "/" {
        return Err(Error::not_post(method, uri.path()));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with(CONTENT_TYPE) {
        return Err(Error::content_type(CONTENT_TYPE, content_type));
    }
    Ok(())
}

/// The headers as SigV4 sees them. HTTP/2 sends the host as the `:authority` pseudo-header,
/// which hyper keeps in the URI, not as a `host` header; SigV4 signs it as `host` (the AWS
/// SDK for Rust speaks HTTP/2 over TLS).
fn signable_headers(uri: &Uri, headers: &HeaderMap) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = headers
        .iter()
        // Only the receiving node says where a request came from.
        .filter(|(n, _)| !ORIGIN_HEADERS.contains(&n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if let (false, Some(authority)) = (headers.contains_key("host"), uri.authority()) {
        list.push(("host".into(), authority.as_str().to_owned()));
    }
    list
}

fn respond(mut reply: Reply, request_id: Uuid) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The body's bytes stay owned by a zeroizing buffer until hyper is done with them.
    let body = Zeroizing::new(std::mem::take(&mut reply.body));
    let mut response = (status, Body::from(Bytes::from_owner(body))).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_once_into_a_buffer_of_its_exact_size() {
        let value = serde_json::json!({"Plaintext": "c2VjcmV0", "KeyId": "k".repeat(300)});
        let out = json(&value);
        assert_eq!(&out[..], &serde_json::to_vec(&value).unwrap()[..]);
        assert_eq!(out.capacity(), out.len(), "no spare room: it never grew");
    }

    #[test]
    fn neither_a_request_nor_a_reply_shows_its_body() {
        let reply = Reply::ok(&serde_json::json!({"Plaintext": "c2VjcmV0"}));
        assert_eq!(
            format!("{reply:?}"),
            format!("Reply(200, <{} bytes>)", reply.body.len())
        );
        let raw = RawRequest {
            method: "POST".into(),
            uri: "/".into(),
            headers: vec![],
            body: b"{\"Plaintext\":\"c2VjcmV0\"}".to_vec(),
        };
        assert!(!format!("{raw:?}").contains("c2VjcmV0"));
    }
}
