//! Who may use a key besides its account: key policies and grants, their commands and
//! queries.
//!
//! A key policy is stored as the text its writer gave (what `GetKeyPolicy` answers, byte for
//! byte) and kept compiled beside it in memory, so a request evaluates a parsed, indexed
//! policy and never parses one. The record holds the text only: a later change to the
//! compiled form never makes a data dir or snapshot unreadable; `State::restore` compiles
//! again. A key without a policy record has AWS's default key policy (`trent_policy::
//! default_key_policy`), which the service supplies.
//!
//! Grants are kept per key, with an index by grantee, so authorizing a request looks at the
//! caller's own grants on the key, not at every grant the key has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_model::{AccountId, Error, GrantRecord, KeyId, KeyState, MAX_GRANTS_PER_KEY};
use trent_policy::Policy;

use crate::{Outcome, RecordKey, Response, State};

/// A key policy as the state holds it in memory: the text as written and its compiled form.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyPolicy {
    pub text: String,
    pub compiled: Policy,
}

/// A key policy's stored record: the text, with the key and account it belongs to (so a
/// backup can check its owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyPolicyRecord {
    pub account: AccountId,
    pub key_id: KeyId,
    pub text: String,
}

/// The grants of one key, by id and by grantee.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KeyGrants {
    by_id: BTreeMap<String, GrantRecord>,
    /// Grant ids by grantee principal, as given.
    by_grantee: BTreeMap<String, Vec<String>>,
}

impl KeyGrants {
    fn insert(&mut self, grant: GrantRecord) {
        self.by_grantee
            .entry(grant.grantee.clone())
            .or_default()
            .push(grant.grant_id.clone());
        self.by_id.insert(grant.grant_id.clone(), grant);
    }

    fn remove(&mut self, grant_id: &str) -> Option<GrantRecord> {
        let grant = self.by_id.remove(grant_id)?;
        if let Some(ids) = self.by_grantee.get_mut(&grant.grantee) {
            ids.retain(|id| id != grant_id);
            if ids.is_empty() {
                self.by_grantee.remove(&grant.grantee);
            }
        }
        Some(grant)
    }
}

impl State {
    /// The key's own policy; `None` means AWS's default key policy.
    pub fn key_policy(&self, key_id: &KeyId) -> Option<&KeyPolicy> {
        self.key_policies.get(key_id)
    }

