//! Settings of the per-account resource limits and request-rate quotas (flags, `TRENT_*`
//! variables, and the `[limits]` and `[quotas]` tables of the config file). Defaults are
//! AWS's: see [`Limits::default`] and [`RateQuotas::default`].

use clap::Args;
use serde::Deserialize;
use trent_service::{Limits, RateQuotas};

/// Limit and quota flags (the keys-per-account and aliases-per-key flags are in config.rs).
#[derive(Args, Debug, Default)]
pub struct LimitFlags {
    /// Maximum tags per key; also the most tag keys one UntagResource may name [default: 50].
    #[arg(long, env = "TRENT_MAX_TAGS_PER_KEY")]
    pub max_tags_per_key: Option<u32>,
    /// Maximum users per account [default: 5000, IAM's].
    #[arg(long, env = "TRENT_MAX_USERS_PER_ACCOUNT")]
    pub max_users_per_account: Option<u32>,
    /// Maximum access keys per user (and per account root) [default: 2, IAM's].
    #[arg(long, env = "TRENT_MAX_ACCESS_KEYS_PER_USER")]
    pub max_access_keys_per_user: Option<u32>,
    /// Throttle each account to the request-rate quotas below (ThrottlingException beyond
    /// them); `--request-quotas=false` turns every quota off [default: true].
    #[arg(long, env = "TRENT_REQUEST_QUOTAS", num_args = 0..=1, default_missing_value = "true")]
    pub request_quotas: Option<bool>,
    /// Requests per second per account shared by Encrypt, Decrypt, ReEncrypt,
    /// GenerateDataKey(WithoutPlaintext), GenerateRandom, GenerateMac and VerifyMac; 0 = unlimited [default: 5500].
    #[arg(long, env = "TRENT_QUOTA_SYMMETRIC_CRYPTO_RPS")]
    pub quota_symmetric_crypto_rps: Option<u32>,
    /// CreateKey requests per second per account; 0 = unlimited [default: 50].
    #[arg(long, env = "TRENT_QUOTA_CREATE_KEY_RPS")]
    pub quota_create_key_rps: Option<u32>,
    /// DescribeKey (and GetKeyLastUsage) requests per second per account [default: 2000].
    #[arg(long, env = "TRENT_QUOTA_DESCRIBE_KEY_RPS")]
    pub quota_describe_key_rps: Option<u32>,
    /// Requests per second per account of each of ListKeys, ListAliases, ListResourceTags
    /// [default: 100].
    #[arg(long, env = "TRENT_QUOTA_LIST_RPS")]
    pub quota_list_rps: Option<u32>,
    /// Requests per second per account of each of TagResource, UntagResource [default: 10].
    #[arg(long, env = "TRENT_QUOTA_TAG_RPS")]
    pub quota_tag_rps: Option<u32>,
    /// Requests per second per account of each alias operation, EnableKey, DisableKey,
    /// (Cancel)ScheduleKeyDeletion and UpdateKeyDescription [default: 5].
    #[arg(long, env = "TRENT_QUOTA_KEY_MANAGEMENT_RPS")]
    pub quota_key_management_rps: Option<u32>,
}

/// `[limits]` in the config file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLimits {
    pub keys_per_account: Option<u32>,
    pub aliases_per_key: Option<u32>,
    pub tags_per_key: Option<u32>,
    pub users_per_account: Option<u32>,
    pub access_keys_per_user: Option<u32>,
}

/// `[quotas]` in the config file (requests per second per account).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileQuotas {
    pub enabled: Option<bool>,
    pub symmetric_crypto_rps: Option<u32>,
    pub create_key_rps: Option<u32>,
    pub describe_key_rps: Option<u32>,
    pub list_rps: Option<u32>,
    pub tag_rps: Option<u32>,
    pub key_management_rps: Option<u32>,
}

/// Flags over the file over the defaults. `keys` and `aliases` are the older flags of
/// config.rs.
pub(crate) fn resolve(
    keys: Option<u32>,
    aliases: Option<u32>,
    flags: LimitFlags,
    file: FileLimits,
    quotas: FileQuotas,
) -> (Limits, RateQuotas) {
    let l = Limits::default();
    let limits = Limits {
        keys_per_account: keys.or(file.keys_per_account).unwrap_or(l.keys_per_account),
        aliases_per_key: aliases
            .or(file.aliases_per_key)
            .unwrap_or(l.aliases_per_key),
        tags_per_key: (flags.max_tags_per_key)
            .or(file.tags_per_key)
            .unwrap_or(l.tags_per_key),
        users_per_account: (flags.max_users_per_account)
            .or(file.users_per_account)
            .unwrap_or(l.users_per_account),
        access_keys_per_user: (flags.max_access_keys_per_user)
            .or(file.access_keys_per_user)
            .unwrap_or(l.access_keys_per_user),
    };
    let q = RateQuotas::default();
    let quotas = RateQuotas {
        enabled: flags.request_quotas.or(quotas.enabled).unwrap_or(q.enabled),
        symmetric_crypto: (flags.quota_symmetric_crypto_rps)
            .or(quotas.symmetric_crypto_rps)
            .unwrap_or(q.symmetric_crypto),
        create_key: (flags.quota_create_key_rps)
            .or(quotas.create_key_rps)
            .unwrap_or(q.create_key),
        describe_key: (flags.quota_describe_key_rps)
            .or(quotas.describe_key_rps)
            .unwrap_or(q.describe_key),
        list: flags.quota_list_rps.or(quotas.list_rps).unwrap_or(q.list),
        tag: flags.quota_tag_rps.or(quotas.tag_rps).unwrap_or(q.tag),
        key_management: (flags.quota_key_management_rps)
            .or(quotas.key_management_rps)
            .unwrap_or(q.key_management),
    };
    (limits, quotas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_over_the_defaults() {
        let file: FileLimits = toml::from_str("tags_per_key = 7\nusers_per_account = 9").unwrap();
        let quotas: FileQuotas = toml::from_str("create_key_rps = 3\nlist_rps = 4").unwrap();
        let flags = LimitFlags {
            max_tags_per_key: Some(8),
            quota_create_key_rps: Some(2),
            ..LimitFlags::default()
        };
        let (limits, quotas) = resolve(Some(1), None, flags, file, quotas);
        assert_eq!(
            (
                limits.keys_per_account,
                limits.aliases_per_key,
                limits.tags_per_key
            ),
            (1, 50, 8)
        );
        assert_eq!(
            (limits.users_per_account, limits.access_keys_per_user),
            (9, 2)
        );
        assert_eq!((quotas.create_key, quotas.list, quotas.tag), (2, 4, 10));
        assert!(quotas.enabled);
        let off = LimitFlags {
            request_quotas: Some(false),
            ..LimitFlags::default()
        };
        let (_, quotas) = resolve(
            None,
            None,
            off,
            FileLimits::default(),
            FileQuotas::default(),
        );
        assert!(!quotas.enabled);
    }
}
