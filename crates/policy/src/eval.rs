//! One policy against one request.
//!
//! A statement applies when its action, principal (key policies), resource and every
//! condition match. The policy's answer is `Deny` if any applying statement denies, else
//! `Allow` if any allows, else `NotApplicable` (an implicit deny, which another policy may
//! still turn into an allow; an explicit `Deny` nothing can). Evaluation reads only the
//! compiled policy and the request: it is deterministic and allocates only to resolve policy
//! variables.

use crate::parse::{Effect, Policy, PolicyKind, Resource, Set, Statement};
use crate::principal::Coverage;
use crate::request::Request;

/// One policy's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An explicit deny: a `Deny` statement applies.
    Deny,
    /// No statement applies.
    NotApplicable,
}

/// What a policy says, with how an allow names the caller (authorize.rs needs to know
/// whether a key policy allows the caller itself or delegates to its account).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Detail {
    pub(crate) deny: bool,
    pub(crate) allow_direct: bool,
    pub(crate) allow_account: bool,
}

impl Policy {
    /// This policy's decision on `request`. A key policy's `Allow` counts whether it names
    /// the caller or only the caller's account ([`crate::authorize()`] tells them apart).
    pub fn evaluate(&self, request: &Request) -> Decision {
        let detail = self.detail(request);
        if detail.deny {
            Decision::Deny
        } else if detail.allow_direct || detail.allow_account {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }

    pub(crate) fn detail(&self, request: &Request) -> Detail {
        let mut detail = Detail::default();
        for statement in &self.statements {
            // Once the caller is allowed directly, only a deny can change the answer.
            if statement.effect == Effect::Allow && detail.allow_direct {
                continue;
            }
            let Some(coverage) = statement.applies(request, self.kind) else {
                continue;
            };
            match (statement.effect, coverage) {
                (Effect::Deny, _) => {
                    detail.deny = true;
                    return detail;
                }
                (Effect::Allow, Coverage::Direct) => detail.allow_direct = true,
                (Effect::Allow, Coverage::Account) => detail.allow_account = true,
            }
        }
        detail
    }
}

impl Statement {
    /// Whether the statement applies, and how it names the caller. Cheapest checks first.
    fn applies(&self, request: &Request, kind: PolicyKind) -> Option<Coverage> {
        let actions = self.actions.as_ref()?;
        if !actions.matches(|g| g.matches(&request.action_key, request)) {
            return None;
        }
        let coverage = match (&self.principals, kind) {
            (Some(principals), _) => principals.applies(&request.caller)?,
            // An identity policy applies to the user it belongs to.
            (None, PolicyKind::Identity) => Coverage::Direct,
            (None, PolicyKind::Key) => return None,
        };
        let resources = self.resources.as_ref()?;
        let resource_matches = resources.matches(|r| match r {
            Resource::Any => true,
            Resource::Arn(pattern) => pattern.matches(&request.resource, request),
        });
        if !resource_matches || !self.conditions.iter().all(|c| c.holds(request)) {
            return None;
        }
        Some(coverage)
    }
}

impl<T> Set<T> {
    fn matches(&self, item_matches: impl Fn(&T) -> bool) -> bool {
        self.items.iter().any(item_matches) != self.negated
    }
}
