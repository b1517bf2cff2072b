//! The checkers: each reads a recorded history (`crate::history`) and gives a verdict.
//!
//! - `key-state` and `alias`: per-register linearizability (`linearizable`, `models`,
//!   `registers`);
//! - `creation-set` and `ciphertext-durability`: nothing acknowledged was lost (`durability`);
//! - `acknowledged-writes`: the state after the faults still holds every acknowledged key
//!   state, alias and deletion schedule (`survival`);
//! - `use-after-disable`: no key was used after a disable was acknowledged (`safety`);
//! - `availability`: how many operations succeeded while a majority was healthy
//!   (`availability`);
//! - `early-deletion`: no key was deleted before its deletion date by the majority's clocks
//!   (`deletion`);
//! - `authorization`: no grantee Encrypt succeeded after an acknowledged revocation or
//!   denying key policy, nor was refused under an acknowledged live grant (`authz`);
//! - `signatures`: every acknowledged signature verifies, through trent on any later Verify
//!   and outside trent with the key's public key, and no tampered one does (`signing`);
//! - `audit-trail`: the trail exported after the run verifies, every acknowledged operation
//!   has exactly one matching event and none certainly not applied has a successful one
//!   (`audit`; run by `run.rs`, which exports the trail).
//!
//! A verdict is `Valid` or `Invalid` only when the history proves it; when it cannot tell
//! (a search ran out of budget, a final read is missing) it says `Unknown`.

pub mod audit;
pub mod authz;
pub mod availability;
pub mod deletion;
pub mod durability;
pub mod linearizable;
pub mod models;
pub mod registers;
pub mod safety;
pub mod signing;
pub mod survival;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::history::{
    completed, AliasAction, Completed, Entry, GranteePolicy, KeyAction, Kind, Nanos, Op,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

/// One checker's conclusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub checker: String,
    pub validity: Validity,
    /// One line for people.
    pub summary: String,
    /// The first `MAX_ANOMALIES`, each naming times, processes and operations.
    pub anomalies: Vec<String>,
    pub stats: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Steps one register's linearizability search may take before it gives up (Unknown).
    /// The search caches one entry per step at most, so this also bounds its memory.
    pub step_limit: u64,
    /// Fraction (0.0..=1.0) of operations that must succeed while a majority is healthy;
    /// 0 only reports the figure.
    pub availability_goal: f64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            step_limit: 2_000_000,
            availability_goal: 0.99,
        }
    }
}

/// How many anomalies a verdict lists; `stats.anomalies` counts them all.
pub const MAX_ANOMALIES: usize = 20;

/// Runs every checker, in a stable order.
pub fn check_all(entries: &[Entry], config: &CheckConfig) -> Vec<Verdict> {
    let ops = completed(entries);
    vec![
        registers::check_key_states(&ops, config.step_limit),
        registers::check_aliases(&ops, config.step_limit),
        durability::check_creation_set(&ops),
        durability::check_ciphertexts(&ops),
        survival::check_acknowledged_writes(&ops),
        safety::check_use_after_disable(&ops),
        deletion::check_early_deletion(&ops),
        authz::check_authorization(&ops),
        signing::check_signatures(entries, &ops),
        availability::check_availability(entries, &ops, config.availability_goal),
    ]
}

