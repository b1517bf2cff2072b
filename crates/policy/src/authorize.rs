//! A key policy and the caller's identity policies together, as AWS KMS decides.
//!
//! 1. An explicit `Deny` in the key policy, or in any of the caller's identity policies, wins.
//! 2. Same account (the caller's account owns the key): allowed if the key policy allows the
//!    caller itself (its user ARN, `"*"`, or the caller is the account's root), or if the key
//!    policy allows the caller's account (its root ARN or id: this is what "enables IAM
//!    policies") and an identity policy of the caller allows the request. Without the key
//!    policy's word, identity policies allow nothing.
//! 3. Cross-account: the key policy must allow the caller (its account or itself) *and* an
//!    identity policy of the caller must allow the request.
//!
//! An account's root has no identity policies and needs none (it holds every permission of
//! its account, as AWS's root user does): for it, step 2 and 3's identity condition holds.
//! Grants are not here: the integrator adds them as one more way to allow.

use trent_model::Error;

use crate::eval::Decision;
use crate::parse::{Policy, PolicyKind};
use crate::request::Request;

/// The answer to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny(Denial),
}

/// Why a request is refused, in the terms of AWS's `AccessDeniedException` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// A `Deny` statement of the key policy applies.
    ExplicitInKeyPolicy,
    /// A `Deny` statement of one of the caller's identity policies applies.
    ExplicitInIdentityPolicy,
    /// The key policy allows neither the caller nor its account.
    NoKeyPolicyAllows,
    /// The key policy delegates to the caller's account, but no identity policy allows.
    NoIdentityPolicyAllows,
}

impl Denial {
    /// The end of AWS's message (`User: ... on resource: <arn> <reason>`), for `action`.
    pub fn reason(&self, action: &str) -> String {
        match self {
            Denial::ExplicitInKeyPolicy => {
                "with an explicit deny in a resource-based policy".into()
            }
            Denial::ExplicitInIdentityPolicy => {
                "with an explicit deny in an identity-based policy".into()
            }
            Denial::NoKeyPolicyAllows => {
                format!("because no resource-based policy allows the {action} action")
            }
            Denial::NoIdentityPolicyAllows => {
                format!("because no identity-based policy allows the {action} action")
            }
        }
    }
}

impl Outcome {
    /// `Ok` for `Allow`; AWS's `AccessDeniedException` for a denial of `request`.
    pub fn into_result(self, request: &Request) -> Result<(), Error> {
        match self {
            Outcome::Allow => Ok(()),
            Outcome::Deny(denial) => Err(Error::not_authorized(
                request.caller_arn(),
                request.action(),
                request.resource(),
                denial.reason(request.action()),
            )),
        }
    }
}

/// Whether `request` may proceed under the key's policy and the caller's identity policies.
pub fn authorize<'a>(
    key_policy: &Policy,
    identity_policies: impl IntoIterator<Item = &'a Policy>,
    request: &Request,
) -> Outcome {
    debug_assert_eq!(key_policy.kind(), PolicyKind::Key);
    let key = key_policy.detail(request);
    if key.deny {
        return Outcome::Deny(Denial::ExplicitInKeyPolicy);
    }
    let identity = match request.caller.user {
        None => Decision::Allow,
        Some(_) => identity_decision(identity_policies, request),
    };
    if identity == Decision::Deny {
        return Outcome::Deny(Denial::ExplicitInIdentityPolicy);
    }
    let identity_allows = identity == Decision::Allow;
    let delegated = if request.same_account() {
        if key.allow_direct {
            return Outcome::Allow;
        }
        key.allow_account
    } else {
        key.allow_direct || key.allow_account
    };
    match (delegated, identity_allows) {
        (false, _) => Outcome::Deny(Denial::NoKeyPolicyAllows),
        (true, false) => Outcome::Deny(Denial::NoIdentityPolicyAllows),
        (true, true) => Outcome::Allow,
    }
}

fn identity_decision<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    request: &Request,
) -> Decision {
    let mut decision = Decision::NotApplicable;
    for policy in policies {
        debug_assert_eq!(policy.kind(), PolicyKind::Identity);
        match policy.evaluate(request) {
            Decision::Deny => return Decision::Deny,
            Decision::Allow => decision = Decision::Allow,
            Decision::NotApplicable => {}
        }
    }
    decision
}

/// AWS's policy lockout safety check, for `CreateKey` and `PutKeyPolicy` without
/// `BypassPolicyLockoutSafetyCheck`: the new key policy (with the caller's identity policies)
/// must let the caller of `request` call `kms:PutKeyPolicy` on the key again.
pub fn lockout_check<'a>(
    new_key_policy: &Policy,
    identity_policies: impl IntoIterator<Item = &'a Policy>,
    request: &Request,
) -> Result<(), Error> {
    let put = request.for_action("kms:PutKeyPolicy");
    match authorize(new_key_policy, identity_policies, &put) {
        Outcome::Allow => Ok(()),
        Outcome::Deny(_) => Err(Error::policy_lockout()),
    }
}
