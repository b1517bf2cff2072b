//! `authorization`: grants and key policies take effect linearizably. Once a RevokeGrant or
//! a denying PutKeyPolicy is acknowledged, no Encrypt invoked afterwards succeeds on what it
//! took away; once a CreateGrant (or an allowing policy) is acknowledged, every Encrypt
//! invoked afterwards succeeds through it, on any node, until something that could take it
//! away is invoked.
//!
//! The model, per key of the authorization workload: the grantee (a user with no identity
//! policy) may encrypt at time t when the key policy's statement about it at t is not a
//! Deny, and either the policy allows it or some grant on the key is live at t. The policy
//! (`Allows`, `Silent`, `Denies`; `Silent` from the set-up) and each grant (live or not,
//! identified by its unique `Name`; not live at first) are registers. A write is
//! PutKeyPolicy (the value it puts), CreateGrant (live) or RevokeGrant (not live). It may
//! take effect at one instant of its window:
//!
//! - acknowledged (`Ok`, and for RevokeGrant also `NotFoundException`: the grant was already
//!   gone, so the register reads "not live" after it): between its invocation and its
//!   acknowledgement;
//! - of unknown outcome (`Info`, or an error answer this model does not expect): any time
//!   after its invocation, forever (a late duplicate);
//! - failed (`Fail`: it certainly reached no node or was refused): never.
//!
//! A value is *possible during* [a, b] when some write of it (or the initial value) may have
//! taken effect before b (its invocation is before b; the initial value at 0) and was not
//! *certainly overwritten* before a: no acknowledged write W' was invoked after it was
//! acknowledged and itself acknowledged before a. A value is *certain during* [a, b] when it
//! is the only possible one. This over-approximates what any linearization allows, so both
//! rules below flag only histories no order of the writes explains.
//!
//! For every grantee Encrypt U on key K, completed `Ok` with interval [a, b] = [U.invoke,
//! U.complete]:
//!
//! - U **succeeded** and either `Denies` is the only policy possible during [a, b], or
//!   `Allows` is not possible and no grant of K is possibly live during [a, b]: a violation
//!   (an acknowledged revocation or denying policy change, with nothing that could give the
//!   access back, preceded the Encrypt's invocation);
//! - U was **refused** with `AccessDeniedException`, `Denies` is not possible during
//!   [a, b], and either `Allows` is certain or some grant of K is certainly live during
//!   [a, b] (its CreateGrant acknowledged before a, and no RevokeGrant of it, nor a denying
//!   policy, invoked before b): a violation (a grant or an allowing policy, acknowledged,
//!   did not work on the node that answered).
//!
//! Encrypts of unknown outcome, failed, or answered with another error are not judged.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::history::{Answer, Completed, GranteePolicy, Kind, Nanos, Op};

use super::{fmt_op, fmt_time, Verdict};

/// One write to a register: the value, and when it may take effect.
struct Write<'a, V> {
    value: V,
    invoke: Nanos,
    /// The acknowledgement, when the write certainly took effect by then; `None`: it may take
    /// effect any time after `invoke` (or never).
    acked: Option<Nanos>,
    /// The operation (none for the initial value).
    op: Option<&'a Completed>,
}

/// A register's writes, with, for each, the instant after which it is certainly overwritten.
struct Register<'a, V> {
    writes: Vec<Write<'a, V>>,
    overwritten: Vec<Option<Nanos>>,
}

impl<'a, V: Copy + Ord> Register<'a, V> {
    fn new(initial: V, mut writes: Vec<Write<'a, V>>) -> Self {
        writes.push(Write {
            value: initial,
            invoke: 0,
            acked: Some(0),
            op: None,
        });
        let overwritten = writes
            .iter()
            .map(|w| {
                let done = w.acked?;
                // Every write of the run comes after the initial value (set before the run).
                let after = |later: &Write<V>| match w.op {
                    None => later.op.is_some(),
                    Some(_) => later.invoke > done,
                };
                writes
                    .iter()
                    .filter(|later| after(later))
                    .filter_map(|later| later.acked)
                    .min()
            })
            .collect();
        Register {
            writes,
            overwritten,
        }
    }

