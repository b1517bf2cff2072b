//! Account ids and Amazon Resource Names, as KMS and IAM spell them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s.to_owned()))
        } else {
            Err(Error::validation(
                "accountId",
                Some(s),
                "Member must satisfy regular expression pattern: ^[0-9]{12}$",
            ))
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    /// The ARN of a KMS resource (`key/<id>` or `alias/<name>`) in `region` and `account`.
    pub fn kms(region: &str, account: &AccountId, resource: impl Into<String>) -> Arn {
        Arn {
            partition: "aws".into(),
            service: "kms".into(),
            region: region.into(),
            account: account.as_str().into(),
            resource: resource.into(),
        }
    }
}

impl FromStr for Arn {
    type Err = Error;
    /// Splits on the first five colons; the resource may itself contain colons or slashes.
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid_arn(s);
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(invalid());
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(invalid());
        }
        Ok(Arn {
            partition: partition.into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!("111122223333".parse::<AccountId>().is_ok());
        for bad in ["", "11112222333", "1111222233334", "11112222333a"] {
            assert!(bad.parse::<AccountId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn arns_round_trip_and_keep_colons_in_the_resource() {
        let s = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let arn: Arn = s.parse().unwrap();
        assert_eq!(arn.resource, "key/1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(arn.to_string(), s);
        let odd: Arn = "arn:aws:iam::111122223333:user/a:b".parse().unwrap();
        assert_eq!(odd.resource, "user/a:b");
        assert_eq!(odd.region, "");
    }

    #[test]
    fn malformed_arns_are_rejected() {
        for bad in [
            "",
            "arn",
            "arn:aws:kms:r:a",
            "nra:aws:kms:r:a:key/x",
            "arn::kms:r:a:key/x",
            "arn:aws:kms:r:a:",
        ] {
            let err = bad.parse::<Arn>().unwrap_err();
            assert_eq!(err.aws_code(), "InvalidArnException", "{bad}");
        }
    }
}
