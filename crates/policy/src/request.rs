//! What a request brings to evaluation: the action, the caller, the resource, and the values
//! of condition keys.
//!
//! [`Request::new`] fills the keys that follow from the caller (`aws:PrincipalArn`,
//! `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` for a user, `kms:CallerAccount`);
//! every other key (`kms:EncryptionContext:<key>`, `kms:ViaService`, `aws:SourceIp`,
//! `aws:SecureTransport`, `aws:CurrentTime`, ...) is the caller's to set with
//! [`Request::with`]. The crate reads no clock: time keys are whatever the caller stamped
//! (the Raft leader's time, so every node decides alike).
//!
//! Key names are case-insensitive, as AWS's are, except the part after
//! `kms:EncryptionContext:`, which names an encryption context key and is case-sensitive (AWS
//! documents it so). Keys are stored canonical: lowercase, that suffix kept as written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_model::{Arn, Principal};

use crate::pattern::Lookup;

/// A condition key's value in a request: one value, or a set (`kms:EncryptionContextKeys`,
/// `aws:TagKeys`), which `ForAnyValue:`/`ForAllValues:` range over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContextValue {
    Single(String),
    Multi(Vec<String>),
}

impl ContextValue {
    pub(crate) fn values(&self) -> &[String] {
        match self {
            ContextValue::Single(v) => std::slice::from_ref(v),
            ContextValue::Multi(v) => v,
        }
    }
}

impl From<&str> for ContextValue {
    fn from(v: &str) -> Self {
        ContextValue::Single(v.to_owned())
    }
}
impl From<String> for ContextValue {
    fn from(v: String) -> Self {
        ContextValue::Single(v)
    }
}
impl From<bool> for ContextValue {
    fn from(v: bool) -> Self {
        ContextValue::Single(v.to_string())
    }
}
impl From<u64> for ContextValue {
    fn from(v: u64) -> Self {
        ContextValue::Single(v.to_string())
    }
}
impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        ContextValue::Multi(v)
    }
}
impl From<&[&str]> for ContextValue {
    fn from(v: &[&str]) -> Self {
        ContextValue::Multi(v.iter().map(|s| s.to_string()).collect())
    }
}

/// The caller, as principal matching sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) account: String,
    /// `None` for the account's root.
    pub(crate) user: Option<String>,
    /// `arn:aws:iam::<account>:root` or `arn:aws:iam::<account>:user/<name>`.
    pub(crate) arn: String,
}

/// One request to authorize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// As given (`kms:Encrypt`), for messages.
    pub(crate) action: String,
    /// Lowercase, for matching: action names are case-insensitive.
    pub(crate) action_key: String,
    pub(crate) caller: Caller,
    pub(crate) resource: String,
    pub(crate) resource_account: String,
    pub(crate) context: BTreeMap<String, ContextValue>,
}

impl Request {
    /// `action` (`kms:Encrypt`) by `principal` on `resource` (the key's ARN).
    pub fn new(action: &str, principal: &Principal, resource: &Arn) -> Request {
        let account = principal.account.as_str().to_owned();
        // Principal::arn, without building an Arn first.
        let arn = match &principal.user {
            None => format!("arn:aws:iam::{account}:root"),
            Some(user) => format!("arn:aws:iam::{account}:user/{user}"),
        };
        let mut request = Request {
            action: action.to_owned(),
            action_key: action.to_lowercase(),
            caller: Caller {
                account: account.clone(),
                user: principal.user.as_ref().map(|u| u.as_str().to_owned()),
                arn: arn.clone(),
            },
            resource: resource.to_string(),
            resource_account: resource.account.clone(),
            context: BTreeMap::new(),
        };
        request.set("aws:PrincipalArn", arn);
        request.set("aws:PrincipalAccount", account.clone());
        request.set("kms:CallerAccount", account);
        match &principal.user {
            Some(user) => {
                request.set("aws:PrincipalType", "User");
                request.set("aws:username", user.as_str());
            }
            None => request.set("aws:PrincipalType", "Account"),
        }
        request
    }

    /// The request with condition key `key` set to `value` (replacing any earlier value).
    pub fn with(mut self, key: &str, value: impl Into<ContextValue>) -> Request {
        self.set(key, value);
        self
    }

    /// Sets condition key `key` to `value` (replacing any earlier value).
    pub fn set(&mut self, key: &str, value: impl Into<ContextValue>) {
        self.context.insert(canonical_key(key), value.into());
    }

    /// Sets `kms:EncryptionContext:<k>` for every pair of `context` and
    /// `kms:EncryptionContextKeys` to its keys, as KMS does for a request that carries one.
    pub fn with_encryption_context<'a>(
        mut self,
        context: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Request {
        let mut keys = Vec::new();
        for (k, v) in context {
            // Already canonical: the prefix lowercase, the context key as written.
            let key = format!("kms:encryptioncontext:{k}");
            self.context.insert(key, ContextValue::Single(v.to_owned()));
            keys.push(k.to_owned());
        }
        self.set("kms:EncryptionContextKeys", keys);
        self
    }

    /// The same request for another action (the lockout check asks about `kms:PutKeyPolicy`).
    pub fn for_action(&self, action: &str) -> Request {
        Request {
            action: action.to_owned(),
            action_key: action.to_lowercase(),
            ..self.clone()
        }
    }

    /// The action as given (`kms:Encrypt`).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The caller's ARN (`arn:aws:iam::111122223333:user/alice`).
    pub fn caller_arn(&self) -> &str {
        &self.caller.arn
    }

    /// The resource's ARN.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The values of condition key `canonical` (already canonical); `None` when absent or empty.
    pub(crate) fn values(&self, canonical: &str) -> Option<&[String]> {
        self.context
            .get(canonical)
            .map(ContextValue::values)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn same_account(&self) -> bool {
        self.caller.account == self.resource_account
    }
}

impl Lookup for Request {
    /// Policy variables take single-valued keys only.
    fn variable(&self, canonical: &str) -> Option<&str> {
        match self.context.get(canonical)? {
            ContextValue::Single(v) => Some(v),
            ContextValue::Multi(_) => None,
        }
    }
}

/// The canonical form of a condition key: lowercase, except what follows
/// `kms:EncryptionContext:` (an encryption context key, case-sensitive).
pub(crate) fn canonical_key(key: &str) -> String {
    const EC: &str = "kms:encryptioncontext:";
    match key.get(..EC.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(EC) && key.len() > EC.len() => {
            format!("{EC}{}", &key[EC.len()..])
        }
        _ if !key.chars().any(char::is_uppercase) => key.to_owned(),
        _ => key.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_but_the_encryption_context_key_is_not() {
        assert_eq!(canonical_key("aws:SourceIp"), "aws:sourceip");
        assert_eq!(
            canonical_key("KMS:EncryptionContext:Department"),
            "kms:encryptioncontext:Department"
        );
        assert_eq!(
            canonical_key("kms:EncryptionContextKeys"),
            "kms:encryptioncontextkeys"
        );
    }

    #[test]
    fn the_caller_fills_its_own_keys() {
        let user = Principal {
            account: "111122223333".parse().unwrap(),
            user: Some("alice".parse().unwrap()),
        };
        let key = Arn::kms("us-east-1", &user.account, "key/k");
        let r = Request::new("kms:Encrypt", &user, &key);
        assert_eq!(r.variable("aws:username"), Some("alice"));
        assert_eq!(
            r.variable("aws:principalarn"),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        assert_eq!(r.variable("kms:calleraccount"), Some("111122223333"));
        assert_eq!(r.action_key, "kms:encrypt");
        assert!(r.same_account());
    }
}
