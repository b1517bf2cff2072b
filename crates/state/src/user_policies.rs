//! Users' inline identity policies (IAM's `PutUserPolicy` and friends), and the one-time
//! migration that keeps users created before them working.
//!
//! A policy is stored as its *text* only (the record is [`UserPolicyRecord`]); the compiled
//! [`trent_policy::Policy`] lives in memory, compiled when the policy is put and again by
//! [`State::restore`], so a later change of the compiled form never breaks a data dir. Should
//! a stored text ever stop compiling (a stricter parser in a later build), the policy denies
//! everything until it is replaced or deleted: an unreadable policy never widens access.
//!
//! Limits, as IAM has them: the aggregate size of one user's inline policies is at most
//! [`MAX_INLINE_BYTES_PER_USER`] characters, not counting white space; the user must exist;
//! a user with inline policies cannot be deleted (`DeleteConflict`).
//!
//! The *user policies era*: before this module, every user could use every key of its
//! account. The state records, once, that the cluster has entered the era
//! ([`crate::Command::BeginUserPolicies`], proposed by the leader when the marker is absent):
//! applying it gives every existing user without inline policies the policy
//! [`MIGRATED_POLICY_NAME`] ([`MIGRATED_POLICY`]: `kms:*` on `*`) and records the marker. Until
//! it applies, [`State::identity_policies`] answers that same policy for such users, so there
//! is no window in which they lose access.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use trent_model::{AccountId, Error, Principal, UserName};
use trent_policy::Policy;

use crate::{Outcome, RecordKey, Response, State};

/// IAM's quota on one user's inline policies, all together, in characters without white space.
pub const MAX_INLINE_BYTES_PER_USER: usize = 2048;

/// The inline policy the migration gives users that existed before user policies.
pub const MIGRATED_POLICY_NAME: &str = "trent-migrated-full-access";

/// What users could do before user policies: everything with their account's keys.
pub const MIGRATED_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrentMigratedFullAccess","Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// What a stored policy that no longer compiles means: nothing is allowed.
const DENY_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// One stored inline policy: the text exactly as put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserPolicyRecord {
    pub account: AccountId,
    pub user: UserName,
    pub name: String,
    pub document: String,
}

/// An inline policy in memory: its text and its compiled form (`None`: it no longer compiles).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InlinePolicy {
    document: String,
    compiled: Option<Policy>,
}

impl InlinePolicy {
    fn compile(document: String) -> InlinePolicy {
        let compiled = Policy::parse_identity(&document).ok();
        InlinePolicy { document, compiled }
    }

    fn effective(&self) -> &Policy {
        self.compiled.as_ref().unwrap_or_else(|| deny_all())
    }
}

/// Inline policies by user, then by policy name. A user with none has no entry.
pub(crate) type UserPolicies = BTreeMap<(AccountId, UserName), BTreeMap<String, InlinePolicy>>;

fn migrated_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::parse_identity(MIGRATED_POLICY).expect("a valid policy"))
}

fn deny_all() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::parse_identity(DENY_ALL).expect("a valid policy"))
}

/// A policy's size as IAM counts it against the quota: characters other than white space.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

