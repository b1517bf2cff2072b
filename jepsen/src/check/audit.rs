//! `audit-trail`: the audit trail exported after the run (`crate::trail`) against the history
//! (issue 25).
//!
//! - The export verifies: every digest signed by the cluster's audit key, every log file
//!   hashed in its digest, the events' hash chain unbroken from batch 0 to the end (deleted,
//!   reordered, edited or inserted events are named), after every fault heals (power loss
//!   included; `run.rs` exports then, continuing the directory's digest chain) and after
//!   the run.
//! - Every acknowledged operation has exactly one event: the event whose `requestID` is the
//!   `x-amzn-RequestId` its answer carried, naming the same operation and key, with the
//!   same error code when the answer was a business error and none when it succeeded.
//! - No event exists for an operation that did not happen: an operation that certainly took
//!   no effect (`Fail`) has no successful event, and events that share a request id agree:
//!   one attempt delivered to the leader twice (a late duplicate of a forwarded request) is
//!   recorded twice, as it was served twice; a write's copies have one outcome (it replays
//!   its first answer), a read's may differ (it ran again, against a later state).
//!
//! Operations whose outcome is unknown (`Info`) may have events or not, as Jepsen allows;
//! multi-page reads (ListKeys) name no single request and are not matched.

use std::collections::HashMap;

use serde_json::json;
use trent_audit::Event;

use super::{fmt_op, Verdict};
use crate::history::{Completed, Kind, Op};
use crate::workload::operation_name;

/// The verdict on the exported trail in `events` (already verified, or `verify` says why
/// not) against `ops`.
pub fn check_audit(ops: &[Completed], events: Result<Vec<Event>, String>) -> Verdict {
    let events = match events {
        Ok(events) => events,
        Err(why) => {
            return Verdict::from_anomalies(
                "audit-trail",
                vec![format!("the exported trail does not verify: {why}")],
                false,
                "the exported audit trail does not verify".into(),
                json!({}),
            )
        }
    };
    let mut anomalies = Vec::new();
    // Every event of a request id, in trail order: more than one when it was served twice.
    let mut by_request: HashMap<&str, Vec<&Event>> = HashMap::new();
    let mut copies = 0usize;
    for event in &events {
        let served = by_request.entry(event.request_id.as_str()).or_default();
        let Some(&first) = served.first() else {
            served.push(event);
            continue;
        };
        match first {
            // A read served twice runs twice, against the state of each time; a write
            // served twice replays its first answer.
            first
                if first.event_name == event.event_name
                    && (first.error_code == event.error_code || event.read_only) =>
            {
                copies += 1;
                served.push(event);
            }
            first => anomalies.push(format!(
                "two events of request id {} disagree: {} {:?} and {} {:?}",
                event.request_id,
                first.event_name,
                first.error_code,
                event.event_name,
                event.error_code
            )),
        }
    }
    let (mut matched, mut unmatched_info) = (0usize, 0usize);
    for op in ops {
        let Some(id) = op.request_id.as_deref() else {
            continue;
        };
        let served = by_request.get(id).map(Vec::as_slice).unwrap_or_default();
        match (op.kind, served) {
            (Kind::Ok, []) => anomalies.push(format!("no event for {}", fmt_op(op))),
            // The answer is one serving's: a read served twice (a late duplicate of a
            // forwarded request) may have been refused once and answered by the other.
            (Kind::Ok, [first, ..]) => {
                matched += 1;
                if served.iter().all(|event| mismatch(op, event).is_some()) {
                    let why = mismatch(op, first).unwrap_or_default();
                    anomalies.push(format!("the event of {} {why}", fmt_op(op)));
                }
            }
            (Kind::Fail, served) => {
                if let Some(event) = served.iter().find(|e| e.error_code.is_none()) {
                    anomalies.push(format!(
                        "{} took no effect, yet its event {} says it succeeded",
                        fmt_op(op),
                        event.event_id
                    ));
                }
            }
            (Kind::Info, []) => unmatched_info += 1,
            _ => {}
        }
    }
    let acknowledged = ops
        .iter()
        .filter(|o| o.kind == Kind::Ok && o.request_id.is_some())
        .count();
    let summary = format!(
        "{} events, chain and digests verified; {matched} of {acknowledged} acknowledged \
         operations matched to their event",
        events.len()
    );
    Verdict::from_anomalies(
        "audit-trail",
        anomalies,
        false,
        summary,
        json!({
            "events": events.len(),
            "acknowledged": acknowledged,
            "matched": matched,
            "info_without_event": unmatched_info,
            "served_twice": copies,
        }),
    )
}

