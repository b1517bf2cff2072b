//! Authorization: may this caller perform this action on this key? The one place it is
//! decided, for every operation.
//!
//! [`Service::authorize`] builds the request context AWS KMS gives a policy (the action, the
//! caller, the key and its properties, tags and aliases, the encryption context, the time)
//! and asks trent-policy with the key's policy (AWS's default when the key has none of its
//! own) and the caller's identity policies. An explicit deny in either ends it. Otherwise,
//! where the policies do not allow, a grant on the key for the caller that allows the
//! operation (its constraints met) does. The state is read once, under the same read as the
//! rest of the operation, so a policy change or a revoked grant acknowledged before the
//! request arrived is honoured (the read barrier).
//!
//! Account-level actions (CreateKey, ListKeys, ListAliases, ListRetirableGrants) have no
//! key: [`Service::authorize_account`] asks the caller's identity policies alone, as AWS does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use trent_model::{
    parse_grant_token, AccountId, Arn, Error, GrantOperation, KeyId, KeyRecord, Principal,
};
use trent_policy::{ContextValue, Outcome, Policy, Request};
use trent_state::State;

use crate::{Call, Service};

/// A KMS action, named as in IAM policies (`kms:Encrypt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CancelKeyDeletion,
    CreateAlias,
    CreateGrant,
    CreateKey,
    Decrypt,
    DeleteAlias,
    DescribeKey,
    DisableKey,
    EnableKey,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GetKeyLastUsage,
    GetKeyPolicy,
    ListAliases,
    ListGrants,
    ListKeyPolicies,
    ListKeys,
    ListResourceTags,
    ListRetirableGrants,
    PutKeyPolicy,
    ReEncryptFrom,
    ReEncryptTo,
    RetireGrant,
    RevokeGrant,
    ScheduleKeyDeletion,
    TagResource,
    UntagResource,
    UpdateAlias,
    UpdateKeyDescription,
    Sign,
    Verify,
    GetPublicKey,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    Encapsulate,
    Decapsulate,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    GetParametersForImport,
    ImportKeyMaterial,
    DeleteImportedKeyMaterial,
}

impl Action {
    pub fn iam_name(self) -> String {
        format!("kms:{self:?}")
    }

    /// The operation's name, as AWS names it in messages.
    pub fn operation(self) -> String {
        format!("{self:?}")
    }

    /// The grant operation that allows this action, if a grant can allow it at all.
    pub fn grant_operation(self) -> Option<GrantOperation> {
        use GrantOperation as G;
        Some(match self {
            Action::Decrypt => G::Decrypt,
            Action::Encrypt => G::Encrypt,
            Action::GenerateDataKey => G::GenerateDataKey,
            Action::GenerateDataKeyWithoutPlaintext => G::GenerateDataKeyWithoutPlaintext,
            Action::ReEncryptFrom => G::ReEncryptFrom,
            Action::ReEncryptTo => G::ReEncryptTo,
            Action::CreateGrant => G::CreateGrant,
            Action::RetireGrant => G::RetireGrant,
            Action::DescribeKey => G::DescribeKey,
            Action::Sign => G::Sign,
            Action::Verify => G::Verify,
            Action::GetPublicKey => G::GetPublicKey,
            Action::GenerateMac => G::GenerateMac,
            Action::VerifyMac => G::VerifyMac,
            Action::DeriveSharedSecret => G::DeriveSharedSecret,
            Action::GenerateDataKeyPair => G::GenerateDataKeyPair,
            Action::GenerateDataKeyPairWithoutPlaintext => G::GenerateDataKeyPairWithoutPlaintext,
            Action::Encapsulate => G::Encapsulate,
            Action::Decapsulate => G::Decapsulate,
            _ => return None,
        })
    }
}

