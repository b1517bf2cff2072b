//! Authorization: may this caller perform this action on this key?
//!
//! Until key policies and grants arrive, every key carries the AWS *default key policy*: the
//! principals of the key's account (its root and its users) may use and manage it; no one
//! else may. [`Authorizer`] is the seam where full policy evaluation will plug in.

use trent_model::{Error, KeyMetadata, Principal};

/// A KMS action, named as in IAM policies (`kms:Encrypt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CancelKeyDeletion,
    CreateAlias,
    Decrypt,
    DeleteAlias,
    DescribeKey,
    DisableKey,
    EnableKey,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GetKeyLastUsage,
    ListAliases,
    ListResourceTags,
    ReEncryptFrom,
    ReEncryptTo,
    ScheduleKeyDeletion,
    TagResource,
    UntagResource,
    UpdateAlias,
    UpdateKeyDescription,
}

impl Action {
    pub fn iam_name(self) -> String {
        format!("kms:{self:?}")
    }

    /// The operation's name, as AWS names it in messages.
    pub fn operation(self) -> String {
        format!("{self:?}")
    }
}

pub trait Authorizer: Send + Sync + 'static {
    fn authorize(&self, caller: &Principal, action: Action, key: &KeyMetadata)
        -> Result<(), Error>;
}

/// The AWS default key policy: full access for the key's own account.
pub struct DefaultKeyPolicy;

impl Authorizer for DefaultKeyPolicy {
    fn authorize(
        &self,
        caller: &Principal,
        action: Action,
        key: &KeyMetadata,
    ) -> Result<(), Error> {
        if caller.account == key.account {
            return Ok(());
        }
        Err(Error::not_authorized(
            caller.arn(),
            action.iam_name(),
            key.arn(),
            format_args!(
                "because no resource-based policy allows the {} action",
                action.iam_name()
            ),
        ))
    }
}
