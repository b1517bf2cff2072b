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

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trent_model::{Error, ErrorKind};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::{observe, Api, CHANNEL, MAX_BODY};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// AWS SDKs send the same invocation id on every retry of one call.
const SDK_INVOCATION_HEADER: &str = "amz-sdk-invocation-id";
/// Namespace of request ids derived from SDK invocation ids.
const REQUEST_ID_NAMESPACE: Uuid = Uuid::from_u128(0x7e3b_2c51_9a0d_4f6e_8b1a_5d2c_3e4f_6a7b);

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

impl RawRequest {
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
        let target = self.header("x-amz-target").ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownOperation,
                "X-Amz-Target is missing: name the operation as TrentService.<Operation>",
            )
        })?;
        target.split_once('.').ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownOperation,
                format!("X-Amz-Target '{target}' is not <prefix>.<Operation>"),
            )
        })
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

    pub fn error(e: &Error) -> Reply {
        let body = serde_json::json!({"__type": e.aws_code(), "message": e.message});
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
pub async fn handle(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = request_id(&headers);
    let started = Instant::now();
    let operation = observe::operation(&headers);
    let reply = match admit(method, uri, headers, body).await {
        Err(e) => Reply::error(&e),
        Ok(raw) => {
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
    if let Some(observer) = &api.observer {
        observer.observe(operation, observe::outcome(&reply), started.elapsed());
    }
    respond(reply, request_id)
}

/// Checks what needs no state and reads the body (bounded).
async fn admit(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<RawRequest, Error> {
    if method != Method::POST || uri.path() != "/" {
        return Err(Error::new(
            ErrorKind::UnknownOperation,
            format!(
                "{method} {}: the API takes POST / with an X-Amz-Target header",
                uri.path()
            ),
        ));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with(CONTENT_TYPE) {
        return Err(Error::new(
            ErrorKind::Serialization,
            format!("Content-Type must be {CONTENT_TYPE}, not '{content_type}'"),
        ));
    }
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Error::new(
            ErrorKind::RequestTooLarge,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    })?;
    let raw = RawRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into()),
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: Bytes::into(body),
    };
    raw.target()?;
    Ok(raw)
}

/// The id that makes a retried write apply once: derived from the SDK's invocation id (the
/// same on every retry of one call) and the caller's access key id, so two callers can never
/// share one; a fresh id when the client sends none.
fn request_id(headers: &HeaderMap) -> Uuid {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (text(SDK_INVOCATION_HEADER), text("authorization")) {
        (Some(invocation), Some(auth)) => {
            let credential = auth.split("Credential=").nth(1).unwrap_or("");
            let access_key = credential.split('/').next().unwrap_or("");
            let target = text("x-amz-target").unwrap_or("");
            let name = format!("{access_key}\n{target}\n{invocation}");
            Uuid::new_v5(&REQUEST_ID_NAMESPACE, name.as_bytes())
        }
        _ => Uuid::new_v4(),
    }
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
