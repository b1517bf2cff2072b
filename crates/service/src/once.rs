//! One final answer per write: whatever the first attempt of a request id was answered is
//! what every later attempt with that id is answered, and only that attempt can change the
//! state.
//!
//! A write is checked against the state before it is proposed (authorization, existence,
//! key state), and a request id is recorded by the state machine only when its command
//! applies. Two things follow, both handled here:
//!
//! - A retry of a write that took effect must not be checked again: the state now includes
//!   the first attempt, so a retried DeleteAlias would find no alias. The recorded answer is
//!   replayed instead.
//! - A write refused by those checks must be recorded too. Otherwise the refusal is not
//!   final: an earlier attempt that the network delayed (a forwarded request queued on a
//!   connection that lived through a partition, delivered seconds after its client gave up
//!   and retried elsewhere) reaches the leader later, passes the checks against the newer
//!   state and takes effect after its client was told it failed. So the refusal is proposed
//!   as [`Command::Refuse`] under the request id before it is answered; of the refusal and a
//!   duplicate's command, whichever the log orders first is the answer to both.
//!
//! Refusals about the input alone (malformed, out of range) need no record: a duplicate
//! carries the same input and is refused the same way. Errors of the service itself
//! (no quorum, internal) are not answers; the client retries them.

use std::future::Future;

use trent_model::{Error, ErrorKind};
use trent_state::{Command, Outcome, RequestId, Response};

use crate::{Call, OpError, Output, Service};

/// How a write turns the state machine's outcome into its output.
pub(crate) type Answer<T = Output> = fn(Outcome) -> Result<T, OpError>;

impl Service {
    /// Runs the write `attempt` so that the call's request id gets one final answer.
    pub(crate) async fn once<T>(
        &self,
        call: &Call,
        answer: Answer<T>,
        attempt: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, OpError> {
        if let Some(first) = self.applied_before(call).await? {
            return settled(first, answer);
        }
        match attempt.await {
            Err(OpError::Api(e)) if depends_on_state(&e) && !refusals_unrecorded() => {
                self.refuse(call, e, answer).await
            }
            other => other,
        }
    }

    /// Records `refusal` as the answer to the call's request id, unless the id already has
    /// one (the attempt's own command was refused when it applied, or a duplicate applied
    /// first), and answers whichever the state machine kept.
    async fn refuse<T>(
        &self,
        call: &Call,
        refusal: Error,
        answer: Answer<T>,
    ) -> Result<T, OpError> {
        let id = RequestId(call.dedup_id());
        // Local read: the call already passed the barrier, and an id applied here stays so.
        if let Some(first) = self.node().read_local(|s| s.applied_response(id)) {
            return settled(first, answer);
        }
        let command = Command::Refuse { error: refusal };
        let recorded = self.propose(call, command).await?;
        settled(recorded, answer)
    }
}

fn settled<T>(response: Response, answer: Answer<T>) -> Result<T, OpError> {
    match response {
        Ok(outcome) => answer(outcome),
        Err(e) => Err(e.into()),
    }
}

/// Whether a duplicate of a request refused with `e` could be answered otherwise: every
/// refusal except those about the request's own input.
fn depends_on_state(e: &Error) -> bool {
    use ErrorKind::*;
    let about_input = matches!(
        e.kind,
        Validation | Serialization | InvalidArn | InvalidAliasName | InvalidMarker
    );
    !about_input && e.http_status() < 500
}

/// The `refusals-unrecorded` fail point (`return`): answers refusals without recording them,
/// as before this module existed, so the chaos harness can show it catches what follows.
fn refusals_unrecorded() -> bool {
    fail::fail_point!("refusals-unrecorded", |_| true);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_model::Principal;
    use uuid::Uuid;

    #[test]
    fn a_request_id_is_remembered_per_caller() {
        let call = |account: &str| Call {
            caller: Principal::root(account.parse().unwrap()),
            request_id: Uuid::from_u128(7),
            attempt: Uuid::from_u128(7),
            barrier_passed: false,
            origin: Default::default(),
            audit: Default::default(),
        };
        let victim = call("111122223333").dedup_id();
        assert_eq!(victim, call("111122223333").dedup_id());
        assert_ne!(victim, call("444455556666").dedup_id());
        assert_ne!(victim, Uuid::from_u128(7));
    }

    #[test]
    fn refusals_about_the_state_are_recorded_and_those_about_the_input_are_not() {
        assert!(depends_on_state(&Error::alias_not_found("arn")));
        assert!(depends_on_state(&Error::new(
            ErrorKind::AccessDenied,
            "policy"
        )));
        assert!(depends_on_state(&Error::admin_state("pending deletion")));
        assert!(!depends_on_state(&Error::required("keyId")));
        assert!(!depends_on_state(&Error::invalid_arn("arn")));
        assert!(!depends_on_state(&Error::internal("hsm")));
        assert!(!depends_on_state(&Error::new(
            ErrorKind::Unavailable,
            "no quorum"
        )));
    }
}
