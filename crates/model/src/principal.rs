//! Principals: who calls. An account has a root principal and IAM-style users; a caller
//! authenticates with an access key that belongs to one of them. Access key secrets are kept
//! only wrapped under the domain key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Arn, Error, Millis};

/// The inline policy that makes a user an administrator: of its account's keys and
/// principals, and in the operator account of the cluster too. `trent admin make-admin`
/// puts it under [`ADMINISTRATOR_POLICY_NAME`].
pub const ADMINISTRATOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","iam:*","trent:*"],"Resource":"*"}]}"#;
pub const ADMINISTRATOR_POLICY_NAME: &str = "AdministratorAccess";

/// An IAM user name: 1..=64 of `[A-Za-z0-9+=,.@_-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserName(String);

impl UserName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 64 {
            let constraint = match s.is_empty() {
                true => "Member must have length greater than or equal to 1",
                false => "Member must have length less than or equal to 64",
            };
            return Err(Error::validation("userName", Some(s), constraint));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        {
            return Err(Error::validation(
                "userName",
                Some(s),
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
            ));
        }
        Ok(UserName(s.to_owned()))
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authenticated caller: an account's root, or one of its users.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub account: AccountId,
    /// `None` for the account's root.
    pub user: Option<UserName>,
}

impl Principal {
    pub fn root(account: AccountId) -> Principal {
        Principal {
            account,
            user: None,
        }
    }

    /// `arn:aws:iam::<account>:root` or `arn:aws:iam::<account>:user/<name>`.
    pub fn arn(&self) -> Arn {
        Arn {
            partition: "aws".into(),
            service: "iam".into(),
            region: String::new(),
            account: self.account.as_str().into(),
            resource: match &self.user {
                None => "root".into(),
                Some(name) => format!("user/{name}"),
            },
        }
    }
}

/// A user of an account, as the replicated state holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub account: AccountId,
    pub name: UserName,
    pub created: Millis,
}

/// An access key: its id, its owner and its secret wrapped under the domain key (with the
/// access key id as the wrapping label). `Debug` shows neither the secret nor its wrapping.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub owner: Principal,
    pub wrapped_secret: Vec<u8>,
    pub created: Millis,
}

impl fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("owner", &self.owner)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Validates an access key id: 16..=128 of `[A-Z0-9]`, as IAM issues them.
pub fn validate_access_key_id(id: &str) -> Result<(), Error> {
    if id.len() < 16 || id.len() > 128 {
        let constraint = match id.len() < 16 {
            true => "Member must have length greater than or equal to 16",
            false => "Member must have length less than or equal to 128",
        };
        return Err(Error::validation("accessKeyId", Some(id), constraint));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(Error::validation(
            "accessKeyId",
            Some(id),
            "Member must satisfy regular expression pattern: [A-Z0-9]+",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_arns_follow_iam() {
        let account: AccountId = "111122223333".parse().unwrap();
        assert_eq!(
            Principal::root(account.clone()).arn().to_string(),
            "arn:aws:iam::111122223333:root"
        );
        let alice = Principal {
            account,
            user: Some("alice".parse().unwrap()),
        };
        assert_eq!(
            alice.arn().to_string(),
            "arn:aws:iam::111122223333:user/alice"
        );
    }

    #[test]
    fn user_names_and_access_key_ids_are_validated() {
        assert!("a.b@c+d=e,f_g-h".parse::<UserName>().is_ok());
        for bad in ["", "a b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<UserName>().is_err(), "{bad}");
        }
        assert!(validate_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(validate_access_key_id("akiaiosfodnn7example").is_err());
        assert!(validate_access_key_id("AKIA").is_err());
    }

    #[test]
    fn debug_hides_the_wrapped_secret() {
        let record = AccessKeyRecord {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            owner: Principal::root("111122223333".parse().unwrap()),
            wrapped_secret: vec![0xAB; 40],
            created: 0,
        };
        let shown = format!("{record:?}");
        assert!(
            !shown.contains("171") && !shown.contains("wrapped"),
            "{shown}"
        );
    }
}
