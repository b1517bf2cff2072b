//! Grants as operations: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
//! RevokeGrant.
//!
//! A grant takes effect on every node when CreateGrant answers, and stops when RetireGrant or
//! RevokeGrant answers: it is one log entry, applied before the answer, and every use of a
//! key reads the state behind the read barrier. Grant tokens are therefore never needed to
//! use a fresh grant; they are accepted (checked for form) wherever AWS takes them.
//!
//! Who may retire a grant is AWS's rule, not a policy's: its retiring principal, its grantee
//! when the grant allows RetireGrant, or the root of the account that owns the key. Revoking
//! is an ordinary action (`kms:RevokeGrant`) authorized on the key.

use serde_json::{json, Value};
use trent_model::{
    parse_grant_token, Error, GrantConstraints, GrantOperation, GrantRecord, KeyId, KeyUsage,
    Principal,
};
use trent_policy::ContextValue;
use trent_state::{Command, Outcome};

use crate::authz::{Allowed, Ask};
use crate::keys::page_limit;
use crate::resolve::{find_key, parse_key_ref, Aliases};
use crate::types::{
    epoch_seconds, CreateGrantRequest, GrantRequest, ListGrantsRequest, ListRetirableGrantsRequest,
};
use crate::{required, Action, Call, OpError, Service};

impl Service {
    pub async fn create_grant(
        &self,
        call: &Call,
        req: CreateGrantRequest,
    ) -> Result<Value, OpError> {
        refuse_service_principals(
            req.grantee_service_principal.is_some() || req.retiring_service_principal.is_some(),
        )?;
        let grantee = required(req.grantee_principal, "granteePrincipal")?;
        check_principal("GranteePrincipal", &grantee)?;
        if let Some(retiring) = &req.retiring_principal {
            check_principal("RetiringPrincipal", retiring)?;
        }
        let operations = grant_operations(&required(req.operations, "operations")?)?;
        let constraints = grant_constraints(req.constraints, &operations)?;
        let names: Vec<String> = operations.iter().map(|o| o.to_string()).collect();
        let ask = Ask {
            context: vec![
                ("kms:GrantOperations", ContextValue::Multi(names)),
                ("kms:GranteePrincipal", grantee.clone().into()),
                ("kms:GrantIsForAWSResource", false.into()),
            ]
            .into_iter()
            .chain(
                req.retiring_principal
                    .clone()
                    .map(|r| ("kms:RetiringPrincipal", r.into())),
            )
            .collect(),
            ..Ask::default()
        };
        let action = Action::CreateGrant;
        let (key_id, account) = self
            .with_key(call, req.key_id, Aliases::Refused, action, ask, |_, key, allowed| {
                check_usage(&operations, key.metadata.key_usage)?;
                if let Allowed::ByGrant(held) = allowed {
                    // A grantee passes on no more than its own grant gives.
                    if !operations.iter().all(|o| held.contains(o)) {
                        return Err(Error::not_authorized(
                            call.caller.arn(),
                            action.iam_name(),
                            key.metadata.arn(),
                            "because the grant that allows it does not give every operation asked for",
                        )
                        .into());
                    }
                }
                Ok((key.metadata.key_id, key.metadata.account.clone()))
            })
            .await?;
        crate::crypto::dry_run(req.dry_run)?;
        let grant = GrantRecord {
            key_id,
            account: account.clone(),
            grant_id: hex(&self.hsm().random(32)?),
            name: req.name,
            grantee,
            retiring: req.retiring_principal,
            operations,
            constraints,
            issuing_account: Principal::root(account).arn().to_string(),
            created: self.now().await?,
        };
        let command = Command::CreateGrant {
            grant,
            max_grants_per_key: None,
        };
        granted(self.write(call, command).await?)
    }

