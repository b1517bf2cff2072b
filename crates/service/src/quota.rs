//! Request-rate quotas per account, as AWS KMS has them: one token bucket per account and
//! quota, refilled continuously at the quota's rate and holding one second's worth, so an
//! account may spend its rate in a burst but not more. A request over its account's quota is
//! answered `ThrottlingException` before it does any work beyond authentication.
//!
//! Buckets live in the memory of the node that executes requests, the leader: quotas cost no
//! Raft traffic and no disk, and a new leader starts with full buckets (a leader change can
//! let through at most one extra second's worth). Every AWS quota has its bucket per account,
//! so one account's flood never takes another account's tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use trent_model::{AccountId, Error};

/// Requests per second per account, by AWS KMS quota (`0` turns one quota off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuotas {
    /// `false`: no request is throttled.
    pub enabled: bool,
    /// "Cryptographic operations (symmetric) request rate", shared by Encrypt, Decrypt,
    /// ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom,
    /// GenerateMac and VerifyMac (AWS's table lists the HMAC operations under it).
    pub symmetric_crypto: u32,
    /// CreateKey.
    pub create_key: u32,
    /// DescribeKey (and GetKeyLastUsage, which AWS lists no quota of its own for).
    pub describe_key: u32,
    /// Each of ListKeys, ListAliases, ListResourceTags, GetKeyRotationStatus,
    /// ListKeyRotations.
    pub list: u32,
    /// Each of TagResource, UntagResource.
    pub tag: u32,
    /// Each of CreateAlias, UpdateAlias, DeleteAlias, EnableKey, DisableKey,
    /// ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription, EnableKeyRotation,
    /// DisableKeyRotation, RotateKeyOnDemand.
    pub key_management: u32,
}

impl Default for RateQuotas {
    /// AWS KMS's default request quotas (the symmetric one is AWS's base figure; some large
    /// regions get 10,000 or 100,000).
    fn default() -> Self {
        RateQuotas {
            enabled: true,
            symmetric_crypto: 5_500,
            create_key: 50,
            describe_key: 2_000,
            list: 100,
            tag: 10,
            key_management: 5,
        }
    }
}

/// The shared bucket of the symmetric cryptographic operations.
const SYMMETRIC: &str = "Cryptographic operations (symmetric)";