/// What an operation asks about its key, beyond the action: the request's own context.
#[derive(Default)]
pub(crate) struct Ask<'a> {
    /// The encryption context of a cryptographic request (also what grant constraints
    /// are checked against).
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// The alias the request named the key by (`kms:RequestAlias`).
    pub request_alias: Option<&'a str>,
    /// Further condition keys the operation sets (`kms:GrantOperations`, ...).
    pub context: Vec<(&'static str, ContextValue)>,
}

/// How a request was allowed: by the policies, or only by a grant (then CreateGrant may pass
/// on no more than that grant gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allowed {
    ByPolicy,
    ByGrant(Vec<GrantOperation>),
}

/// Compiled default key policies, one per account (the policy names the account's root).
#[derive(Default)]
pub(crate) struct DefaultPolicies(RwLock<HashMap<AccountId, Arc<Policy>>>);

impl DefaultPolicies {
    fn get(&self, account: &AccountId) -> Arc<Policy> {
        if let Some(policy) = self.0.read().expect("not poisoned").get(account) {
            return policy.clone();
        }
        let text = trent_policy::default_key_policy(account);
        let policy = Arc::new(Policy::parse(&text).expect("the default key policy parses"));
        let mut cache = self.0.write().expect("not poisoned");
        cache.entry(account.clone()).or_insert(policy).clone()
    }
}

impl Service {
    /// Whether `call` may perform `action` on `key`, read from `state`: `Ok` with how it was
    /// allowed, or AWS's `AccessDeniedException`.
    pub(crate) fn authorize(
        &self,
        state: &State,
        call: &Call,
        key: &KeyRecord,
        action: Action,
        ask: &Ask<'_>,
    ) -> Result<Allowed, Error> {
        call.audit.note_key(&key.metadata);
        let request = self.policy_request(state, call, key, action, ask);
        let default;
        let key_policy = match state.key_policy(&key.metadata.key_id) {
            Some(own) => &own.compiled,
            None => {
                default = self.default_policies().get(&key.metadata.account);
                &*default
            }
        };
        let outcome =
            trent_policy::authorize(key_policy, state.identity_policies(&call.caller), &request);
        let denial = match outcome {
            Outcome::Allow => return Ok(Allowed::ByPolicy),
            Outcome::Deny(denial) => denial,
        };
        let explicit = matches!(
            denial,
            trent_policy::Denial::ExplicitInKeyPolicy
                | trent_policy::Denial::ExplicitInIdentityPolicy
        );
        if !explicit {
            if let Some(operations) = granted(state, call, key, action, ask) {
                return Ok(Allowed::ByGrant(operations));
            }
        }
        Outcome::Deny(denial).into_result(&request)?;
        unreachable!("a denial is an error")
    }

    /// [`Service::authorize`] alone, for a cryptographic `action` on `key_id` with
    /// `encryption_context`, read from this node's state without a read barrier: what
    /// authorizing one request costs (crates/service/benches/authz.rs). Not for serving.
    #[doc(hidden)]
    pub fn authorize_for_bench(
        &self,
        call: &Call,
        key_id: &KeyId,
        action: Action,
        encryption_context: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.node().read_local(|state| {
            let key = state
                .key(key_id)
                .ok_or_else(|| Error::invalid_key_id(key_id))?;
            let ask = Ask {
                encryption_context: Some(encryption_context),
                ..Ask::default()
            };
            self.authorize(state, call, key, action, &ask).map(|_| ())
        })
    }

    /// Whether `call` may perform the account-level `action` (no key): the account's root
    /// may; a user needs an identity policy that allows it on `*`.
    pub(crate) fn authorize_account(
        &self,
        state: &State,
        call: &Call,
        action: Action,
    ) -> Result<(), Error> {
        if call.caller.user.is_none() {
            return Ok(());
        }
        let resource = Arn::kms(self.region(), &call.caller.account, "*");
        let request = Request::new(&action.iam_name(), &call.caller, &resource);
        let mut allowed = false;
        for policy in state.identity_policies(&call.caller) {
            match policy.evaluate(&request) {
                trent_policy::Decision::Deny => {
                    return Err(denied(
                        &call.caller,
                        action,
                        "with an explicit deny in an identity-based policy",
                    ))
                }
                trent_policy::Decision::Allow => allowed = true,
                trent_policy::Decision::NotApplicable => {}
            }
        }
        match allowed {
            true => Ok(()),
            false => Err(denied(
                &call.caller,
                action,
                format_args!(
                    "because no identity-based policy allows the {} action",
                    action.iam_name()
                ),
            )),
        }
    }