    pub async fn list_grants(&self, call: &Call, req: ListGrantsRequest) -> Result<Value, OpError> {
        refuse_service_principals(req.grantee_service_principal.is_some())?;
        if let Some(id) = &req.grant_id {
            check_grant_id(id)?;
        }
        let limit = page_limit(req.limit, 50).min(100);
        let marker = req.marker;
        let action = Action::ListGrants;
        let region = self.region().to_owned();
        let page = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                let after = marker.as_deref();
                if after.is_some_and(|m| check_grant_id(m).is_err()) {
                    return Err(Error::invalid_marker().into());
                }
                let page: Vec<(String, Value)> = s
                    .grants(&key.metadata.key_id, after)
                    .filter(|g| req.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
                    .filter(|g| {
                        req.grantee_principal
                            .as_ref()
                            .is_none_or(|p| &g.grantee == p)
                    })
                    .take(limit + 1)
                    .map(|g| (g.grant_id.clone(), grant_entry(g, &region)))
                    .collect();
                Ok(page)
            })
            .await?;
        Ok(paged(page, limit))
    }

    pub async fn list_retirable_grants(
        &self,
        call: &Call,
        req: ListRetirableGrantsRequest,
    ) -> Result<Value, OpError> {
        refuse_service_principals(req.retiring_service_principal.is_some())?;
        let retiring = required(req.retiring_principal, "retiringPrincipal")?;
        check_principal("RetiringPrincipal", &retiring)?;
        let limit = page_limit(req.limit, 50).min(100);
        let marker = match req.marker.as_deref() {
            None => None,
            Some(m) => Some(parse_grant_token(m).ok_or_else(Error::invalid_marker)?),
        };
        let region = self.region().to_owned();
        let page = self
            .read_for(call, |s| -> Result<Vec<(String, Value)>, Error> {
                self.authorize_account(s, call, Action::ListRetirableGrants)?;
                // Only for principals of the caller's own account: another tenant's grants
                // are not the caller's to list.
                if principal_account(&retiring) != Some(call.caller.account.as_str()) {
                    return Err(Error::not_authorized(
                        call.caller.arn(),
                        Action::ListRetirableGrants.iam_name(),
                        &retiring,
                        "because it names a principal of another account",
                    ));
                }
                let names = [retiring.as_str()];
                Ok(s.grants_retirable_by(&names)
                    .filter(|g| {
                        marker
                            .as_ref()
                            .is_none_or(|(k, id)| (g.key_id, &g.grant_id) > (*k, id))
                    })
                    .take(limit + 1)
                    // The marker names the grant by key and id, as a token does.
                    .map(|g| (g.token(), grant_entry(g, &region)))
                    .collect())
            })
            .await??;
        Ok(paged(page, limit))
    }

    pub async fn retire_grant(&self, call: &Call, req: GrantRequest) -> Result<Value, OpError> {
        let (key_ref, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
            (Some(token), _, _) => {
                let (key_id, grant_id) =
                    parse_grant_token(token).ok_or_else(Error::grant_token_invalid)?;
                (crate::resolve::KeyRef::Id(key_id), grant_id)
            }
            (None, Some(key), Some(grant)) => {
                check_grant_id(grant)?;
                (
                    parse_key_ref(key, self.region(), Aliases::Refused)?,
                    grant.clone(),
                )
            }
            _ => return Err(Error::grant_retire_target().into()),
        };
        let key_id = self
            .read_for(call, |s| -> Result<KeyId, Error> {
                // A token names its key by id alone: find it wherever it lives.
                let key = match &key_ref {
                    crate::resolve::KeyRef::Id(id) if req.grant_token.is_some() => s
                        .key(id)
                        .ok_or_else(|| Error::grant_not_found(&grant_id))?,
                    other => find_key(s, &call.caller, self.region(), other)?,
                };
                // The key the call acts on, for its event: RetireGrant does not pass
                // `authorize`, which notes it for the other operations.
                call.audit.note_key(&key.metadata);
                let grant = s
                    .grant(&key.metadata.key_id, &grant_id)
                    .ok_or_else(|| Error::grant_not_found(&grant_id))?;
                if !may_retire(&call.caller, grant) {
                    return Err(Error::not_authorized(
                        call.caller.arn(),
                        Action::RetireGrant.iam_name(),
                        key.metadata.arn(),
                        "because the caller is not the grant's retiring principal, its grantee with RetireGrant, or the key's account",
                    ));
                }
                Ok(key.metadata.key_id)
            })
            .await??;
        crate::crypto::dry_run(req.dry_run)?;
        let command = Command::RemoveGrant { key_id, grant_id };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn revoke_grant(&self, call: &Call, req: GrantRequest) -> Result<Value, OpError> {
        if req.grant_token.is_some() {
            return Err(
                Error::invalid_member("grantToken", "RevokeGrant takes KeyId and GrantId").into(),
            );
        }
        let grant_id = required(req.grant_id, "grantId")?;
        check_grant_id(&grant_id)?;
        let action = Action::RevokeGrant;
        let key_id = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                s.grant(&key.metadata.key_id, &grant_id)
                    .ok_or_else(|| Error::grant_not_found(&grant_id))?;
                Ok(key.metadata.key_id)
            })
            .await?;
        crate::crypto::dry_run(req.dry_run)?;
        let command = Command::RemoveGrant { key_id, grant_id };
        self.write(call, command).await?;
        Ok(json!({}))
    }
}

