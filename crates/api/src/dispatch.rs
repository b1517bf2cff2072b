//! The leader side: authenticate a raw request, parse its JSON body into an operation and
//! run it. Runs only on the leader (the cluster layer routes every request there), because
//! authentication unwraps the caller's secret, which is HSM work.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use trent_cluster::{ClusterError, ForwardHandler};
use trent_model::{Error, ErrorKind, Principal};
use trent_service::{Call, OpError, Operation, Output, Service};
use uuid::Uuid;

use crate::sigv4::{self, Authorization};
use crate::wire::{RawRequest, Reply};
use crate::{admin, operations, ADMIN_PREFIX, KMS_PREFIX};

/// Serves API requests routed to this node while it leads.
pub struct Handler {
    pub service: Service,
    pub admin: admin::Admin,
}

#[async_trait::async_trait]
impl ForwardHandler for Handler {
    async fn handle(&self, request_id: Uuid, payload: Vec<u8>) -> Result<Vec<u8>, ClusterError> {
        let raw: RawRequest = bincode::deserialize(&payload)
            .map_err(|e| ClusterError::Invalid(format!("undecodable API request: {e}")))?;
        let reply = match self.serve(request_id, &raw).await {
            Ok(value) => Reply::ok(&value),
            Err(OpError::Api(e)) => {
                log_refusal(&raw, &e);
                Reply::error(&e)
            }
            // Not the leader (any more), or no quorum: let the router retry elsewhere.
            Err(OpError::Cluster(e)) => return Err(e),
        };
        Ok(bincode::serialize(&reply).expect("replies serialize"))
    }
}

impl Handler {
    async fn serve(&self, request_id: Uuid, raw: &RawRequest) -> Result<Output, OpError> {
        let (prefix, name) = raw.target()?;
        let caller = authenticate(&self.service, raw).await?;
        // Authentication read the access key behind the barrier: one per request is enough.
        let call = Call {
            caller,
            request_id,
            barrier_passed: true,
        };
        match prefix {
            KMS_PREFIX if operations::is_kms_operation(name) => {
                let op = Operation::parse(name, &raw.body)?;
                self.service.execute(&call, op).await
            }
            ADMIN_PREFIX => {
                let input = parse_body(&raw.body)?;
                self.admin
                    .execute(&call, name, input)
                    .await
                    .map(Output::Json)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownOperation,
                format!("{prefix}.{name} is not an operation of this endpoint"),
            )
            .into()),
        }
    }
}

/// The principal whose access key signed `raw`.
async fn authenticate(service: &Service, raw: &RawRequest) -> Result<Principal, OpError> {
    let auth = Authorization::parse(raw.header("authorization"))?;
    if raw.header("x-amz-security-token").is_some() {
        return Err(
            unrecognized("temporary credentials (session tokens) are not supported").into(),
        );
    }
    // The cluster's trusted time, so a node whose own clock is far off (and ignored for
    // stamps) does not refuse every client as expired; its own clock until readings of a
    // majority's clocks are at hand.
    let now = (service.node().now_cached())
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let time = auth.check(raw, service.region(), now)?;
    let Some((principal, secret)) = service.signing_secret(&auth.access_key_id).await? else {
        return Err(unrecognized("The security token included in the request is invalid.").into());
    };
    let secret =
        std::str::from_utf8(&secret).map_err(|_| Error::internal("stored secret is not text"))?;
    sigv4::verify(&auth, raw, secret, service.region(), time)?;
    Ok(principal)
}

fn unrecognized(message: &str) -> Error {
    Error::new(ErrorKind::UnrecognizedClient, message)
}

/// The body as a JSON object; an empty body is an empty input.
fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::new(
            ErrorKind::Serialization,
            "the request body must be a JSON object",
        )),
        Err(e) => Err(Error::new(
            ErrorKind::Serialization,
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn log_refusal(raw: &RawRequest, e: &Error) {
    let target = raw.header("x-amz-target").unwrap_or("-");
    match e.kind {
        ErrorKind::Internal => tracing::error!(target, error = %e, "request failed"),
        _ => tracing::debug!(target, code = e.aws_code(), "request refused"),
    }
}