impl State {
    /// The identity policies of `principal`, to evaluate a request with: a user's inline
    /// policies (before the era marker, the migration policy for a user that has none);
    /// nothing for an account root, which needs none.
    pub fn identity_policies<'a>(
        &'a self,
        principal: &Principal,
    ) -> impl Iterator<Item = &'a Policy> + 'a {
        let slot = principal
            .user
            .as_ref()
            .map(|user| (principal.account.clone(), user.clone()));
        let own = slot.as_ref().and_then(|s| self.user_policies.get(s));
        let legacy = !self.user_policies_era
            && own.is_none()
            && slot.as_ref().is_some_and(|s| self.users.contains_key(s));
        own.into_iter()
            .flat_map(|policies| policies.values().map(InlinePolicy::effective))
            .chain(legacy.then(migrated_policy))
    }

    /// The text of `user`'s inline policy `name`, exactly as put.
    pub fn user_policy(&self, account: &AccountId, user: &UserName, name: &str) -> Option<&str> {
        self.user_policies
            .get(&(account.clone(), user.clone()))?
            .get(name)
            .map(|p| p.document.as_str())
    }

    /// The names of `user`'s inline policies, in name order.
    pub fn user_policy_names<'a>(
        &'a self,
        account: &AccountId,
        user: &UserName,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.user_policies
            .get(&(account.clone(), user.clone()))
            .into_iter()
            .flat_map(|policies| policies.keys().map(String::as_str))
    }

    /// Whether `user` has inline policies.
    pub fn has_user_policies(&self, account: &AccountId, user: &UserName) -> bool {
        self.user_policies
            .contains_key(&(account.clone(), user.clone()))
    }

    /// Whether the cluster has entered the user policies era (the migration applied).
    pub fn user_policies_era(&self) -> bool {
        self.user_policies_era
    }

    pub(crate) fn put_user_policy(
        &mut self,
        account: &AccountId,
        user: &UserName,
        name: &str,
        document: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), user.clone());
        if !self.users.contains_key(&slot) {
            return Err(Error::no_such_user(user));
        }
        let compiled = Policy::parse_identity(document)?;
        let others: usize = self
            .user_policies
            .get(&slot)
            .into_iter()
            .flat_map(|p| p.iter())
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, p)| policy_size(&p.document))
            .sum();
        if others + policy_size(document) > MAX_INLINE_BYTES_PER_USER {
            return Err(Error::user_policy_size(MAX_INLINE_BYTES_PER_USER, user));
        }
        let policy = InlinePolicy {
            document: document.to_owned(),
            compiled: Some(compiled),
        };
        self.user_policies
            .entry(slot)
            .or_default()
            .insert(name.to_owned(), policy);
        touched.push(RecordKey::UserPolicy(
            account.clone(),
            user.clone(),
            name.to_owned(),
        ));
        Ok(Outcome::Done)
    }

    pub(crate) fn delete_user_policy(
        &mut self,
        account: &AccountId,
        user: &UserName,
        name: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), user.clone());
        if !self.users.contains_key(&slot) {
            return Err(Error::no_such_user(user));
        }
        let Some(policies) = self.user_policies.get_mut(&slot) else {
            return Err(Error::no_such_user_policy(name));
        };
        if policies.remove(name).is_none() {
            return Err(Error::no_such_user_policy(name));
        }
        if policies.is_empty() {
            self.user_policies.remove(&slot);
        }
        touched.push(RecordKey::UserPolicy(
            account.clone(),
            user.clone(),
            name.to_owned(),
        ));
        Ok(Outcome::Done)
    }

    /// The one-time migration (module doc): every user without inline policies gets
    /// [`MIGRATED_POLICY`], and the marker is recorded. Once recorded, nothing changes.
    pub(crate) fn begin_user_policies(&mut self, touched: &mut Vec<RecordKey>) -> Response {
        if self.user_policies_era {
            return Ok(Outcome::Done);
        }
        self.migrate_users(touched);
        self.user_policies_era = true;
        touched.push(RecordKey::UserPoliciesEra);
        Ok(Outcome::Done)
    }

    /// Gives every user without inline policies the migration policy.
    pub(crate) fn migrate_users(&mut self, touched: &mut Vec<RecordKey>) {
        let bare: Vec<_> = self
            .users
            .keys()
            .filter(|slot| !self.user_policies.contains_key(*slot))
            .cloned()
            .collect();
        for (account, user) in bare {
            let policy = InlinePolicy::compile(MIGRATED_POLICY.to_owned());
            let mut policies = BTreeMap::new();
            policies.insert(MIGRATED_POLICY_NAME.to_owned(), policy);
            touched.push(RecordKey::UserPolicy(
                account.clone(),
                user.clone(),
                MIGRATED_POLICY_NAME.to_owned(),
            ));
            self.user_policies.insert((account, user), policies);
        }
    }

    /// The stored form of one inline policy.
    pub(crate) fn user_policy_record(
        &self,
        account: &AccountId,
        user: &UserName,
        name: &str,
    ) -> Option<UserPolicyRecord> {
        self.user_policy(account, user, name)
            .map(|document| UserPolicyRecord {
                account: account.clone(),
                user: user.clone(),
                name: name.to_owned(),
                document: document.to_owned(),
            })
    }

    /// Every inline policy's record key.
    pub(crate) fn user_policy_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        self.user_policies.iter().flat_map(|((account, user), p)| {
            p.keys()
                .map(|name| RecordKey::UserPolicy(account.clone(), user.clone(), name.clone()))
        })
    }

    /// Adds a stored inline policy (restore from records).
    pub(crate) fn load_user_policy(&mut self, record: UserPolicyRecord) {
        self.user_policies
            .entry((record.account, record.user))
            .or_default()
            .insert(record.name, InlinePolicy::compile(record.document));
    }

    /// An inline policy whose user does not exist, if any (a backup that would restore one).
    pub(crate) fn orphan_user_policy(&self) -> Option<RecordKey> {
        self.user_policy_keys().find(|key| match key {
            RecordKey::UserPolicy(account, user, _) => {
                !self.users.contains_key(&(account.clone(), user.clone()))
            }
            _ => false,
        })
    }
}

#[cfg(test)]
#[path = "user_policies_tests.rs"]
mod tests;