    /// The values the register may hold at some instant of [a, b].
    fn possible(&self, a: Nanos, b: Nanos) -> BTreeSet<V> {
        self.writes
            .iter()
            .zip(&self.overwritten)
            .filter(|(w, _)| w.op.is_none() || w.invoke < b)
            .filter(|(_, over)| over.is_none_or(|t| t >= a))
            .map(|(w, _)| w.value)
            .collect()
    }

    /// The acknowledged write of `value` invoked last among those acknowledged before `t`.
    fn last_acked(&self, value: V, t: Nanos) -> Option<&'a Completed> {
        self.writes
            .iter()
            .filter(|w| w.value == value && w.acked.is_some_and(|done| done < t))
            .max_by_key(|w| w.invoke)
            .and_then(|w| w.op)
    }
}

/// When a write may take effect: `Some(Some(acked))`, `Some(None)` (unknown), or `None`
/// (never).
fn window(c: &Completed, result: Result<(), &str>, also_done: &[&str]) -> Option<Option<Nanos>> {
    match c.kind {
        Kind::Fail | Kind::Invoke => None,
        Kind::Info => Some(None),
        Kind::Ok => match result {
            Ok(()) => Some(c.complete),
            Err(code) if also_done.contains(&code) => Some(c.complete),
            Err(_) => Some(None),
        },
    }
}

/// The error code an answer carries, if any.
fn code<T>(answer: &Option<Answer<T>>) -> Result<(), &str> {
    match answer {
        Some(Err(code)) => Err(code),
        _ => Ok(()),
    }
}

/// One key's policy and grants.
#[derive(Default)]
struct KeyWrites<'a> {
    policy: Vec<Write<'a, GranteePolicy>>,
    grants: BTreeMap<&'a str, Vec<Write<'a, bool>>>,
}

/// One key's registers.
struct KeyRegisters<'a> {
    policy: Register<'a, GranteePolicy>,
    grants: Vec<Register<'a, bool>>,
}

