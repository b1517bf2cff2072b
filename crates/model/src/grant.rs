//! Grants: permissions on one key for one grantee, beside the key policy (AWS KMS grants).
//!
//! A grant names the operations it allows, the principal that may use them (the grantee),
//! optionally a principal that may retire it, and optionally a constraint on the encryption
//! context of the cryptographic operations it allows. Grants replicate through Raft like
//! keys, so a grant works on every node once `CreateGrant` has answered, and a revoked or
//! retired one stops working everywhere once that call has answered.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AccountId, KeyId, Millis};

/// AWS's limit on grants per key.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// An operation a grant may allow, as AWS names it in `Operations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GrantOperation {
    Decrypt,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    Sign,
    Verify,
    GetPublicKey,
    CreateGrant,
    RetireGrant,
    DescribeKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
}

impl GrantOperation {
    pub const ALL: [GrantOperation; 19] = [
        GrantOperation::Decrypt,
        GrantOperation::Encrypt,
        GrantOperation::GenerateDataKey,
        GrantOperation::GenerateDataKeyWithoutPlaintext,
        GrantOperation::ReEncryptFrom,
        GrantOperation::ReEncryptTo,
        GrantOperation::Sign,
        GrantOperation::Verify,
        GrantOperation::GetPublicKey,
        GrantOperation::CreateGrant,
        GrantOperation::RetireGrant,
        GrantOperation::DescribeKey,
        GrantOperation::GenerateDataKeyPair,
        GrantOperation::GenerateDataKeyPairWithoutPlaintext,
        GrantOperation::GenerateMac,
        GrantOperation::VerifyMac,
        GrantOperation::DeriveSharedSecret,
        GrantOperation::Encapsulate,
        GrantOperation::Decapsulate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "Decrypt",
            GrantOperation::Encrypt => "Encrypt",
            GrantOperation::GenerateDataKey => "GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            GrantOperation::ReEncryptFrom => "ReEncryptFrom",
            GrantOperation::ReEncryptTo => "ReEncryptTo",
            GrantOperation::Sign => "Sign",
            GrantOperation::Verify => "Verify",
            GrantOperation::GetPublicKey => "GetPublicKey",
            GrantOperation::CreateGrant => "CreateGrant",
            GrantOperation::RetireGrant => "RetireGrant",
            GrantOperation::DescribeKey => "DescribeKey",
            GrantOperation::GenerateDataKeyPair => "GenerateDataKeyPair",
            GrantOperation::GenerateDataKeyPairWithoutPlaintext => {
                "GenerateDataKeyPairWithoutPlaintext"
            }
            GrantOperation::GenerateMac => "GenerateMac",
            GrantOperation::VerifyMac => "VerifyMac",
            GrantOperation::DeriveSharedSecret => "DeriveSharedSecret",
            GrantOperation::Encapsulate => "Encapsulate",
            GrantOperation::Decapsulate => "Decapsulate",
        }
    }

    /// Whether the operation takes an encryption context, so that a grant constraint can
    /// apply to it (AWS refuses constraints on a grant for any other operation).
    pub fn takes_encryption_context(self) -> bool {
        use GrantOperation::*;
        matches!(
            self,
            Decrypt
                | Encrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | ReEncryptFrom
                | ReEncryptTo
                | GenerateDataKeyPair
                | GenerateDataKeyPairWithoutPlaintext
                | CreateGrant
                | RetireGrant
        )
    }
}

impl FromStr for GrantOperation {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        GrantOperation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for GrantOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant's constraint on the encryption context of the requests it allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    /// Every pair here must be in the request's context (which may hold more).
    pub subset: Option<BTreeMap<String, String>>,
    /// The request's context must be exactly this.
    pub equals: Option<BTreeMap<String, String>>,
}

impl GrantConstraints {
    /// Whether a request with encryption context `context` satisfies the constraints.
    pub fn admit(&self, context: &BTreeMap<String, String>) -> bool {
        if let Some(equals) = &self.equals {
            if equals != context {
                return false;
            }
        }
        if let Some(subset) = &self.subset {
            if !subset.iter().all(|(k, v)| context.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }
}

/// One grant, as the replicated state holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub key_id: KeyId,
    /// The key's account.
    pub account: AccountId,
    /// 64 hexadecimal digits, chosen by the leader.
    pub grant_id: String,
    /// The idempotency name given at creation, if any.
    pub name: Option<String>,
    /// The grantee's principal ARN, as given.
    pub grantee: String,
    /// The principal that may retire the grant, as given.
    pub retiring: Option<String>,
    pub operations: Vec<GrantOperation>,
    pub constraints: Option<GrantConstraints>,
    /// `arn:aws:iam::<account>:root` of the account that created the grant.
    pub issuing_account: String,
    pub created: Millis,
}

impl GrantRecord {
    pub fn allows(&self, operation: GrantOperation) -> bool {
        self.operations.contains(&operation)
    }

    /// The grant token that names this grant: what `CreateGrant` answers and `RetireGrant`
    /// takes. Not a secret (AWS's are not either): holding it lets no one do anything that
    /// the grant does not already allow its grantee.
    pub fn token(&self) -> String {
        grant_token(self.key_id, &self.grant_id)
    }
}

/// The token of grant `grant_id` on `key_id`: a prefix, the key id and the grant id.
pub fn grant_token(key_id: KeyId, grant_id: &str) -> String {
    format!("trent-grant-1.{key_id}.{grant_id}")
}

/// The key and grant a token names, if it is a trent grant token at all.
pub fn parse_grant_token(token: &str) -> Option<(KeyId, String)> {
    let rest = token.strip_prefix("trent-grant-1.")?;
    let (key, grant) = rest.split_once('.')?;
    let key_id: KeyId = key.parse().ok()?;
    let valid = grant.len() == 64 && grant.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| (key_id, grant.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_grant() {
        let key_id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
        let grant = "a".repeat(64);
        let token = grant_token(key_id, &grant);
        assert_eq!(parse_grant_token(&token), Some((key_id, grant)));
        assert_eq!(parse_grant_token("AQpAM2RhZTk1MGMyNTk2ZmZmMzEyYWVhOWViN2I1MWM4Mzc0MWFiYjc0ZDE1ODkyNGFlNTIzODZhMzgyZjBlNGY3NiKIAQEBAgB4Pa6VDCWW__MSrqnre1HIN0Grt00ViSSuUjhqOC8OT3YAAADfMIHcBgkqhkiG9w0BBwaggc4wgcsCAQAwgcUGCSqGSIb3DQEHATAeBglghkgBZQMEAS4wEQQMbE"), None);
        assert_eq!(
            parse_grant_token(&format!("trent-grant-1.{key_id}.xyz")),
            None
        );
    }

    #[test]
    fn constraints_admit_by_subset_and_equality() {
        let ctx = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let subset = GrantConstraints {
            subset: Some(ctx(&[("dept", "it")])),
            equals: None,
        };
        assert!(subset.admit(&ctx(&[("dept", "it"), ("x", "y")])));
        assert!(!subset.admit(&ctx(&[("dept", "hr")])));
        assert!(!subset.admit(&ctx(&[])));
        let equals = GrantConstraints {
            subset: None,
            equals: Some(ctx(&[("dept", "it")])),
        };
        assert!(equals.admit(&ctx(&[("dept", "it")])));
        assert!(!equals.admit(&ctx(&[("dept", "it"), ("x", "y")])));
    }
}
