//! Finding the key a request names. AWS accepts a key id, a key ARN, an alias name or an
//! alias ARN, depending on the operation; a bare id or alias name refers to the caller's own
//! account, an ARN to the account it names.

use trent_model::{AccountId, AliasName, Arn, Error, KeyId, KeyRecord, Principal};
use trent_state::State;

/// What a `KeyId` member says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(KeyId),
    KeyArn(AccountId, KeyId),
    Alias(AliasName),
    AliasArn(AccountId, AliasName),
    /// A well-formed multi-Region key id (`mrk-` and 32 hex digits), in the caller's account
    /// or the ARN's: trent holds no multi-Region keys, so it names none.
    MultiRegion(Option<AccountId>, String),
}

/// Whether an operation accepts aliases for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliases {
    Accepted,
    Refused,
}

/// Parses a `KeyId`-like member in `region` (its length is the model's to check). Answers
/// as AWS does: a malformed id is `Invalid keyId '<id>'`, an ARN of another region `Invalid
/// arn <region>`, an unknown key `Key '<key ARN>' does not exist`.
pub fn parse_key_ref(s: &str, region: &str, aliases: Aliases) -> Result<KeyRef, Error> {
    let key_ref = if s.starts_with("arn:") {
        let arn: Arn = s.parse()?;
        let account: AccountId = arn.account.parse().map_err(|_| Error::invalid_arn(s))?;
        if arn.service != "kms" || arn.partition != "aws" {
            return Err(Error::invalid_arn(s));
        }
        if arn.region != region {
            return Err(Error::arn_of_region(&arn.region));
        }
        if let Some(id) = arn.resource.strip_prefix("key/") {
            match multi_region_id(id) {
                Some(mrk) => KeyRef::MultiRegion(Some(account), mrk),
                None => KeyRef::KeyArn(account, id.parse()?),
            }
        } else if arn.resource.starts_with("alias/") {
            KeyRef::AliasArn(account, arn.resource.parse()?)
        } else {
            return Err(Error::invalid_arn(s));
        }
    } else if s.starts_with("alias/") {
        // A malformed alias names no alias.
        KeyRef::Alias(s.parse().map_err(|_| Error::alias_not_found(s))?)
    } else if let Some(mrk) = multi_region_id(s) {
        KeyRef::MultiRegion(None, mrk)
    } else {
        KeyRef::Id(s.parse()?)
    };
    if aliases == Aliases::Refused && matches!(key_ref, KeyRef::Alias(_) | KeyRef::AliasArn(..)) {
        return Err(Error::invalid_key_id(s));
    }
    Ok(key_ref)
}

/// `mrk-` and 32 lowercase hex digits: the form of AWS's multi-Region key ids.
fn multi_region_id(s: &str) -> Option<String> {
    let hex = s.strip_prefix("mrk-")?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    (hex.len() == 32 && hex.bytes().all(lower_hex)).then(|| s.to_owned())
}

/// The key `key_ref` names, for `caller`, in `region`. Not found is `NotFoundException`
/// with the key's ARN (or the alias's); authorization is the caller's next step.
pub fn find_key<'s>(
    state: &'s State,
    caller: &Principal,
    region: &str,
    key_ref: &KeyRef,
) -> Result<&'s KeyRecord, Error> {
    let missing = |account: &AccountId, id: &dyn std::fmt::Display| {
        Error::key_not_found(Arn::kms(region, account, format!("key/{id}")))
    };
    let (account, id) = match key_ref {
        KeyRef::Id(id) => (&caller.account, *id),
        KeyRef::KeyArn(account, id) => (account, *id),
        KeyRef::Alias(name) => (
            &caller.account,
            alias_target(state, region, &caller.account, name)?,
        ),
        KeyRef::AliasArn(account, name) => (account, alias_target(state, region, account, name)?),
        KeyRef::MultiRegion(account, id) => {
            return Err(missing(account.as_ref().unwrap_or(&caller.account), id))
        }
    };
    match state.key(&id) {
        Some(key) if &key.metadata.account == account => Ok(key),
        _ => Err(missing(account, &id)),
    }
}

fn alias_target(
    state: &State,
    region: &str,
    account: &AccountId,
    name: &AliasName,
) -> Result<KeyId, Error> {
    state
        .alias(account, name)
        .map(|a| a.target)
        .ok_or_else(|| Error::alias_not_found(Arn::kms(region, account, name.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn parse(s: &str) -> Result<KeyRef, Error> {
        parse_key_ref(s, "eu-west-1", Aliases::Accepted)
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
        let mrk = "mrk-d3b95762d3b95762d3b95762d3b95762";
        assert_eq!(parse(mrk).unwrap(), KeyRef::MultiRegion(None, mrk.into()));
    }

    #[test]
    fn malformed_references_are_answered_in_aws_words() {
        let error = |s: &str| {
            let e = parse(s).unwrap_err();
            (e.aws_code(), e.message)
        };
        for id in [
            "fake-key-id",
            "134f2428cec14b25a1ae9048164dba47",
            "mrk-fake-key-id",
        ] {
            assert_eq!(
                error(id),
                ("NotFoundException", format!("Invalid keyId '{id}'"))
            );
        }
        assert_eq!(
            error("arn:aws:kms"),
            ("InvalidArnException", "Invalid arn arn:aws:kms".into())
        );
        assert_eq!(
            error("arn:aws:s3:eu-west-1:111122223333:key/x").0,
            "InvalidArnException"
        );
        assert_eq!(
            error(&format!("arn:aws:kms:us-east-1:111122223333:key/{ID}")),
            ("NotFoundException", "Invalid arn us-east-1".into())
        );
        assert_eq!(
            error("arn:aws:kms:eu-west-1:111122223333:key/nope"),
            ("NotFoundException", "Invalid keyId 'nope'".into())
        );
        assert_eq!(
            error("alias/"),
            ("NotFoundException", "Alias alias/ is not found.".into())
        );
        let refused = parse_key_ref("alias/app", "eu-west-1", Aliases::Refused);
        assert_eq!(refused.unwrap_err().message, "Invalid keyId 'alias/app'");
    }
}