    /// The key's grants, in grant-id order, starting after `after`.
    pub fn grants<'a>(
        &'a self,
        key_id: &KeyId,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a GrantRecord> + 'a {
        self.grants
            .get(key_id)
            .into_iter()
            .flat_map(move |g| match after {
                Some(after) => g
                    .by_id
                    .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    .map(|(_, grant)| grant)
                    .collect::<Vec<_>>(),
                None => g.by_id.values().collect(),
            })
    }

    pub fn grant(&self, key_id: &KeyId, grant_id: &str) -> Option<&GrantRecord> {
        self.grants.get(key_id)?.by_id.get(grant_id)
    }

    /// The grants on the key whose grantee is written as one of `grantees` (a principal may be
    /// named by its ARN or, for an account's root, by its account id).
    pub fn grants_for<'a>(
        &'a self,
        key_id: &KeyId,
        grantees: &'a [&'a str],
    ) -> impl Iterator<Item = &'a GrantRecord> + 'a {
        let grants = self.grants.get(key_id);
        grantees.iter().flat_map(move |grantee| {
            grants
                .and_then(|g| Some((g, g.by_grantee.get(*grantee)?)))
                .into_iter()
                .flat_map(|(g, ids)| ids.iter().filter_map(|id| g.by_id.get(id)))
        })
    }

    /// Every grant whose retiring principal is written as one of `retirers`, in key and
    /// grant-id order (ListRetirableGrants).
    pub fn grants_retirable_by<'a>(
        &'a self,
        retirers: &'a [&'a str],
    ) -> impl Iterator<Item = &'a GrantRecord> + 'a {
        self.grants
            .values()
            .flat_map(|g| g.by_id.values())
            .filter(|grant| {
                grant
                    .retiring
                    .as_deref()
                    .is_some_and(|r| retirers.contains(&r))
            })
    }

    pub(crate) fn put_key_policy(
        &mut self,
        key_id: KeyId,
        text: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        // Any key state: AWS takes a new policy for a key pending deletion too (one may be
        // needed to let someone cancel the deletion).
        if !self.keys.contains_key(&key_id) {
            return Err(Error::key_not_found(key_id));
        }
        let compiled = Policy::parse(text)?;
        self.key_policies.insert(
            key_id,
            KeyPolicy {
                text: text.to_owned(),
                compiled,
            },
        );
        touched.push(RecordKey::KeyPolicy(key_id));
        Ok(Outcome::Done)
    }

    pub(crate) fn create_grant(
        &mut self,
        grant: &GrantRecord,
        limit: Option<u32>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = self
            .keys
            .get(&grant.key_id)
            .ok_or_else(|| Error::key_not_found(grant.key_id))?;
        if key.metadata.key_state == KeyState::PendingDeletion {
            return Err(crate::apply::pending_deletion(&key.metadata));
        }
        let grants = self.grants.entry(grant.key_id).or_default();
        // The same name with the same terms is the same grant (CreateGrant's idempotency).
        if let Some(same) = grant.name.as_ref().and_then(|_| {
            grants
                .by_id
                .values()
                .find(|g| same_terms(g, grant))
                .map(|g| g.token())
        }) {
            return Ok(Outcome::Grant(same));
        }
        let limit = limit.map_or(MAX_GRANTS_PER_KEY, |l| l as usize);
        if grants.by_id.len() >= limit {
            return Err(Error::grant_limit(key.metadata.arn(), limit));
        }
        if grants.by_id.contains_key(&grant.grant_id) {
            return Err(Error::admin_exists(format!("Grant {}", grant.grant_id)));
        }
        grants.insert(grant.clone());
        touched.push(RecordKey::Grant(grant.key_id, grant.grant_id.clone()));
        Ok(Outcome::Grant(grant.token()))
    }

    pub(crate) fn remove_grant(
        &mut self,
        key_id: KeyId,
        grant_id: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let removed = self
            .grants
            .get_mut(&key_id)
            .and_then(|g| g.remove(grant_id));
        if removed.is_none() {
            return Err(Error::grant_not_found(grant_id));
        }
        if self.grants.get(&key_id).is_some_and(|g| g.by_id.is_empty()) {
            self.grants.remove(&key_id);
        }
        touched.push(RecordKey::Grant(key_id, grant_id.to_owned()));
        Ok(Outcome::Done)
    }

    /// Drops a deleted key's policy and grants.
    pub(crate) fn forget_key_access(&mut self, key_id: KeyId, touched: &mut Vec<RecordKey>) {
        if self.key_policies.remove(&key_id).is_some() {
            touched.push(RecordKey::KeyPolicy(key_id));
        }
        if let Some(grants) = self.grants.remove(&key_id) {
            touched.extend(
                grants
                    .by_id
                    .into_keys()
                    .map(|g| RecordKey::Grant(key_id, g)),
            );
        }
    }

    pub(crate) fn key_policy_record(&self, key_id: &KeyId) -> Option<KeyPolicyRecord> {
        let policy = self.key_policies.get(key_id)?;
        let key = self.keys.get(key_id)?;
        Some(KeyPolicyRecord {
            account: key.metadata.account.clone(),
            key_id: *key_id,
            text: policy.text.clone(),
        })
    }

    pub(crate) fn restore_key_policy(&mut self, record: KeyPolicyRecord) -> Result<(), String> {
        let compiled = Policy::parse(&record.text).map_err(|e| e.message)?;
        self.key_policies.insert(
            record.key_id,
            KeyPolicy {
                text: record.text,
                compiled,
            },
        );
        Ok(())
    }

    pub(crate) fn restore_grant(&mut self, grant: GrantRecord) {
        self.grants.entry(grant.key_id).or_default().insert(grant);
    }

    /// Every key policy and grant record key, in order.
    pub(crate) fn key_access_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        let policies = self.key_policies.keys().map(|id| RecordKey::KeyPolicy(*id));
        let grants = self.grants.iter().flat_map(|(key_id, g)| {
            g.by_id
                .keys()
                .map(move |grant_id| RecordKey::Grant(*key_id, grant_id.clone()))
        });
        policies.chain(grants)
    }
}

/// Whether `a` and `b` are the same grant request: name, grantee, retiring principal,
/// operations and constraints.
fn same_terms(a: &GrantRecord, b: &GrantRecord) -> bool {
    let ops = |g: &GrantRecord| {
        let mut ops = g.operations.clone();
        ops.sort();
        ops.dedup();
        ops
    };
    a.name == b.name
        && a.grantee == b.grantee
        && a.retiring == b.retiring
        && a.constraints == b.constraints
        && ops(a) == ops(b)
}