    /// The request as policies see it.
    fn policy_request(
        &self,
        state: &State,
        call: &Call,
        key: &KeyRecord,
        action: Action,
        ask: &Ask<'_>,
    ) -> Request {
        let m = &key.metadata;
        let mut request = Request::new(&action.iam_name(), &call.caller, &m.arn());
        request.set("kms:KeySpec", m.key_spec.as_str());
        request.set("kms:KeyUsage", m.key_usage.as_str());
        request.set("kms:KeyOrigin", m.origin.as_str());
        for tag in &key.tags {
            request.set(&format!("aws:ResourceTag/{}", tag.key), tag.value.as_str());
        }
        let aliases: Vec<String> = state
            .aliases(&m.account, Some(m.key_id))
            .map(|a| a.name.to_string())
            .collect();
        if !aliases.is_empty() {
            request.set("kms:ResourceAliases", aliases);
        }
        if let Some(alias) = ask.request_alias {
            request.set("kms:RequestAlias", alias);
        }
        if let Some(ip) = &call.origin.source_ip {
            request.set("aws:SourceIp", ip.as_str());
        }
        if let Some(secure) = call.origin.secure_transport {
            request.set("aws:SecureTransport", secure);
        }
        // The leader's clock, never behind the replicated one.
        let now = self.node().wall_clock().max(state.clock());
        request.set("aws:EpochTime", now / 1000);
        request.set("aws:CurrentTime", iso_time(now));
        for (name, value) in &ask.context {
            request.set(name, value.clone());
        }
        match ask.encryption_context {
            Some(context) => request
                .with_encryption_context(context.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            None => request,
        }
    }

    fn default_policies(&self) -> &DefaultPolicies {
        &self.inner.default_policies
    }
}

/// The operations of the caller's grants on `key` that allow `action` with the request's
/// encryption context, if any does.
fn granted(
    state: &State,
    call: &Call,
    key: &KeyRecord,
    action: Action,
    ask: &Ask<'_>,
) -> Option<Vec<GrantOperation>> {
    let operation = action.grant_operation()?;
    let arn = call.caller.arn().to_string();
    let account = call.caller.account.as_str();
    // A grantee written as an account id names the account's root.
    let names: Vec<&str> = match call.caller.user {
        Some(_) => vec![arn.as_str()],
        None => vec![arn.as_str(), account],
    };
    let empty = BTreeMap::new();
    let context = ask.encryption_context.unwrap_or(&empty);
    let found = state
        .grants_for(&key.metadata.key_id, &names)
        .find(|g| g.allows(operation) && g.constraints.as_ref().is_none_or(|c| c.admit(context)))
        .map(|g| g.operations.clone());
    found
}

fn denied(caller: &Principal, action: Action, reason: impl std::fmt::Display) -> Error {
    Error::not_authorized(caller.arn(), action.iam_name(), "*", reason)
}

/// Every grant token must be one trent issued (`InvalidGrantTokenException` otherwise).
/// Grants take effect the moment CreateGrant answers, on every node, so a token is never
/// needed to use one; it is checked for form only.
pub(crate) fn check_grant_tokens(tokens: Option<&[String]>) -> Result<(), Error> {
    match tokens
        .unwrap_or_default()
        .iter()
        .all(|t| parse_grant_token(t).is_some())
    {
        true => Ok(()),
        false => Err(Error::grant_token_invalid()),
    }
}

/// `aws:CurrentTime`'s form: ISO 8601 in UTC, to the second.
fn iso_time(millis: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((millis / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).unwrap_or_default()
}
