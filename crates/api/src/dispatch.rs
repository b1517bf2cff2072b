//! The leader side: authenticate a raw request, parse its JSON body into an operation and
//! run it. Runs only on the leader (the cluster layer routes every request there), because
//! authentication unwraps the caller's secret, which is HSM work.
//!
//! The request id that makes a retried write apply once is made here, from what was
//! verified: the access key that signed the request, the target and the SDK's invocation id
//! (the same on every retry of one call), so no caller can name another's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use trent_cluster::{ClusterError, ForwardHandler};
use trent_model::{Error, ErrorKind, Principal};
use trent_service::{Call, OpError, Operation, Output, Service};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit::{self, Seen};
use crate::sigv4::{self, Authorization};
use crate::wire::{RawRequest, Reply};
use crate::{admin, operations, ADMIN_PREFIX, KMS_PREFIX};

/// AWS SDKs send the same invocation id on every retry of one call.
const SDK_INVOCATION_HEADER: &str = "amz-sdk-invocation-id";
/// Namespace of the request ids derived here.
const REQUEST_ID_NAMESPACE: Uuid = Uuid::from_u128(0x7e3b_2c51_9a0d_4f6e_8b1a_5d2c_3e4f_6a7b);

/// Serves API requests routed to this node while it leads.
pub struct Handler {
    pub service: Service,
    pub admin: admin::Admin,
}

#[async_trait::async_trait]
impl ForwardHandler for Handler {
    async fn handle(&self, attempt: Uuid, payload: Vec<u8>) -> Result<Vec<u8>, ClusterError> {
        // The request may carry a plaintext: this copy is wiped once decoded.
        let payload = Zeroizing::new(payload);
        // A leader handing over serves nothing, so its successor can hold its whole log; the
        // router retries on the successor.
        if self.service.node().is_handing_over() {
            return Err(ClusterError::NotLeader { leader: None });
        }
        let raw: RawRequest = bincode::deserialize(&payload)
            .map_err(|e| ClusterError::Invalid(format!("undecodable API request: {e}")))?;
        let mut seen = Seen::default();
        let outcome = self.serve(attempt, &raw, &mut seen).await;
        let reply = match outcome {
            Ok(value) => {
                self.record(&raw, attempt, &seen, Ok(&value)).await?;
                Reply::ok(&value)
            }
            Err(OpError::Api(e)) => {
                log_refusal(&raw, &e);
                self.record(&raw, attempt, &seen, Err(&e)).await?;
                Reply::error(&e)
            }
            // Not the leader (any more), or no quorum: let the router retry elsewhere. The
            // attempt that is answered records the event.
            Err(OpError::Cluster(e)) => return Err(e),
        };
        Ok(bincode::serialize(&reply).expect("replies serialize"))
    }
}

/// A failure to record is the cluster's: the router retries the request elsewhere (a write
/// replays its first answer there), or the client is told the service is unavailable.
fn cluster_error(e: OpError) -> ClusterError {
    match e {
        OpError::Cluster(e) => e,
        OpError::Api(e) => ClusterError::Unavailable(format!("recording the audit event: {e}")),
    }
}

impl Handler {
    /// Records the event of the call `raw`, answered `outcome`, unless its write carried it
    /// into the log (trent_service's audit_note.rs). Durable before answered: a success
    /// returns once its event is on a quorum. An authenticated refusal is an answer like a
    /// success: it waits for its batch (shared, never a round of its own); an
    /// unauthenticated one is counted.
    async fn record(
        &self,
        raw: &RawRequest,
        attempt: Uuid,
        seen: &Seen,
        outcome: Result<&Output, &Error>,
    ) -> Result<(), ClusterError> {
        if seen.note.recorded() {
            return Ok(());
        }
        if let (Ok(_), true, Some((_, caller))) =
            (outcome, seen.note.keys().is_empty(), &seen.caller)
        {
            if let Some(key) = audit::key_text(&raw.body) {
                self.service.note_key_for_audit(caller, &seen.note, &key);
            }
        }
        let event = audit::event(
            &self.service,
            &self.admin.operator,
            raw,
            attempt,
            seen,
            outcome,
        );
        let recorded = match (outcome, &seen.caller) {
            (Ok(_), _) => self.service.audit_commit(event).await,
            (Err(_), Some(_)) => self.service.audit_refused(event).await,
            (Err(_), None) => {
                self.service.audit_unauthenticated(&event);
                Ok(())
            }
        };
        recorded.map_err(cluster_error)
    }