/// CreateGrant's answer, from what applying it produced.
pub(crate) fn granted(outcome: Outcome) -> Result<Value, OpError> {
    match outcome {
        Outcome::Grant(token) => {
            let (_, grant_id) = parse_grant_token(&token)
                .ok_or_else(|| Error::internal("the state answered a malformed grant token"))?;
            Ok(json!({ "GrantId": grant_id, "GrantToken": token }))
        }
        other => Err(Error::internal(format!("unexpected outcome {other:?}")).into()),
    }
}

fn refuse_service_principals(given: bool) -> Result<(), Error> {
    match given {
        true => Err(Error::unsupported(
            "Service principals (trent runs no AWS services)",
        )),
        false => Ok(()),
    }
}

/// A principal a grant may name: an account id, an account's root, or an IAM user or role.
fn check_principal(field: &str, value: &str) -> Result<(), Error> {
    match principal_account(value) {
        Some(_) => Ok(()),
        None => Err(Error::grant_principal(field, value)),
    }
}

/// The account of a principal as a grant names it, if it is one.
fn principal_account(value: &str) -> Option<&str> {
    let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if is_account(value) {
        return Some(value);
    }
    let rest = value.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty())
    };
    let ok = resource == "root" || named("user/") || named("role/");
    (is_account(account) && ok).then_some(account)
}

fn grant_operations(names: &[String]) -> Result<Vec<GrantOperation>, Error> {
    let mut operations = Vec::with_capacity(names.len());
    for name in names {
        let op: GrantOperation = name.parse().map_err(|_| {
            Error::validation(
                "operations",
                Some(name),
                "Member must satisfy enum value set of GrantOperation",
            )
        })?;
        if !operations.contains(&op) {
            operations.push(op);
        }
    }
    Ok(operations)
}

fn grant_constraints(
    given: Option<crate::types::GrantConstraintsEntry>,
    operations: &[GrantOperation],
) -> Result<Option<GrantConstraints>, Error> {
    let Some(given) = given else { return Ok(None) };
    if given.source_arn.is_some() {
        return Err(Error::unsupported("Constraints.SourceArn"));
    }
    let constraints = GrantConstraints {
        subset: given.encryption_context_subset,
        equals: given.encryption_context_equals,
    };
    if constraints.subset.is_none() && constraints.equals.is_none() {
        return Ok(None);
    }
    let without: Vec<&str> = operations
        .iter()
        .filter(|o| !o.takes_encryption_context())
        .map(|o| o.as_str())
        .collect();
    if !without.is_empty() {
        return Err(Error::grant_constraints_operations(without.join(", ")));
    }
    Ok(Some(constraints))
}