/// Adds what the exports after each fault found: `verified` exports that verified, and the
/// findings of those that did not (each an anomaly: the chain must verify after every
/// nemesis, power loss included).
pub fn add_mid_run(verdict: &mut Verdict, verified: usize, findings: Vec<String>) {
    if let Some(stats) = verdict.stats.as_object_mut() {
        stats.insert("verified_after_faults".into(), verified.into());
    }
    verdict.summary = format!("{}; verified after {verified} faults", verdict.summary);
    if !findings.is_empty() {
        verdict.validity = super::Validity::Invalid;
        verdict.anomalies.splice(0..0, findings);
        verdict.anomalies.truncate(super::MAX_ANOMALIES);
    }
}

/// How `event` disagrees with the acknowledged `op`, if it does.
fn mismatch(op: &Completed, event: &Event) -> Option<String> {
    let name = operation_name(&op.op);
    if event.event_name != name {
        return Some(format!("is {}, not {name}", event.event_name));
    }
    let answered_error = answered_error(&op.op);
    if event.error_code.as_deref() != answered_error.as_deref() {
        return Some(format!(
            "says error {:?}, the answer said {:?}",
            event.error_code, answered_error
        ));
    }
    if let Some(key) = key_of(&op.op) {
        let named = event.resources.iter().any(|r| r.arn.ends_with(key));
        // A refusal before the key was found (NotFoundException) names no resource.
        if !named && event.error_code.is_none() {
            return Some(format!("does not name key {key}"));
        }
    }
    None
}

/// The key an operation names, if it names one by id.
fn key_of(op: &Op) -> Option<&str> {
    match op {
        Op::KeyWrite { key, .. }
        | Op::KeyRead { key, .. }
        | Op::KeyUse { key, .. }
        | Op::Encrypt { key, .. }
        | Op::GenerateDataKey { key, .. }
        | Op::RotateKey { key, .. }
        | Op::ScheduleDeletion { key, .. }
        | Op::DeletionRead { key, .. }
        | Op::CreateGrant { key, .. }
        | Op::RevokeGrant { key, .. }
        | Op::PutKeyPolicy { key, .. }
        | Op::GranteeEncrypt { key, .. }
        | Op::Sign { key, .. }
        | Op::Verify { key, .. }
        | Op::GetPublicKey { key, .. } => Some(key),
        _ => None,
    }
}