pub fn check_authorization(ops: &[Completed]) -> Verdict {
    let mut keys: BTreeMap<&str, KeyWrites> = BTreeMap::new();
    let mut acknowledged = (0, 0, 0);
    for c in ops {
        match &c.op {
            Op::PutKeyPolicy {
                key,
                policy,
                result,
            } => {
                if let Some(acked) = window(c, code(result), &[]) {
                    acknowledged.2 += usize::from(acked.is_some());
                    keys.entry(key).or_default().policy.push(Write {
                        value: *policy,
                        invoke: c.invoke,
                        acked,
                        op: Some(c),
                    });
                }
            }
            Op::CreateGrant {
                key,
                name,
                grant_id,
            } => {
                if let Some(acked) = window(c, code(grant_id), &[]) {
                    acknowledged.0 += usize::from(acked.is_some());
                    let grant = keys.entry(key).or_default().grants.entry(name);
                    grant.or_default().push(Write {
                        value: true,
                        invoke: c.invoke,
                        acked,
                        op: Some(c),
                    });
                }
            }
            Op::RevokeGrant {
                key, name, result, ..
            } => {
                if let Some(acked) = window(c, code(result), &["NotFoundException"]) {
                    acknowledged.1 += usize::from(acked.is_some());
                    let grant = keys.entry(key).or_default().grants.entry(name);
                    grant.or_default().push(Write {
                        value: false,
                        invoke: c.invoke,
                        acked,
                        op: Some(c),
                    });
                }
            }
            _ => {}
        }
    }
    let registers: BTreeMap<&str, KeyRegisters> = keys
        .into_iter()
        .map(|(key, w)| {
            let grants = w
                .grants
                .into_values()
                .map(|g| Register::new(false, g))
                .collect();
            let policy = Register::new(GranteePolicy::Silent, w.policy);
            (key, KeyRegisters { policy, grants })
        })
        .collect();

    let mut anomalies = vec![];
    let (mut succeeded, mut refused, mut required_success, mut required_refusal) = (0, 0, 0, 0);
    for u in ops.iter().filter(|c| c.kind == Kind::Ok) {
        let Op::GranteeEncrypt {
            key,
            result: Some(result),
        } = &u.op
        else {
            continue;
        };
        let Some(b) = u.complete else { continue };
        let a = u.invoke;
        let empty;
        let regs = match registers.get(key.as_str()) {
            Some(r) => r,
            None => {
                empty = KeyRegisters {
                    policy: Register::new(GranteePolicy::Silent, vec![]),
                    grants: vec![],
                };
                &empty
            }
        };
        let policy = regs.policy.possible(a, b);
        let grants: Vec<BTreeSet<bool>> = regs.grants.iter().map(|g| g.possible(a, b)).collect();
        let denied_for_sure = policy.iter().all(|p| *p == GranteePolicy::Denies);
        let no_source =
            !policy.contains(&GranteePolicy::Allows) && grants.iter().all(|g| !g.contains(&true));
        let never_denied = !policy.contains(&GranteePolicy::Denies);
        let live_grant = regs
            .grants
            .iter()
            .zip(&grants)
            .find(|(_, g)| g.iter().all(|&live| live))
            .map(|(r, _)| r);
        let allowed_for_sure = policy.iter().all(|p| *p == GranteePolicy::Allows);
        let must_succeed = never_denied && (allowed_for_sure || live_grant.is_some());
        let must_fail = denied_for_sure || no_source;
        required_success += usize::from(must_succeed);
        required_refusal += usize::from(must_fail);
        let node = u
            .node
            .map_or("an unknown node".into(), |n| format!("node {n}"));
        match result {
            Ok(()) => {
                succeeded += 1;
                if denied_for_sure {
                    let put = regs.policy.last_acked(GranteePolicy::Denies, a);
                    anomalies.push(format!(
                        "key {key}: {node} served {} although the key policy denied the \
                         grantee's Encrypt throughout: {}, and no other policy could have \
                         taken effect since",
                        fmt_op(u),
                        acked_at(put)
                    ));
                } else if no_source {
                    let revoke = regs
                        .grants
                        .iter()
                        .filter_map(|g| g.last_acked(false, a))
                        .max_by_key(|r| r.invoke);
                    let put = regs
                        .policy
                        .writes
                        .iter()
                        .filter(|w| w.acked.is_some_and(|done| done < a))
                        .max_by_key(|w| w.invoke)
                        .and_then(|w| w.op);
                    anomalies.push(format!(
                        "key {key}: {node} served {} although no grant could be live (the \
                         last revocation: {}) and no policy allowing the grantee could be in \
                         effect (the last policy: {})",
                        fmt_op(u),
                        acked_at(revoke),
                        acked_at(put)
                    ));
                }
            }
            Err(code) if code == "AccessDeniedException" => {
                refused += 1;
                if must_succeed {
                    let why = match live_grant {
                        Some(g) => format!(
                            "the grant {} was live throughout (no RevokeGrant of it was invoked \
                             before the refusal)",
                            acked_at(g.last_acked(true, a))
                        ),
                        None => format!(
                            "the key policy allowed the grantee throughout ({})",
                            acked_at(regs.policy.last_acked(GranteePolicy::Allows, a))
                        ),
                    };
                    anomalies.push(format!(
                        "key {key}: {node} refused {} although {why}, and no policy denying \
                         it could have taken effect",
                        fmt_op(u)
                    ));
                }
            }
            Err(_) => {}
        }
    }
    let (grants, revokes, policies) = acknowledged;
    let summary = if anomalies.is_empty() {
        format!(
            "{} grantee Encrypts ({succeeded} succeeded, {refused} refused; {required_success} \
             had to succeed, {required_refusal} had to be refused) against {grants} grants, \
             {revokes} revocations and {policies} key policies acknowledged: all as they allowed",
            succeeded + refused
        )
    } else {
        format!(
            "{} of {} grantee Encrypts went against an acknowledged grant, revocation or key policy",
            anomalies.len(),
            succeeded + refused
        )
    };
    let stats = json!({
        "succeeded": succeeded,
        "refused": refused,
        "required_success": required_success,
        "required_refusal": required_refusal,
        "acknowledged_grants": grants,
        "acknowledged_revocations": revokes,
        "acknowledged_policies": policies,
    });
    Verdict::from_anomalies("authorization", anomalies, false, summary, stats)
}

/// `<operation> acknowledged at <time>`, or the set-up's state.
fn acked_at(op: Option<&Completed>) -> String {
    match op {
        Some(c) => format!(
            "{} acknowledged at {}",
            fmt_op(c),
            fmt_time(c.complete.unwrap_or_default())
        ),
        None => "the set-up's (no grant, a policy silent on the grantee)".into(),
    }
}
