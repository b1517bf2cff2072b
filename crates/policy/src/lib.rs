//! The IAM policy language, as AWS KMS and IAM use it: key policies and identity (user)
//! policies, parsed and compiled once, evaluated per request.
//!
//! This crate does no I/O, reads no clock and keeps no state: a [`Policy`] is plain data
//! (serde, deterministic: the same text always compiles to the same value), so it can be
//! compiled once when a policy is written and kept in the replicated state, and every node
//! evaluates it alike. Whatever a condition needs from the world (the time, the source IP,
//! the encryption context) the caller puts in the [`Request`].
//!
//! - [`Policy::parse`] and [`Policy::parse_identity`] refuse a malformed document with a
//!   `MalformedPolicyDocumentException` that names what is wrong (in AWS's words where they
//!   are recorded; `trent_model::CATALOG`), or a `LimitExceededException` over
//!   [`MAX_POLICY_BYTES`].
//! - [`Policy::evaluate`] gives one policy's [`Decision`]; [`authorize()`] combines a key policy
//!   with the caller's identity policies as AWS KMS does (explicit deny wins; the key policy
//!   either allows the caller or delegates to the account's identity policies; cross-account
//!   access needs both), and [`lockout_check`] is the `PutKeyPolicy` safety check.
//! - [`default_key_policy`] is the policy AWS gives a key created without one, as AWS prints it.
//!
//! Not here: grants (another way to allow, the integrator's), whether a named principal
//! exists (AWS refuses a policy naming one that does not; [`Policy::users`] lists them for the
//! caller to check against its state), and the request context (the caller fills it).
//!
//! Modules: `json` (the document as written, duplicates kept), `parse` (document to compiled
//! statements), `principal`, `pattern` (wildcards, policy variables, ARNs), `condition`
//! (operators and typed values), `request` (what a request brings), `eval` (one policy),
//! `authorize` (key policy and identity policies together).

mod authorize;
mod condition;
mod eval;
mod json;
mod parse;
mod pattern;
mod principal;
mod request;

pub use authorize::{authorize, lockout_check, Denial, Outcome};
pub use eval::Decision;
pub use parse::{Effect, Policy, PolicyKind, Version};
pub use request::{ContextValue, Request};

/// The largest policy document trent takes, in bytes: AWS KMS's key policy limit (32 KiB).
pub const MAX_POLICY_BYTES: usize = 32_768;

/// The key policy AWS KMS gives a key created without one, for `account`: the account (its
/// root) may do everything with the key, which also lets the account's identity policies
/// grant access to it. Written as AWS's `GetKeyPolicy` returns it, spacing included.
pub fn default_key_policy(account: &trent_model::AccountId) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \
         \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \
         \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \
         \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}
