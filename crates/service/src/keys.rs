//! Key life cycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription.

use serde_json::{json, Value};
use trent_model::{
    Error, KeyId, KeyMetadata, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, Tag,
    WrappedMaterial, FIRST_MATERIAL_VERSION,
};
use trent_state::{Command, Outcome, State};
use uuid::Uuid;

use crate::authz::{Allowed, Ask};
use crate::resolve::{find_key, parse_key_ref, Aliases, KeyRef};
use crate::types::{
    epoch_seconds, CreateKeyRequest, KeyIdRequest, KeyMetadataOut, ListRequest,
    ScheduleKeyDeletionRequest, TagEntry, UpdateKeyDescriptionRequest,
};
use crate::{required, Action, Call, OpError, Service};

/// AWS's limit of tags on a key.
const MAX_TAGS: usize = 50;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl Service {
    pub async fn create_key(&self, call: &Call, req: CreateKeyRequest) -> Result<Value, OpError> {
        refuse_unsupported_create_options(&req)?;
        let (spec, usage) = spec_and_usage(&req)?;
        let description = req.description.unwrap_or_default();
        let origin = match req.origin {
            Some(text) => Origin::parse_field(&text, "origin")?,
            None => Origin::AwsKms,
        };
        match origin {
            Origin::AwsKms => {}
            Origin::External => crate::import::check_external_spec(spec)?,
            other => return Err(unsupported(format!("Origin {other}"))),
        }
        let tags = validate_tags(req.tags.unwrap_or_default())?;
        let key_id = KeyId(Uuid::new_v4());
        let bypass = req.bypass_policy_lockout_safety_check == Some(true);
        let policy = req.policy;
        self.read_for(call, |s| -> Result<(), Error> {
            self.authorize_account(s, call, Action::CreateKey)?;
            if let Some(text) = &policy {
                let arn = trent_model::Arn::kms(
                    self.region(),
                    &call.caller.account,
                    format!("key/{key_id}"),
                );
                self.check_key_policy(s, call, &arn, text, bypass)?;
            }
            Ok(())
        })
        .await??;
        let now = self.now().await?;
        // An EXTERNAL key has no material until one is imported.
        let material = match origin {
            Origin::External => vec![],
            _ => vec![WrappedMaterial {
                version: FIRST_MATERIAL_VERSION,
                created: now,
                blob: self.generate_material(key_id, spec).await?,
            }],
        };
        let mut metadata = KeyMetadata::symmetric(
            key_id,
            call.caller.account.clone(),
            self.region(),
            now,
            description,
        );
        metadata.key_spec = spec;
        metadata.key_usage = usage;
        if origin == Origin::External {
            metadata.origin = origin;
            metadata.key_state = KeyState::PendingImport;
        }
        let record = KeyRecord {
            metadata,
            tags,
            material,
            last_usage: None,
        };
        let max_keys_per_account = Some(self.limits().keys_per_account);
        let command = match policy {
            None => Command::CreateKey {
                record,
                max_keys_per_account,
            },
            Some(policy) => Command::CreateKeyWithPolicy {
                record,
                max_keys_per_account,
                policy,
            },
        };
        // A retried CreateKey answers the key the first attempt created.
        created(self.write(call, command).await?)
    }

    pub async fn describe_key(&self, call: &Call, req: KeyIdRequest) -> Result<Value, OpError> {
        let ask = Ask::default();
        let action = Action::DescribeKey;
        let out = self
            .with_key(
                call,
                req.key_id,
                Aliases::Accepted,
                action,
                ask,
                |s, key, _| {
                    let imports = s.key_import(&key.metadata.key_id);
                    Ok(KeyMetadataOut::from(key).with_imports(&key.metadata, imports))
                },
            )
            .await?;
        Ok(json!({ "KeyMetadata": out }))
    }

    pub async fn list_keys(&self, call: &Call, req: ListRequest) -> Result<Value, OpError> {
        let limit = page_limit(req.limit, 100);
        let after = match req.marker {
            None => None,
            Some(m) => Some(m.parse::<KeyId>().map_err(|_| Error::invalid_marker())?),
        };
        let account = &call.caller.account;
        let (page, more) = self
            .read_for(call, |s| {
                self.authorize_account(s, call, Action::ListKeys)?;
                let mut page: Vec<_> = s
                    .keys(account, after, limit + 1)
                    .map(|k| k.metadata.clone())
                    .collect();
                let more = page.len() > limit;
                page.truncate(limit);
                Ok::<_, Error>((page, more))
            })
            .await??;
        let keys: Vec<Value> = page
            .iter()
            .map(|m| json!({"KeyId": m.key_id.to_string(), "KeyArn": m.arn().to_string()}))
            .collect();
        let mut out = json!({ "Keys": keys, "Truncated": more });
        if more {
            out["NextMarker"] = json!(page.last().expect("a full page").key_id.to_string());
        }
        Ok(out)
    }

    pub async fn enable_key(&self, call: &Call, req: KeyIdRequest) -> Result<Value, OpError> {
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::EnableKey)
            .await?;
        let key_id = key.metadata.key_id;
        self.write(call, Command::EnableKey { key_id }).await?;
        Ok(json!({}))
    }

    pub async fn disable_key(&self, call: &Call, req: KeyIdRequest) -> Result<Value, OpError> {
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::DisableKey)
            .await?;
        let key_id = key.metadata.key_id;
        self.write(call, Command::DisableKey { key_id }).await?;
        Ok(json!({}))
    }

    pub async fn schedule_key_deletion(
        &self,
        call: &Call,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<Value, OpError> {
        let days = match req.pending_window_in_days {
            None => 30,
            Some(d @ 7..=30) => d as u32,
            Some(d) => return Err(Error::pending_window(d).into()),
        };
        let key = self
            .key_for(
                call,
                req.key_id,
                Aliases::Refused,
                Action::ScheduleKeyDeletion,
            )
            .await?;
        let command = Command::ScheduleKeyDeletion {
            key_id: key.metadata.key_id,
            deletion_date: self.now().await? + days as u64 * DAY_MS,
            pending_window_days: days,
        };
        scheduled(self.write(call, command).await?)
    }

    pub async fn cancel_key_deletion(
        &self,
        call: &Call,
        req: KeyIdRequest,
    ) -> Result<Value, OpError> {
        let key = self
            .key_for(
                call,
                req.key_id,
                Aliases::Refused,
                Action::CancelKeyDeletion,
            )
            .await?;
        let key_id = key.metadata.key_id;
        cancelled(
            self.write(call, Command::CancelKeyDeletion { key_id })
                .await?,
        )
    }

    pub async fn update_key_description(
        &self,
        call: &Call,
        req: UpdateKeyDescriptionRequest,
    ) -> Result<Value, OpError> {
        let description = required(req.description, "description")?;
        let key = self
            .key_for(
                call,
                req.key_id,
                Aliases::Refused,
                Action::UpdateKeyDescription,
            )
            .await?;
        let command = Command::UpdateKeyDescription {
            key_id: key.metadata.key_id,
            description,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    /// Runs `use_key` on the key a `KeyId` member names, read behind the barrier and
    /// authorized for `action`, while the state is read: the hot path of the cryptographic
    /// operations, which need a few fields of the record, not a copy of it.
    pub(crate) async fn with_key<T>(
        &self,
        call: &Call,
        key_id: Option<String>,
        aliases: Aliases,
        action: Action,
        ask: Ask<'_>,
        use_key: impl FnOnce(&State, &KeyRecord, Allowed) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let text = required(key_id, "keyId")?;
        let key_ref = parse_key_ref(&text, self.region(), aliases)?;
        let alias = match &key_ref {
            KeyRef::Alias(name) | KeyRef::AliasArn(_, name) => Some(name.to_string()),
            _ => None,
        };
        let ask = Ask {
            request_alias: alias.as_deref(),
            ..ask
        };
        self.read_for(call, |s| {
            let key = find_key(s, &call.caller, self.region(), &key_ref)?;
            let allowed = self.authorize(s, call, key, action, &ask)?;
            use_key(s, key, allowed)
        })
        .await?
    }

    /// [`Service::with_key`] for the operations that take a key id or key ARN only and ask
    /// nothing beyond the action.
    pub(crate) async fn with_key_id<T>(
        &self,
        call: &Call,
        key_id: Option<String>,
        action: Action,
        use_key: impl FnOnce(&State, &KeyRecord, Allowed) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let ask = Ask::default();
        self.with_key(call, key_id, Aliases::Refused, action, ask, use_key)
            .await
    }

    /// The key a `KeyId` member names, read behind the barrier and authorized for `action`.
    pub(crate) async fn key_for(
        &self,
        call: &Call,
        key_id: Option<String>,
        aliases: Aliases,
        action: Action,
    ) -> Result<KeyRecord, OpError> {
        self.with_key(
            call,
            key_id,
            aliases,
            action,
            Ask::default(),
            |_, key, _| Ok(key.clone()),
        )
        .await
    }
}

/// CreateKey's answer, from what applying it produced.
pub(crate) fn created(outcome: Outcome) -> Result<Value, OpError> {
    let metadata = expect_key(outcome)?;
    // A key is created with its first material version, an EXTERNAL key with none (the
    // remembered outcome holds the metadata only).
    let material = (metadata.origin != Origin::External).then_some(FIRST_MATERIAL_VERSION);
    let out = KeyMetadataOut::new(&metadata, material);
    Ok(json!({ "KeyMetadata": out }))
}

/// ScheduleKeyDeletion's answer, from what applying it produced.
pub(crate) fn scheduled(outcome: Outcome) -> Result<Value, OpError> {
    let m = expect_key(outcome)?;
    Ok(json!({
        "KeyId": m.arn().to_string(),
        "DeletionDate": m.deletion_date.map(epoch_seconds),
        "KeyState": m.key_state.as_str(),
        "PendingWindowInDays": m.pending_window_days,
    }))
}

/// CancelKeyDeletion's answer, from what applying it produced.
pub(crate) fn cancelled(outcome: Outcome) -> Result<Value, OpError> {
    let m = expect_key(outcome)?;
    Ok(json!({ "KeyId": m.arn().to_string() }))
}

fn expect_key(outcome: Outcome) -> Result<KeyMetadata, OpError> {
    match outcome {
        Outcome::Key(m) => Ok(*m),
        other => Err(Error::internal(format!("unexpected outcome {other:?}")).into()),
    }
}

impl Service {
    /// The first material of a new key of `spec`, wrapped. Asymmetric generation (RSA-4096
    /// takes up to seconds) runs off the async runtime, so the leader's other requests go on.
    async fn generate_material(&self, key_id: KeyId, spec: KeySpec) -> Result<Vec<u8>, OpError> {
        if spec == KeySpec::SymmetricDefault {
            return Ok(self
                .hsm()
                .generate_symmetric(key_id, FIRST_MATERIAL_VERSION)?);
        }
        let hsm = self.hsm_shared();
        let generated =
            tokio::task::spawn_blocking(move || hsm.generate(key_id, FIRST_MATERIAL_VERSION, spec))
                .await
                .map_err(|_| Error::internal("key generation stopped"))?;
        Ok(generated?)
    }
}

/// CreateKey's `KeySpec` (or the deprecated `CustomerMasterKeySpec`) and `KeyUsage`, with
/// AWS's defaults (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) and its rule on which go together.
fn spec_and_usage(req: &CreateKeyRequest) -> Result<(KeySpec, KeyUsage), Error> {
    let spec = match (&req.key_spec, &req.customer_master_key_spec) {
        (Some(text), _) => KeySpec::parse_field(text, "keySpec")?,
        (None, Some(text)) => KeySpec::parse_field(text, "customerMasterKeySpec")?,
        (None, None) => KeySpec::SymmetricDefault,
    };
    if spec == KeySpec::Sm2 {
        return Err(Error::key_spec_china_only(spec));
    }
    let usage = match &req.key_usage {
        Some(text) => KeyUsage::parse_field(text, "keyUsage")?,
        None => KeyUsage::EncryptDecrypt,
    };
    spec.check_usage(usage)?;
    Ok((spec, usage))
}

fn unsupported(what: impl std::fmt::Display) -> OpError {
    Error::unsupported(what).into()
}

fn refuse_unsupported_create_options(req: &CreateKeyRequest) -> Result<(), OpError> {
    let unsupported_set = [
        ("CustomKeyStoreId", req.custom_key_store_id.is_some()),
        ("XksKeyId", req.xks_key_id.is_some()),
        ("MultiRegion", req.multi_region == Some(true)),
    ];
    match unsupported_set.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(unsupported(name)),
        None => Ok(()),
    }
}

/// `Limit` (its range is the model's to check), `default` when absent.
pub(crate) fn page_limit(limit: Option<i64>, default: usize) -> usize {
    limit.map_or(default, |n| n as usize)
}

/// Tags as AWS takes them (their lengths are the model's to check): at most 50, keys
/// unique, none under `aws:` (in any case).
pub(crate) fn validate_tags(tags: Vec<TagEntry>) -> Result<Vec<Tag>, Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::too_many_tags());
    }
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for t in tags {
        if t.tag_key.len() >= 4 && t.tag_key[..4].eq_ignore_ascii_case("aws:") {
            return Err(Error::reserved_tag());
        }
        if out.iter().any(|o| o.key == t.tag_key) {
            return Err(Error::duplicate_tag_keys());
        }
        out.push(Tag {
            key: t.tag_key.clone(),
            value: t.tag_value.clone(),
        });
    }
    Ok(out)
}