    /// Serves `raw`; `attempt` is the id the receiving node gave this HTTP request.
    async fn serve(
        &self,
        attempt: Uuid,
        raw: &RawRequest,
        seen: &mut Seen,
    ) -> Result<Output, OpError> {
        let (prefix, name) = raw.target()?;
        let (access_key_id, caller) = authenticate(&self.service, raw).await?;
        seen.caller = Some((access_key_id.clone(), caller.clone()));
        // Authentication read the access key behind the barrier: one per request is enough.
        let call = Call {
            caller,
            request_id: request_id(&access_key_id, raw, attempt),
            attempt,
            barrier_passed: true,
            origin: {
                let (source_ip, secure_transport) = raw.origin();
                trent_service::Origin {
                    source_ip,
                    secure_transport,
                }
            },
            audit: seen.note.clone(),
        };
        match prefix {
            KMS_PREFIX if operations::is_kms_operation(name) => {
                let op = Operation::parse(name, &raw.body)?;
                if trent_service::answers_with_response(&op) {
                    let success = Output::Json(Value::Object(Default::default()));
                    let operator = &self.admin.operator;
                    let event =
                        audit::event(&self.service, operator, raw, attempt, seen, Ok(&success));
                    seen.note.offer(event);
                }
                self.service.execute(&call, op).await
            }
            ADMIN_PREFIX => {
                let input = parse_body(&raw.body)?;
                self.admin
                    .execute(&call, name, input)
                    .await
                    .map(Output::Json)
            }
            _ => Err(Error::unknown_operation(format_args!("{prefix}.{name}")).into()),
        }
    }
}

/// The id that makes a retried write apply once, bound to the verified `access_key_id`:
/// from the SDK's invocation id when the client sent one (every retry of one call shares
/// it), else from this attempt's id (the same across the cluster's own retries of it on
/// another leader). Two callers never share one, whatever their headers say.
fn request_id(access_key_id: &str, raw: &RawRequest, attempt: Uuid) -> Uuid {
    let target = raw.header("x-amz-target").unwrap_or("");
    let name = match raw.header_values(SDK_INVOCATION_HEADER)[..] {
        [invocation] => format!("{access_key_id}\n{target}\nsdk {invocation}"),
        _ => format!("{access_key_id}\n{target}\nattempt {attempt}"),
    };
    Uuid::new_v5(&REQUEST_ID_NAMESPACE, name.as_bytes())
}

/// The access key that signed `raw`, and its owner.
async fn authenticate(service: &Service, raw: &RawRequest) -> Result<(String, Principal), OpError> {
    let auth = Authorization::parse_all(&raw.header_values("authorization"))?;
    if raw.header("x-amz-security-token").is_some() {
        return Err(Error::session_token().into());
    }
    // The cluster's trusted time, so a node whose own clock is far off (and ignored for
    // stamps) does not refuse every client as expired; its own clock until readings of a
    // majority's clocks are at hand.
    let now = (service.node().signing_time())
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let time = sigv4::check(&auth, raw, service.region(), now)?;
    let Some((principal, secret)) = service.signing_secret(&auth.access_key_id).await? else {
        return Err(Error::unrecognized_client().into());
    };
    let secret =
        std::str::from_utf8(&secret).map_err(|_| Error::internal("A stored secret is not text"))?;
    sigv4::verify(&auth, raw, secret, service.region(), time)?;
    Ok((auth.access_key_id, principal))
}

/// The body as a JSON object; an empty body is an empty input.
fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::not_a_json_object()),
        Err(e) => Err(Error::serialization(format_args!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

fn log_refusal(raw: &RawRequest, e: &Error) {
    let target = raw.header("x-amz-target").unwrap_or("-");
    match e.kind {
        ErrorKind::Internal => tracing::error!(target, error = %e, "request failed"),
        _ => tracing::debug!(target, code = e.aws_code(), "request refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(headers: &[(&str, &str)]) -> RawRequest {
        RawRequest {
            method: "POST".into(),
            uri: "/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        }
    }

    #[test]
    fn a_request_id_binds_the_verified_key_the_target_and_the_invocation() {
        let create = raw(&[
            ("x-amz-target", "TrentService.CreateKey"),
            (SDK_INVOCATION_HEADER, "inv-1"),
        ]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        // Every attempt of one SDK call, whichever node received it: one id.
        assert_eq!(
            request_id("KEY1", &create, a),
            request_id("KEY1", &create, b)
        );
        // Another caller with the same headers, or another operation: another id.
        assert_ne!(
            request_id("KEY1", &create, a),
            request_id("KEY2", &create, a)
        );
        let delete = raw(&[
            ("x-amz-target", "TrentService.DeleteAlias"),
            (SDK_INVOCATION_HEADER, "inv-1"),
        ]);
        assert_ne!(
            request_id("KEY1", &create, a),
            request_id("KEY1", &delete, a)
        );
        // Without an invocation id (or with two), each attempt is its own request.
        for headers in [
            vec![("x-amz-target", "TrentService.CreateKey")],
            vec![(SDK_INVOCATION_HEADER, "x"), (SDK_INVOCATION_HEADER, "y")],
        ] {
            let plain = raw(&headers);
            assert_eq!(request_id("KEY1", &plain, a), request_id("KEY1", &plain, a));
            assert_ne!(request_id("KEY1", &plain, a), request_id("KEY1", &plain, b));
        }
    }
}