impl Verdict {
    /// Invalid when there are anomalies, else Unknown when `undecided`, else Valid; keeps the
    /// first `MAX_ANOMALIES` and counts all of them in `stats.anomalies`.
    pub(crate) fn from_anomalies(
        checker: &str,
        anomalies: Vec<String>,
        undecided: bool,
        summary: String,
        mut stats: serde_json::Value,
    ) -> Verdict {
        let validity = if !anomalies.is_empty() {
            Validity::Invalid
        } else if undecided {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        if let Some(map) = stats.as_object_mut() {
            map.insert("anomalies".into(), anomalies.len().into());
        }
        Verdict {
            checker: checker.into(),
            validity,
            summary,
            anomalies: anomalies.into_iter().take(MAX_ANOMALIES).collect(),
            stats,
        }
    }
}

/// `12.345s`
pub fn fmt_time(t: Nanos) -> String {
    format!("{:.3}s", t as f64 / 1e9)
}

/// `DisableKey 1234abcd -> ok by process 3 on node 2 [12.001s, 12.005s]`
pub fn fmt_op(c: &Completed) -> String {
    let node = c.node.map(|n| format!(" on node {n}")).unwrap_or_default();
    let end = c.complete.map_or("never".to_string(), fmt_time);
    let outcome = match c.kind {
        Kind::Ok | Kind::Invoke => String::new(),
        Kind::Fail => " (failed)".to_string(),
        Kind::Info => " (outcome unknown)".to_string(),
    };
    format!(
        "{}{outcome} by process {}{node} [{}, {end}]",
        describe(&c.op),
        c.process,
        fmt_time(c.invoke)
    )
}

/// The operation and its answer, in the AWS API's words.
pub fn describe(op: &Op) -> String {
    match op {
        Op::KeyWrite {
            key,
            action,
            result,
        } => {
            format!(
                "{} {key}{}",
                key_action_name(*action),
                answer(result, |_| "ok".into())
            )
        }
        Op::KeyRead { key, state } => {
            format!("DescribeKey {key}{}", answer(state, |s| format!("{s:?}")))
        }
        Op::KeyUse { key, result } => format!("Encrypt {key}{}", answer(result, |_| "ok".into())),
        Op::AliasWrite {
            alias,
            action,
            target,
            result,
        } => {
            let target = target
                .as_deref()
                .map(|t| format!(" -> key {t}"))
                .unwrap_or_default();
            let name = alias_action_name(*action);
            format!("{name} {alias}{target}{}", answer(result, |_| "ok".into()))
        }
        Op::AliasRead { alias, target } => {
            format!(
                "Encrypt via {alias}{}",
                answer(target, |k| format!("key {k}"))
            )
        }
        Op::Encrypt {
            key, ciphertext, ..
        } => {
            format!("Encrypt {key}{}", answer(ciphertext, |c| short(c)))
        }
        Op::GenerateDataKey { key, data_key, .. } => {
            format!(
                "GenerateDataKey {key}{}",
                answer(data_key, |d| short(&d.ciphertext))
            )
        }
        Op::Decrypt {
            ciphertext,
            plaintext,
            ..
        } => {
            format!(
                "Decrypt {}{}",
                short(ciphertext),
                answer(plaintext, |p| short(p))
            )
        }
        Op::RotateKey { key, result } => {
            format!("RotateKeyOnDemand {key}{}", answer(result, |_| "ok".into()))
        }
        Op::CreateKey { key } => format!("CreateKey{}", answer(key, |k| k.clone())),
        Op::ScheduleDeletion {
            key,
            days,
            deletion_date,
            ..
        } => format!(
            "ScheduleKeyDeletion {key} in {days} days{}",
            answer(deletion_date, |d| format!("on {d} ms"))
        ),
        Op::DeletionRead {
            key,
            final_read,
            state,
            ..
        } => {
            let which = if *final_read { " (final)" } else { "" };
            format!(
                "DescribeKey{which} {key}{}",
                answer(state, |s| format!("{s:?}"))
            )
        }
        Op::ListKeys { final_read, keys } => {
            let which = if *final_read { " (final)" } else { "" };
            format!(
                "ListKeys{which}{}",
                answer(keys, |k| format!("{} keys", k.len()))
            )
        }
        Op::CreateGrant {
            key,
            name,
            grant_id,
        } => format!(
            "CreateGrant {name} on {key}{}",
            answer(grant_id, |id| format!("id {}", short(id)))
        ),
        Op::RevokeGrant {
            key,
            name,
            grant_id,
            result,
        } => format!(
            "RevokeGrant {name} (id {}) on {key}{}",
            short(grant_id),
            answer(result, |_| "ok".into())
        ),
        Op::PutKeyPolicy {
            key,
            policy,
            result,
        } => {
            let stance = match policy {
                GranteePolicy::Allows => "allowing",
                GranteePolicy::Silent => "silent on",
                GranteePolicy::Denies => "denying",
            };
            format!(
                "PutKeyPolicy {key} ({stance} the grantee){}",
                answer(result, |_| "ok".into())
            )
        }
        Op::GranteeEncrypt { key, result } => {
            format!("grantee Encrypt {key}{}", answer(result, |_| "ok".into()))
        }
        Op::Sign {
            key,
            algorithm,
            message,
            signature,
        } => format!(
            "Sign {key} {algorithm} of {}{}",
            short(message),
            answer(signature, |s| short(s))
        ),
        Op::Verify {
            key,
            message,
            signature,
            tampered,
            valid,
            ..
        } => {
            let which = if *tampered { " (tampered)" } else { "" };
            format!(
                "Verify{which} {key} of {} signature {}{}",
                short(message),
                short(signature),
                answer(valid, |v| format!("SignatureValid {v}"))
            )
        }
        Op::GetPublicKey {
            key,
            final_read,
            public_key,
        } => {
            let which = if *final_read { " (final)" } else { "" };
            format!(
                "GetPublicKey{which} {key}{}",
                answer(public_key, |p| short(p))
            )
        }
    }
}

fn answer<T>(a: &Option<Result<T, String>>, show: impl Fn(&T) -> String) -> String {
    match a {
        None => String::new(),
        Some(Ok(v)) => format!(" -> {}", show(v)),
        Some(Err(code)) => format!(" -> {code}"),
    }
}

/// A recognisable prefix of a long base64 string.
pub(crate) fn short(s: &str) -> String {
    match s.char_indices().nth(12) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub fn key_action_name(action: KeyAction) -> &'static str {
    match action {
        KeyAction::Enable => "EnableKey",
        KeyAction::Disable => "DisableKey",
        KeyAction::ScheduleDeletion => "ScheduleKeyDeletion",
        KeyAction::CancelDeletion => "CancelKeyDeletion",
    }
}

pub fn alias_action_name(action: AliasAction) -> &'static str {
    match action {
        AliasAction::Create => "CreateAlias",
        AliasAction::Update => "UpdateAlias",
        AliasAction::Delete => "DeleteAlias",
    }
}