/// The operations a grant may carry for a key of this usage (AWS's rule).
fn check_usage(operations: &[GrantOperation], usage: KeyUsage) -> Result<(), Error> {
    use GrantOperation::*;
    let allowed = |op: &GrantOperation| match usage {
        KeyUsage::EncryptDecrypt => matches!(
            op,
            Decrypt
                | Encrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | ReEncryptFrom
                | ReEncryptTo
                | CreateGrant
                | RetireGrant
                | DescribeKey
                | GenerateDataKeyPair
                | GenerateDataKeyPairWithoutPlaintext
                | GetPublicKey
        ),
        KeyUsage::SignVerify => matches!(
            op,
            Sign | Verify | GetPublicKey | CreateGrant | RetireGrant | DescribeKey
        ),
        KeyUsage::GenerateVerifyMac => matches!(
            op,
            GenerateMac | VerifyMac | CreateGrant | RetireGrant | DescribeKey
        ),
        KeyUsage::KeyAgreement => matches!(
            op,
            DeriveSharedSecret | GetPublicKey | CreateGrant | RetireGrant | DescribeKey
        ),
        KeyUsage::EncapsulateDecapsulate => matches!(
            op,
            Encapsulate | Decapsulate | GetPublicKey | CreateGrant | RetireGrant | DescribeKey
        ),
    };
    let refused: Vec<&str> = operations
        .iter()
        .filter(|o| !allowed(o))
        .map(|o| o.as_str())
        .collect();
    match refused.is_empty() {
        true => Ok(()),
        false => Err(Error::grant_operations_for_usage(
            refused.join(", "),
            usage.as_str(),
        )),
    }
}

/// A grant id is 64 hexadecimal digits (`InvalidGrantIdException` otherwise).
fn check_grant_id(id: &str) -> Result<(), Error> {
    match id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(()),
        false => Err(Error::grant_id_invalid(id)),
    }
}

/// AWS's rule for RetireGrant.
fn may_retire(caller: &Principal, grant: &GrantRecord) -> bool {
    let arn = caller.arn().to_string();
    let is =
        |named: &str| named == arn || (caller.user.is_none() && named == caller.account.as_str());
    let retiring = grant.retiring.as_deref().is_some_and(is);
    let grantee = grant.allows(GrantOperation::RetireGrant) && is(&grant.grantee);
    let owner = caller.user.is_none() && caller.account == grant.account;
    retiring || grantee || owner
}

fn grant_entry(g: &GrantRecord, region: &str) -> Value {
    let key_arn = trent_model::Arn::kms(region, &g.account, format!("key/{}", g.key_id));
    let mut entry = json!({
        "KeyId": key_arn.to_string(),
        "GrantId": g.grant_id,
        "CreationDate": epoch_seconds(g.created),
        "GranteePrincipal": g.grantee,
        "IssuingAccount": g.issuing_account,
        "Operations": g.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
    });
    if let Some(name) = &g.name {
        entry["Name"] = json!(name);
    }
    if let Some(retiring) = &g.retiring {
        entry["RetiringPrincipal"] = json!(retiring);
    }
    if let Some(c) = &g.constraints {
        let mut constraints = json!({});
        if let Some(subset) = &c.subset {
            constraints["EncryptionContextSubset"] = json!(subset);
        }
        if let Some(equals) = &c.equals {
            constraints["EncryptionContextEquals"] = json!(equals);
        }
        entry["Constraints"] = constraints;
    }
    entry
}

/// A page of `limit` grants out of `entries` (at most `limit + 1`, each with the marker that
/// resumes after it), with AWS's `Truncated` and `NextMarker`.
fn paged(mut entries: Vec<(String, Value)>, limit: usize) -> Value {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = more.then(|| entries[limit - 1].0.clone());
    let grants: Vec<Value> = entries.into_iter().map(|(_, entry)| entry).collect();
    let mut out = json!({ "Grants": grants, "Truncated": more });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