impl RateQuotas {
    /// The bucket `operation` draws from and its rate; `None` for an operation without one.
    fn bucket(&self, operation: &'static str) -> Option<(&'static str, u32)> {
        let rate = match operation {
            "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateRandom"
            | "GenerateMac"
            | "VerifyMac" => return Some((SYMMETRIC, self.symmetric_crypto)),
            "CreateKey" => self.create_key,
            "DescribeKey" | "GetKeyLastUsage" => self.describe_key,
            "ListKeys"
            | "ListAliases"
            | "ListResourceTags"
            | "GetKeyRotationStatus"
            | "ListKeyRotations" => self.list,
            "TagResource" | "UntagResource" => self.tag,
            "CreateAlias"
            | "UpdateAlias"
            | "DeleteAlias"
            | "EnableKey"
            | "DisableKey"
            | "ScheduleKeyDeletion"
            | "CancelKeyDeletion"
            | "UpdateKeyDescription"
            | "EnableKeyRotation"
            | "DisableKeyRotation"
            | "RotateKeyOnDemand"
            | "ImportKeyMaterial"
            | "DeleteImportedKeyMaterial" => self.key_management,
            // Each call generates an RSA key pair: it draws from the CreateKey rate.
            "GetParametersForImport" => self.create_key,
            _ => return None,
        };
        Some((operation, rate))
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every account, and how many requests each account had throttled.
pub(crate) struct Quotas {
    config: RateQuotas,
    buckets: Mutex<HashMap<(AccountId, &'static str), Bucket>>,
    throttled: Mutex<HashMap<(AccountId, &'static str), u64>>,
}

impl Quotas {
    pub(crate) fn new(config: RateQuotas) -> Quotas {
        Quotas {
            config,
            buckets: Mutex::default(),
            throttled: Mutex::default(),
        }
    }

    /// Takes a token for `account` calling `operation`, or answers `ThrottlingException`.
    pub(crate) fn admit(&self, account: &AccountId, operation: &'static str) -> Result<(), Error> {
        self.admit_at(account, operation, Instant::now())
    }

    fn admit_at(
        &self,
        account: &AccountId,
        operation: &'static str,
        now: Instant,
    ) -> Result<(), Error> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some((bucket, rate)) = self.config.bucket(operation) else {
            return Ok(());
        };
        if rate == 0 {
            return Ok(());
        }
        let rate = rate as f64;
        let admitted = {
            let mut buckets = self.buckets.lock().expect("quota lock");
            let b = buckets.entry((account.clone(), bucket)).or_insert(Bucket {
                tokens: rate,
                at: now,
            });
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(rate);
            b.at = now;
            let admitted = b.tokens >= 1.0;
            if admitted {
                b.tokens -= 1.0;
            }
            admitted
        };
        if admitted {
            return Ok(());
        }
        *self
            .throttled
            .lock()
            .expect("quota lock")
            .entry((account.clone(), operation))
            .or_default() += 1;
        Err(Error::throttled())
    }

    /// Requests throttled so far, by account and operation.
    pub(crate) fn throttled(&self) -> Vec<(AccountId, &'static str, u64)> {
        let counts = self.throttled.lock().expect("quota lock");
        counts
            .iter()
            .map(|((account, op), n)| (account.clone(), *op, *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn account(n: u8) -> AccountId {
        format!("{:012}", n).parse().unwrap()
    }

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_the_rate() {
        let q = Quotas::new(RateQuotas {
            create_key: 3,
            ..RateQuotas::default()
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            q.admit_at(&account(1), "CreateKey", t0).unwrap();
        }
        let err = q.admit_at(&account(1), "CreateKey", t0).unwrap_err();
        assert_eq!(err.aws_code(), "ThrottlingException");
        assert_eq!(err.http_status(), 400);
        // Another account, and another quota of the same account, are untouched.
        q.admit_at(&account(2), "CreateKey", t0).unwrap();
        q.admit_at(&account(1), "DescribeKey", t0).unwrap();
        // A third of a second later, one token is back.
        let later = t0 + Duration::from_millis(340);
        q.admit_at(&account(1), "CreateKey", later).unwrap();
        assert!(q.admit_at(&account(1), "CreateKey", later).is_err());
        assert_eq!(q.throttled(), vec![(account(1), "CreateKey", 2)]);
    }

    #[test]
    fn the_symmetric_operations_share_one_bucket() {
        let q = Quotas::new(RateQuotas {
            symmetric_crypto: 2,
            ..RateQuotas::default()
        });
        let t0 = Instant::now();
        q.admit_at(&account(1), "Encrypt", t0).unwrap();
        q.admit_at(&account(1), "Decrypt", t0).unwrap();
        assert!(q.admit_at(&account(1), "GenerateDataKey", t0).is_err());
        // The HMAC operations draw from it too.
        assert!(q.admit_at(&account(1), "GenerateMac", t0).is_err());
        assert!(q.admit_at(&account(1), "VerifyMac", t0).is_err());
        assert!(q.admit_at(&account(2), "VerifyMac", t0).is_ok());
    }

    #[test]
    fn quotas_turn_off() {
        for config in [
            RateQuotas {
                enabled: false,
                create_key: 1,
                ..RateQuotas::default()
            },
            RateQuotas {
                create_key: 0,
                ..RateQuotas::default()
            },
        ] {
            let q = Quotas::new(config);
            let t0 = Instant::now();
            for _ in 0..10 {
                q.admit_at(&account(1), "CreateKey", t0).unwrap();
            }
        }
    }
}
