//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations, and the leader's automatic rotations.
//!
//! A rotation is one log entry: the leader's HSM makes the key's next material version,
//! wrapped under the domain key, and `RotateKey` appends it (trent_state's `rotation.rs`
//! refuses it unless it is the next version, so racing rotations cannot both land). New
//! material encrypts from the moment the entry applies; every earlier version still decrypts,
//! since a ciphertext names the version that sealed it. An automatic rotation is due by the
//! cluster's trusted time (the time a majority of voters' clocks have reached), as deletion
//! is, and `apply` refuses one that is not due by the request's stamp: a leader whose clock
//! runs ahead alone rotates nothing early. An EXTERNAL key rotates on demand only, to material
//! imported for it beforehand (`ImportType=NEW_KEY_MATERIAL`, `import.rs`), which the state
//! moves from pending to current in one entry.

use serde_json::{json, Value};
use trent_model::{
    key_material_id, rotatable, rotates, Error, IncludeKeyMaterial, KeyId, KeyImportRecord,
    KeyRecord, KeyRotationRecord, KeyState, Millis, Origin, PendingMaterial, RotationType,
    WrappedMaterial, DEFAULT_ROTATION_PERIOD_DAYS, ON_DEMAND_ROTATION_LIMIT,
};
use trent_policy::ContextValue;
use trent_protocol::types::{
    epoch_seconds, EnableKeyRotationRequest, KeyIdRequest, ListKeyRotationsRequest,
};
use trent_state::{Command, Outcome, IMPORTED_ROTATION_COMMANDS, ROTATION_COMMANDS};

use crate::authz::Ask;
use crate::deletion::{every_second, system_call};
use crate::keys::page_limit;
use crate::resolve::Aliases;
use crate::{Action, Call, OpError, Service};

