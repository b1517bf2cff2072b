//! Finding the key a request names. AWS accepts a key id, a key ARN, an alias name or an
//! alias ARN, depending on the operation; a bare id or alias name refers to the caller's own
//! account, an ARN to the account it names.

use trent_model::{AccountId, AliasName, Arn, Error, ErrorKind, KeyId, KeyRecord, Principal};
use trent_state::State;

/// What a `KeyId` member says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(KeyId),
    KeyArn(AccountId, KeyId),
    Alias(AliasName),
    AliasArn(AccountId, AliasName),
}

/// Whether an operation accepts aliases for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliases {
    Accepted,
    Refused,
}

const MAX_KEY_ID_LEN: usize = 2048;

/// Parses a `KeyId`-like member named `field` in `region`.
pub fn parse_key_ref(
    s: &str,
    field: &str,
    region: &str,
    aliases: Aliases,
) -> Result<KeyRef, Error> {
    if s.is_empty() || s.len() > MAX_KEY_ID_LEN {
        return Err(Error::validation(
            field,
            "Member must have length between 1 and 2048",
        ));
    }
    let invalid = || Error::not_found(format!("Invalid keyId '{s}'"));
    let key_ref = if s.starts_with("arn:") {
        let arn: Arn = s.parse()?;
        let account: AccountId = arn.account.parse().map_err(|_| invalid_arn(s))?;
        if arn.service != "kms" || arn.partition != "aws" {
            return Err(invalid_arn(s));
        }
        if arn.region != region {
            return Err(Error::not_found(format!(
                "{s} is in region {}, not in this service's region {region}",
                arn.region
            )));
        }
        if let Some(id) = arn.resource.strip_prefix("key/") {
            KeyRef::KeyArn(account, id.parse().map_err(|_| invalid())?)
        } else if arn.resource.starts_with("alias/") {
            KeyRef::AliasArn(account, arn.resource.parse()?)
        } else {
            return Err(invalid_arn(s));
        }
    } else if s.starts_with("alias/") {
        // A malformed alias names no key.
        KeyRef::Alias(
            s.parse()
                .map_err(|_| Error::not_found(format!("Alias {s} is not found")))?,
        )
    } else {
        KeyRef::Id(s.parse().map_err(|_| invalid())?)
    };
    if aliases == Aliases::Refused && matches!(key_ref, KeyRef::Alias(_) | KeyRef::AliasArn(..)) {
        return Err(Error::not_found(format!(
            "Invalid keyId '{s}': this operation takes a key id or key ARN, not an alias"
        )));
    }
    Ok(key_ref)
}

fn invalid_arn(s: &str) -> Error {
    Error::new(ErrorKind::InvalidArn, format!("Invalid arn {s}"))
}

/// The key `key_ref` names, for `caller`. Not found is `NotFoundException`; authorization
/// is the caller's next step.
pub fn find_key<'s>(
    state: &'s State,
    caller: &Principal,
    key_ref: &KeyRef,
) -> Result<&'s KeyRecord, Error> {
    let (account, id) = match key_ref {
        KeyRef::Id(id) => (&caller.account, *id),
        KeyRef::KeyArn(account, id) => (account, *id),
        KeyRef::Alias(name) => (&caller.account, alias_target(state, &caller.account, name)?),
        KeyRef::AliasArn(account, name) => (account, alias_target(state, account, name)?),
    };
    match state.key(&id) {
        Some(key) if &key.metadata.account == account => Ok(key),
        _ => Err(Error::not_found(format!(
            "Key '{id}' does not exist in account {account}"
        ))),
    }
}

fn alias_target(state: &State, account: &AccountId, name: &AliasName) -> Result<KeyId, Error> {
    state
        .alias(account, name)
        .map(|a| a.target)
        .ok_or_else(|| Error::not_found(format!("Alias {name} is not found.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn parse(s: &str) -> Result<KeyRef, Error> {
        parse_key_ref(s, "keyId", "eu-west-1", Aliases::Accepted)
    }

    #[test]
    fn every_accepted_form_parses() {
        let account: AccountId = "111122223333".parse().unwrap();
        assert_eq!(parse(ID).unwrap(), KeyRef::Id(ID.parse().unwrap()));
        assert_eq!(
            parse(&format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}")).unwrap(),
            KeyRef::KeyArn(account.clone(), ID.parse().unwrap())
        );
        assert_eq!(
            parse("alias/app").unwrap(),
            KeyRef::Alias("alias/app".parse().unwrap())
        );
        assert_eq!(
            parse("arn:aws:kms:eu-west-1:111122223333:alias/app").unwrap(),
            KeyRef::AliasArn(account, "alias/app".parse().unwrap())
        );
    }

    #[test]
    fn malformed_references_name_the_problem() {
        let code = |s: &str| parse(s).unwrap_err().aws_code();
        assert_eq!(code(""), "ValidationException");
        assert_eq!(code(&"a".repeat(2049)), "ValidationException");
        assert_eq!(code("not-a-key"), "NotFoundException");
        assert_eq!(code("arn:aws:kms"), "InvalidArnException");
        assert_eq!(
            code("arn:aws:s3:eu-west-1:111122223333:key/x"),
            "InvalidArnException"
        );
        assert_eq!(
            code(&format!("arn:aws:kms:us-east-1:111122223333:key/{ID}")),
            "NotFoundException"
        );
        assert_eq!(
            code("arn:aws:kms:eu-west-1:111122223333:key/nope"),
            "NotFoundException"
        );
        assert_eq!(code("alias/"), "NotFoundException");
        let refused = parse_key_ref("alias/app", "keyId", "eu-west-1", Aliases::Refused);
        assert_eq!(refused.unwrap_err().aws_code(), "NotFoundException");
    }
}
