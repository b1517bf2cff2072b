//! Key policies as operations: PutKeyPolicy, GetKeyPolicy, ListKeyPolicies, and the checks
//! CreateKey's `Policy` shares with PutKeyPolicy.
//!
//! A policy is parsed (and so validated) here, on the leader, before it is proposed; the
//! state keeps the text as written, so GetKeyPolicy answers it byte for byte. A key with no
//! policy of its own answers AWS's default key policy for its account.

use serde_json::{json, Value};
use trent_model::{Arn, Error};
use trent_policy::{lockout_check, Policy, Request};
use trent_state::{Command, State};

use crate::types::{GetKeyPolicyRequest, ListRequest, PutKeyPolicyRequest};
use crate::{required, Action, Call, OpError, Service};

/// AWS's one key policy name.
const DEFAULT_POLICY_NAME: &str = "default";

impl Service {
    pub async fn put_key_policy(
        &self,
        call: &Call,
        req: PutKeyPolicyRequest,
    ) -> Result<Value, OpError> {
        check_policy_name(req.policy_name.as_deref())?;
        let text = required(req.policy, "policy")?;
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let action = Action::PutKeyPolicy;
        let key_id = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                self.check_key_policy(s, call, &key.metadata.arn(), &text, bypass)?;
                Ok(key.metadata.key_id)
            })
            .await?;
        let command = Command::PutKeyPolicy {
            key_id,
            policy: text,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn get_key_policy(
        &self,
        call: &Call,
        req: GetKeyPolicyRequest,
    ) -> Result<Value, OpError> {
        check_policy_name(req.policy_name.as_deref())?;
        let action = Action::GetKeyPolicy;
        let text = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                Ok(match s.key_policy(&key.metadata.key_id) {
                    Some(own) => own.text.clone(),
                    None => trent_policy::default_key_policy(&key.metadata.account),
                })
            })
            .await?;
        Ok(json!({ "Policy": text, "PolicyName": DEFAULT_POLICY_NAME }))
    }

    pub async fn list_key_policies(&self, call: &Call, req: ListRequest) -> Result<Value, OpError> {
        // One policy, so there is never a second page to mark.
        if req.marker.is_some() {
            return Err(Error::invalid_marker().into());
        }
        let action = Action::ListKeyPolicies;
        self.with_key_id(call, req.key_id, action, |_, _, _| Ok(()))
            .await?;
        Ok(json!({ "PolicyNames": [DEFAULT_POLICY_NAME], "Truncated": false }))
    }

    /// Checks a key policy about to be set on the key `arn` by `call`: it parses (AWS's
    /// `MalformedPolicyDocumentException` naming the problem, `LimitExceededException` over
    /// 32 KiB) and, unless the caller bypasses it, passes the lockout safety check (the
    /// caller could put a policy on the key again).
    pub(crate) fn check_key_policy(
        &self,
        state: &State,
        call: &Call,
        arn: &Arn,
        text: &str,
        bypass: bool,
    ) -> Result<(), Error> {
        let policy = Policy::parse(text)?;
        // AWS refuses a policy that names a user who does not exist (a typo would otherwise
        // grant nothing, silently, or grant a user created later under that name).
        if policy
            .users()
            .into_iter()
            .any(|arn| !user_exists(state, arn))
        {
            return Err(Error::policy_invalid_principals());
        }
        if !bypass {
            let request = Request::new(&Action::PutKeyPolicy.iam_name(), &call.caller, arn);
            lockout_check(&policy, state.identity_policies(&call.caller), &request)?;
        }
        Ok(())
    }
}

/// Whether the user ARN `arn` (`arn:aws:iam::<account>:user/<name>`) names a user in `state`.
fn user_exists(state: &State, arn: &str) -> bool {
    let named = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":user/"))
        .and_then(|(account, name)| Some((account.parse().ok()?, name.parse().ok()?)));
    named.is_some_and(|(account, name)| state.user(&account, &name).is_some())
}

/// `PolicyName`, when given, must be `default`: a key has no other policy.
fn check_policy_name(name: Option<&str>) -> Result<(), Error> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(Error::policy_name_not_found(other)),
    }
}
