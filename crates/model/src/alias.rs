//! Alias names and records. An alias is a friendly name for one key in one account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Error, KeyId, Millis};

/// A validated alias name: `alias/` followed by 1..=250 of `[a-zA-Z0-9/_-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AliasName(String);

const PREFIX: &str = "alias/";
const RESERVED_PREFIX: &str = "alias/aws/";
const MAX_LEN: usize = 256;

impl AliasName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Names under `alias/aws/` belong to AWS managed keys; customers may not create them.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with(RESERVED_PREFIX)
    }
}

impl FromStr for AliasName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        // The model's length and pattern are checked before any operation runs; a name read
        // from a KeyId member is checked here.
        let Some(rest) = s.strip_prefix(PREFIX) else {
            return Err(Error::alias_prefix());
        };
        if rest.is_empty() || rest.contains(':') {
            return Err(Error::alias_characters(s));
        }
        if s.len() > MAX_LEN
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
        {
            return Err(Error::validation(
                "aliasName",
                Some(s),
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ));
        }
        Ok(AliasName(s.to_owned()))
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A replicated alias.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub account: AccountId,
    pub name: AliasName,
    pub target: KeyId,
    pub creation_date: Millis,
    pub last_updated: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_aws_alias_charset() {
        for ok in [
            "alias/a",
            "alias/my-key_1/prod",
            &format!("alias/{}", "x".repeat(250)),
        ] {
            assert!(ok.parse::<AliasName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names_in_aws_words() {
        let message = |bad: &str| bad.parse::<AliasName>().unwrap_err().message;
        for bad in ["", "my-key", "Alias/x"] {
            assert_eq!(message(bad), Error::alias_prefix().message, "{bad}");
        }
        for bad in ["alias/", "alias/a:b"] {
            assert_eq!(
                message(bad),
                format!("{bad} contains invalid characters for an alias")
            );
        }
        for bad in ["alias/a b", "alias/é"] {
            assert_eq!(
                message(bad),
                format!(
                    "1 validation error detected: Value '{bad}' at 'aliasName' failed to satisfy \
                     constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
                )
            );
        }
        let long = format!("alias/{}", "x".repeat(251));
        assert_eq!(
            long.parse::<AliasName>().unwrap_err().aws_code(),
            "ValidationException"
        );
    }

    #[test]
    fn aws_prefix_is_reserved() {
        assert!("alias/aws/s3".parse::<AliasName>().unwrap().is_reserved());
        assert!(!"alias/awsome".parse::<AliasName>().unwrap().is_reserved());
    }
}
