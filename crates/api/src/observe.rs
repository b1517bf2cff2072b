//! Request observation for metrics: every API request that reaches a node is reported once,
//! by the node that received it, with its operation, its outcome and how long the client
//! waited (forwarding to the leader included).
//!
//! Labels come from static sets, so an observer can keep one series per label pair without
//! allocating per request: the operation is a KMS or admin operation name (the two sets are
//! disjoint) or `unknown`, the outcome `ok` or an AWS error code trent answers with.

use std::time::Duration;

use axum::http::HeaderMap;
use serde::Deserialize;
use trent_model::ErrorKind;

use crate::wire::{self, Reply};
use crate::{admin, operations, ADMIN_PREFIX, KMS_PREFIX};

/// Receives one report per API request. Implementations must be cheap: this is on the
/// request path.
pub trait RequestObserver: Send + Sync + 'static {
    fn observe(&self, operation: &'static str, outcome: &'static str, elapsed: Duration);
}

/// The label of a request that names no known operation.
pub const UNKNOWN_OPERATION: &str = "unknown";
/// The outcome of a successful request.
pub const OK: &str = "ok";

/// The operation named by the request's `X-Amz-Target`, as a static label.
pub(crate) fn operation(headers: &HeaderMap) -> &'static str {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let known = match target.split_once('.') {
        Some((KMS_PREFIX, name)) => operations::KMS_OPERATIONS
            .binary_search(&name)
            .ok()
            .map(|i| operations::KMS_OPERATIONS[i]),
        Some((ADMIN_PREFIX, name)) => admin::OPERATIONS.iter().copied().find(|op| *op == name),
        _ => None,
    };
    known.unwrap_or(UNKNOWN_OPERATION)
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type", borrow)]
    code: &'a str,
}

/// `ok`, or the AWS error code of the reply (parsed from its body only on the error path).
pub(crate) fn outcome(reply: &Reply) -> &'static str {
    if reply.status == 200 {
        return OK;
    }
    if reply.status == 408 {
        return wire::REQUEST_TIMEOUT;
    }
    serde_json::from_slice::<ErrorBody>(&reply.body)
        .ok()
        .and_then(|body| ErrorKind::from_aws_code(body.code))
        .unwrap_or(ErrorKind::Internal)
        .aws_code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_model::Error;

    fn target(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", value.parse().unwrap());
        headers
    }

    #[test]
    fn operations_are_labelled_from_the_known_sets() {
        assert_eq!(operation(&target("TrentService.Encrypt")), "Encrypt");
        assert_eq!(operation(&target("TrentAdmin.AddNode")), "AddNode");
        assert_eq!(operation(&target("TrentService.Frobnicate")), "unknown");
        assert_eq!(operation(&target("TrentAdmin.Encrypt")), "unknown");
        assert_eq!(operation(&HeaderMap::new()), "unknown");
    }

    #[test]
    fn outcomes_are_ok_or_the_error_code() {
        let ok = Reply::ok(&serde_json::json!({}));
        assert_eq!(outcome(&ok), "ok");
        let denied = Reply::error(&Error::new(ErrorKind::AccessDenied, "no"));
        assert_eq!(outcome(&denied), "AccessDeniedException");
        let late = Reply::timeout(std::time::Duration::from_secs(1));
        assert_eq!(outcome(&late), "RequestTimeoutException");
        let garbled = Reply {
            status: 500,
            body: b"<html>".to_vec(),
        };
        assert_eq!(outcome(&garbled), "KMSInternalException");
    }
}