impl Service {
    pub async fn enable_key_rotation(
        &self,
        call: &Call,
        req: EnableKeyRotationRequest,
    ) -> Result<Value, OpError> {
        // The model bounds it to 90-2560 days before it gets here.
        let period = req
            .rotation_period_in_days
            .map_or(DEFAULT_ROTATION_PERIOD_DAYS, |days| days as u32);
        let ask = Ask {
            context: vec![(
                "kms:RotationPeriodInDays",
                ContextValue::Single(period.to_string()),
            )],
            ..Ask::default()
        };
        let action = Action::EnableKeyRotation;
        let key_id = self
            .with_key(
                call,
                req.key_id,
                Aliases::Refused,
                action,
                ask,
                rotatable_key,
            )
            .await?;
        self.require_commands(ROTATION_COMMANDS).await?;
        let command = Command::SetKeyRotation {
            key_id,
            period_days: Some(period),
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn disable_key_rotation(
        &self,
        call: &Call,
        req: KeyIdRequest,
    ) -> Result<Value, OpError> {
        let key_id = self
            .with_key_id(call, req.key_id, Action::DisableKeyRotation, rotatable_key)
            .await?;
        self.require_commands(ROTATION_COMMANDS).await?;
        let command = Command::SetKeyRotation {
            key_id,
            period_days: None,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn get_key_rotation_status(
        &self,
        call: &Call,
        req: KeyIdRequest,
    ) -> Result<Value, OpError> {
        let action = Action::GetKeyRotationStatus;
        self.with_key_id(call, req.key_id, action, |s, key, _| {
            refuse_unrotatable_spec(key)?;
            let m = &key.metadata;
            if m.origin != Origin::AwsKms {
                return Err(Error::origin_not_valid(m.arn(), m.origin).into());
            }
            Ok(rotation_status(key, s.key_rotation(&key.metadata.key_id)))
        })
        .await
    }

    pub async fn rotate_key_on_demand(
        &self,
        call: &Call,
        req: KeyIdRequest,
    ) -> Result<Value, OpError> {
        let (key_id, version) = self
            .with_key_id(call, req.key_id, Action::RotateKeyOnDemand, |s, key, _| {
                if key.metadata.origin == Origin::External && rotates(key.metadata.key_spec) {
                    // Whether material waits is the state's to say, after the retry check.
                    key.metadata.require_enabled()?;
                    return Ok((key.metadata.key_id, None));
                }
                rotatable(key)?;
                let rotations = s.key_rotation(&key.metadata.key_id);
                let count = rotations.map_or(0, KeyRotationRecord::on_demand_count);
                if count >= ON_DEMAND_ROTATION_LIMIT {
                    return Err(Error::rotation_limit(key.metadata.arn()).into());
                }
                Ok((key.metadata.key_id, Some(next_version(key))))
            })
            .await?;
        let Some(version) = version else {
            self.require_commands(IMPORTED_ROTATION_COMMANDS).await?;
            let command = Command::RotateToImported {
                key_id,
                max_on_demand: ON_DEMAND_ROTATION_LIMIT,
            };
            return rotated(self.write(call, command).await?);
        };
        self.require_commands(ROTATION_COMMANDS).await?;
        let material = self.new_material(key_id, version).await?;
        let command = Command::RotateKey {
            key_id,
            material,
            kind: RotationType::OnDemand,
            max_on_demand: Some(ON_DEMAND_ROTATION_LIMIT),
        };
        rotated(self.write(call, command).await?)
    }

    pub async fn list_key_rotations(
        &self,
        call: &Call,
        req: ListKeyRotationsRequest,
    ) -> Result<Value, OpError> {
        let include = req
            .include_key_material
            .as_deref()
            .map(|t| IncludeKeyMaterial::parse_field(t, "includeKeyMaterial"))
            .transpose()?
            .unwrap_or(IncludeKeyMaterial::RotationsOnly);
        let limit = page_limit(req.limit, 100);
        let after = match req.marker {
            None => 0,
            Some(m) => m.parse::<u32>().map_err(|_| Error::invalid_marker())?,
        };
        self.with_key_id(call, req.key_id, Action::ListKeyRotations, |s, key, _| {
            refuse_unrotatable_spec(key)?;
            let rotations = s.key_rotation(&key.metadata.key_id);
            let imports = Imports {
                record: s.key_import(&key.metadata.key_id),
                pending: s.pending_material(&key.metadata.key_id),
            };
            Ok(rotations_page(
                key, rotations, imports, include, after, limit,
            ))
        })
        .await
    }

    /// Rotates every key whose automatic rotation is due by the cluster's trusted time;
    /// answers how many were rotated. Only the leader does anything.
    pub async fn rotate_due_keys(&self) -> Result<usize, OpError> {
        if !self.node().is_leader() {
            return Ok(0);
        }
        let now = self.node().timed_action_time().await?;
        let due = self.read(|s| s.keys_due_for_rotation(now)).await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.require_commands(ROTATION_COMMANDS).await?;
        let mut rotated = 0;
        for key_id in due {
            match self.rotate_automatically(key_id).await {
                Ok(()) => {
                    tracing::info!(%key_id, "rotated key material on its schedule");
                    rotated += 1;
                }
                Err(OpError::Api(e)) => tracing::warn!(%key_id, error = %e, "rotation refused"),
                Err(e) => return Err(e),
            }
        }
        Ok(rotated)
    }

    /// Runs [`Service::rotate_due_keys`] every second until the node shuts down.
    pub fn spawn_rotation_task(&self) -> tokio::task::JoinHandle<()> {
        every_second(
            self,
            "rotation",
            |s| async move { s.rotate_due_keys().await },
        )
    }

    async fn rotate_automatically(&self, key_id: KeyId) -> Result<(), OpError> {
        let version = self
            .read(|s| s.key(&key_id).map(next_version))
            .await?
            .ok_or_else(|| Error::key_not_found(key_id))?;
        let material = self.new_material(key_id, version).await?;
        let command = Command::RotateKey {
            key_id,
            material,
            kind: RotationType::Automatic,
            max_on_demand: None,
        };
        self.write(&system_call(), command).await?;
        Ok(())
    }

    /// The key's material `version`, made and wrapped by the HSM.
    async fn new_material(&self, key_id: KeyId, version: u32) -> Result<WrappedMaterial, OpError> {
        let blob = self.hsm().generate_symmetric(key_id, version)?;
        Ok(WrappedMaterial {
            version,
            created: 0, // the state stamps the rotation's time
            blob,
        })
    }

    /// Rotation's and import's commands reach every voter's log: each must run a build that
    /// applies the command `set` brought (a rolling upgrade may still be under way), or its
    /// replication would stop at them.
    pub(crate) async fn require_commands(&self, set: u32) -> Result<(), OpError> {
        match self.node().voters_apply_command_set(set).await {
            Ok(()) => Ok(()),
            Err(why) => Err(Error::unavailable(format!(
                "This operation waits until every voter runs a trentd that applies it: {why}"
            ))
            .into()),
        }
    }
}

/// The key's id if its rotation may change (`with_key`'s closure for Enable and Disable).
fn rotatable_key(
    _: &trent_state::State,
    key: &KeyRecord,
    _: crate::authz::Allowed,
) -> Result<KeyId, OpError> {
    rotatable(key)?;
    Ok(key.metadata.key_id)
}

/// The status and list operations answer for any key state, but only keys that rotate.
fn refuse_unrotatable_spec(key: &KeyRecord) -> Result<(), Error> {
    match rotates(key.metadata.key_spec) {
        true => Ok(()),
        false => Err(Error::rotation_unsupported()),
    }
}

fn next_version(key: &KeyRecord) -> u32 {
    key.material.last().map_or(1, |m| m.version + 1)
}

/// GetKeyRotationStatus's answer. A key pending deletion reports rotation off (AWS: its
/// status returns when the deletion is cancelled); its schedule is kept.
fn rotation_status(key: &KeyRecord, rotations: Option<&KeyRotationRecord>) -> Value {
    let schedule = rotations
        .and_then(|r| r.automatic)
        .filter(|_| key.metadata.key_state != KeyState::PendingDeletion);
    let mut out = json!({
        "KeyId": key.metadata.arn().to_string(),
        "KeyRotationEnabled": schedule.is_some(),
    });
    if let Some(s) = schedule {
        out["RotationPeriodInDays"] = json!(s.period_days);
        out["NextRotationDate"] = json!(epoch_seconds(s.next));
    }
    out
}

/// An EXTERNAL key's imports, for ListKeyRotations.
struct Imports<'a> {
    record: Option<&'a KeyImportRecord>,
    pending: Option<&'a PendingMaterial>,
}

/// One page of ListKeyRotations: the key's materials oldest first, after version `after`.
/// The first material, and imported material waiting for its rotation, only with
/// ALL_KEY_MATERIAL, as AWS lists them.
fn rotations_page(
    key: &KeyRecord,
    rotations: Option<&KeyRotationRecord>,
    imports: Imports<'_>,
    include: IncludeKeyMaterial,
    after: u32,
    limit: usize,
) -> Value {
    let key_id = key.metadata.key_id;
    // An EXTERNAL key's versions are its imports, whether their material is in it now or not.
    let (versions, current): (Vec<u32>, Option<u32>) = match imports.record {
        Some(i) => (i.materials.iter().map(|v| v.version).collect(), i.current()),
        None => {
            let current = key.material.last().map(|m| m.version);
            (key.material.iter().map(|m| m.version).collect(), current)
        }
    };
    let pending = imports.pending.map(|p| p.material.version);
    let mut entries: Vec<(u32, Value)> = versions
        .into_iter()
        .chain(pending)
        .filter(|v| *v > after)
        .filter_map(|version| {
            let rotation = rotations.and_then(|r| r.rotation_of(version));
            if rotation.is_none() && include == IncludeKeyMaterial::RotationsOnly {
                return None;
            }
            let state = match version {
                v if Some(v) == pending => "PENDING_ROTATION",
                v if Some(v) == current => "CURRENT",
                _ => "NON_CURRENT",
            };
            let mut entry = json!({
                "KeyId": key_id.to_string(),
                "KeyMaterialId": key_material_id(key_id, version),
                "KeyMaterialState": state,
            });
            if let Some(r) = rotation {
                entry["RotationDate"] = json!(epoch_seconds(r.date));
                entry["RotationType"] = json!(r.kind.as_str());
            }
            if let Some(v) = imports.record.and_then(|i| i.version(version)) {
                imported_members(&mut entry, v.imported, v.valid_to, v.description.as_deref());
            }
            if let Some(p) = imports.pending.filter(|p| p.material.version == version) {
                imported_members(&mut entry, true, p.valid_to, p.description.as_deref());
            }
            Some((version, entry))
        })
        .take(limit + 1)
        .collect();
    let more = entries.len() > limit;
    entries.truncate(limit);
    let mut out = json!({ "Truncated": more });
    if more {
        let last = entries.last().map(|(v, _)| *v).unwrap_or_default();
        out["NextMarker"] = json!(last.to_string());
    }
    out["Rotations"] = Value::Array(entries.into_iter().map(|(_, e)| e).collect());
    out
}

/// The members AWS adds to an imported material's entry: whether it is imported now, and
/// (while it is) its expiration model and date; its description.
fn imported_members(
    entry: &mut Value,
    imported: bool,
    valid_to: Option<Millis>,
    description: Option<&str>,
) {
    let state = if imported {
        "IMPORTED"
    } else {
        "PENDING_IMPORT"
    };
    entry["ImportState"] = json!(state);
    if imported {
        entry["ExpirationModel"] = json!(match valid_to {
            Some(_) => "KEY_MATERIAL_EXPIRES",
            None => "KEY_MATERIAL_DOES_NOT_EXPIRE",
        });
        if let Some(t) = valid_to {
            entry["ValidTo"] = json!(epoch_seconds(t));
        }
    }
    if let Some(d) = description {
        entry["KeyMaterialDescription"] = json!(d);
    }
}

/// RotateKeyOnDemand's answer (a retry's too), from what applying it produced.
pub(crate) fn rotated(outcome: Outcome) -> Result<Value, OpError> {
    match outcome {
        Outcome::Key(m) => Ok(json!({ "KeyId": m.arn().to_string() })),
        other => Err(Error::internal(format!("RotateKey answered {other:?}")).into()),
    }
}