/// The business error an acknowledged operation was answered with, if any.
fn answered_error(op: &Op) -> Option<String> {
    let value = serde_json::to_value(op).ok()?;
    let object = value.as_object()?;
    object
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "f" | "key" | "alias"))
        .find_map(|(_, v)| v.get("Err").and_then(|e| e.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Validity;
    use crate::history::KeyAction;
    use trent_audit::{Call, IdentityType, Resource, UserIdentity};

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn event(request_id: &str, name: &str, error: Option<&str>) -> Event {
        let mut e = Event::kms(Call {
            identity: UserIdentity {
                kind: IdentityType::Root,
                principal_id: None,
                arn: None,
                account_id: Some("111122223333".into()),
                access_key_id: None,
                user_name: None,
            },
            time: time::OffsetDateTime::UNIX_EPOCH,
            operation: name.into(),
            region: "us-east-1".into(),
            source_ip: "10.0.0.1".into(),
            user_agent: "jepsen".into(),
            request_id: request_id.into(),
            event_id: format!("event-{request_id}"),
            read_only: false,
            recipient_account_id: "111122223333".into(),
        });
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{KEY}");
        e.resources = vec![Resource::key("111122223333", &arn)];
        match error {
            Some(code) => e.failed(code, "refused"),
            None => e,
        }
    }

    fn disable(kind: Kind, request_id: &str, result: Option<Result<(), String>>) -> Completed {
        Completed {
            process: 0,
            invoke: 0,
            complete: Some(1),
            kind,
            op: Op::KeyWrite {
                key: KEY.into(),
                action: KeyAction::Disable,
                result,
            },
            node: Some(1),
            request_id: Some(request_id.into()),
        }
    }

    #[test]
    fn each_acknowledged_operation_needs_its_one_matching_event() {
        let ok = disable(Kind::Ok, "r1", Some(Ok(())));
        let refused = disable(Kind::Ok, "r2", Some(Err("NotFoundException".into())));
        let events = vec![
            event("r1", "DisableKey", None),
            event("r2", "DisableKey", Some("NotFoundException")),
        ];
        let verdict = check_audit(&[ok.clone(), refused.clone()], Ok(events.clone()));
        assert_eq!(verdict.validity, Validity::Valid, "{:?}", verdict.anomalies);
        // One attempt served twice (a late duplicate) is two agreeing events.
        let mut twice = events.clone();
        twice.push(event("r1", "DisableKey", None));
        let verdict = check_audit(&[ok.clone(), refused.clone()], Ok(twice));
        assert_eq!(verdict.validity, Validity::Valid, "{:?}", verdict.anomalies);

        // Missing, another operation, another outcome, a copy: each is an anomaly.
        for bad in [
            vec![events[1].clone()],
            vec![event("r1", "EnableKey", None), events[1].clone()],
            vec![
                event("r1", "DisableKey", Some("DisabledException")),
                events[1].clone(),
            ],
            vec![
                events[0].clone(),
                events[1].clone(),
                event("r1", "DisableKey", Some("NotFoundException")),
            ],
        ] {
            let verdict = check_audit(&[ok.clone(), refused.clone()], Ok(bad.clone()));
            assert_eq!(verdict.validity, Validity::Invalid, "{bad:?}");
        }
    }

    /// A read delivered to the leader twice (a forwarded request whose first answer was
    /// lost) is served twice against two states: refused once (a grant not yet in effect),
    /// then allowed; the caller got the second answer, which one of its events matches.
    #[test]
    fn an_answer_matches_any_serving_of_a_read_served_twice() {
        let read = |error: Option<&str>| {
            let name = operation_name(&Op::GranteeEncrypt {
                key: KEY.into(),
                result: None,
            });
            let mut e = event("r4", name, error);
            e.read_only = true;
            e
        };
        let answered = Completed {
            op: Op::GranteeEncrypt {
                key: KEY.into(),
                result: Some(Ok(())),
            },
            ..disable(Kind::Ok, "r4", None)
        };
        let events = vec![read(Some("AccessDeniedException")), read(None)];
        let verdict = check_audit(std::slice::from_ref(&answered), Ok(events));
        assert_eq!(verdict.validity, Validity::Valid, "{:?}", verdict.anomalies);
        // Neither serving is the answer: an anomaly.
        let events = vec![
            read(Some("AccessDeniedException")),
            read(Some("KMSInvalidStateException")),
        ];
        let verdict = check_audit(&[answered], Ok(events));
        assert_eq!(verdict.validity, Validity::Invalid);
    }

    #[test]
    fn an_operation_that_took_no_effect_has_no_successful_event() {
        let failed = disable(Kind::Fail, "r3", None);
        let refusal = vec![event("r3", "DisableKey", Some("ValidationException"))];
        let verdict = check_audit(std::slice::from_ref(&failed), Ok(refusal));
        assert_eq!(verdict.validity, Validity::Valid);
        let phantom = vec![event("r3", "DisableKey", None)];
        let verdict = check_audit(&[failed], Ok(phantom));
        assert_eq!(verdict.validity, Validity::Invalid);
        let unverified = check_audit(&[], Err("digest edited".into()));
        assert_eq!(unverified.validity, Validity::Invalid);
    }
}
