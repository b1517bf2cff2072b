//! Imported key material in the state: each EXTERNAL key's imports (`RecordKey::KeyImport`)
//! and the commands that bring material in and take it out.
//!
//! The material itself is in the key's record like any other (`KeyRecord::material`), wrapped
//! by the leader's HSM; this record keeps what the key's record does not: a keyed
//! fingerprint per version (so a re-import must bring the same material), the expiry, the
//! description, and the import tokens already spent (so none is used twice). Deleting or
//! expiring material removes the wrapped blob from the key's record: it is gone from the
//! state, and the key is `PendingImport` until the same material is imported again.
//!
//! A symmetric key rotates to imported material in two steps (command set 4): new material is
//! imported into it as its pending material (`PendingMaterial`, under the next version), and
//! RotateKeyOnDemand makes it current. From then on it is one of the key's versions, and the
//! key is usable only while every version is imported (AWS's rule).

use trent_model::{
    key_material_id, rotates, Error, ImportedVersion, KeyId, KeyImportRecord, KeyMetadata,
    KeyRecord, KeyState, Millis, Origin, PendingMaterial, Rotation, RotationType, UsedToken,
    WrappedMaterial, FIRST_MATERIAL_VERSION,
};

use crate::apply::pending_deletion;
use crate::{MaterialImport, Outcome, RecordKey, Response, State};

impl State {
    /// The key's imports, if it is an EXTERNAL key that had any.
    pub fn key_import(&self, key_id: &KeyId) -> Option<&KeyImportRecord> {
        self.imports.get(key_id)
    }

    /// The key's material imported for a rotation and not yet current, if any.
    pub fn pending_material(&self, key_id: &KeyId) -> Option<&PendingMaterial> {
        self.pending.get(key_id)
    }

    /// Keys with imported or pending material whose `ValidTo` has passed at `now`: the leader
    /// expires it.
    pub fn keys_with_expired_material(&self, now: Millis) -> Vec<KeyId> {
        let due = |t: Option<Millis>| t.is_some_and(|t| t <= now);
        let imported = self.imports.values().filter(|r| due(r.valid_to()));
        let pending = self.pending.values().filter(|p| due(p.valid_to));
        let keys: std::collections::BTreeSet<KeyId> = imported
            .map(|r| r.key_id)
            .chain(pending.map(|p| p.key_id))
            .collect();
        keys.into_iter().collect()
    }

    /// The first import of a key's material, or a re-import of one of its versions.
    pub(crate) fn import_key_material(
        &mut self,
        import: &MaterialImport,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key_id = import.key_id;
        let key = external_key(&self.keys, key_id)?;
        importable_state(key)?;
        let version = import.material.version;
        let record = self.imports.get(&key_id);
        check_token(record, &import.token, now)?;
        let existing = record.and_then(|r| r.version(version));
        if existing.is_some_and(|v| v.fingerprint != import.fingerprint) {
            return Err(Error::import_different_material());
        }
        let account = key.metadata.account.clone();
        let record = self
            .imports
            .entry(key_id)
            .or_insert_with(|| KeyImportRecord::new(account, key_id));
        match record.materials.iter_mut().find(|m| m.version == version) {
            Some(existing) => {
                existing.imported = true;
                existing.valid_to = import.valid_to;
                if let Some(d) = &import.description {
                    existing.description = Some(d.clone());
                }
            }
            None => record.materials.push(ImportedVersion {
                version,
                fingerprint: import.fingerprint,
                imported: true,
                valid_to: import.valid_to,
                description: import.description.clone(),
            }),
        }
        spend_token(record, import.token, now);
        let complete = record.complete();
        let key = self.keys.get_mut(&key_id).expect("checked above");
        key.material.retain(|m| m.version != version);
        key.material.push(WrappedMaterial {
            version,
            created: now,
            blob: import.material.blob.clone(),
        });
        key.material.sort_by_key(|m| m.version);
        if key.metadata.key_state == KeyState::PendingImport && complete {
            key.metadata.key_state = KeyState::Enabled;
        }
        touched.push(RecordKey::KeyImport(key_id));
        touched.push(RecordKey::Key(key_id));
        Ok(material_outcome(&key.metadata, version))
    }

    /// New material for a rotation of a key that has material (`NEW_KEY_MATERIAL`): kept as
    /// the key's pending material under its next version, if none waits already and the key
    /// does not have this material.
    pub(crate) fn import_pending_material(
        &mut self,
        import: &MaterialImport,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key_id = import.key_id;
        let key = external_key(&self.keys, key_id)?;
        importable_state(key)?;
        let metadata = key.metadata.clone();
        let record = self.imports.get(&key_id).filter(|r| r.current().is_some());
        let record = record.ok_or_else(|| {
            Error::admin_state(format!("Key '{key_id}' has no key material to rotate from"))
        })?;
        check_token(Some(record), &import.token, now)?;
        if self.pending.contains_key(&key_id) {
            return Err(Error::import_pending_exists(metadata.arn()));
        }
        if record.version_of(&import.fingerprint).is_some() {
            return Err(Error::import_material_associated());
        }
        let next = record.current().unwrap_or(0) + 1;
        if import.material.version != next {
            return Err(Error::rotation_conflict(metadata.arn()));
        }
        let record = self.imports.get_mut(&key_id).expect("checked above");
        spend_token(record, import.token, now);
        let pending = PendingMaterial {
            account: metadata.account.clone(),
            key_id,
            material: WrappedMaterial {
                version: next,
                created: now,
                blob: import.material.blob.clone(),
            },
            fingerprint: import.fingerprint,
            valid_to: import.valid_to,
            description: import.description.clone(),
        };
        self.pending.insert(key_id, pending);
        touched.push(RecordKey::KeyImport(key_id));
        touched.push(RecordKey::PendingMaterial(key_id));
        Ok(Outcome::Material(Box::new(metadata), next))
    }

    /// RotateKeyOnDemand of an EXTERNAL key: its pending material becomes its current version.
    pub(crate) fn rotate_to_imported(
        &mut self,
        key_id: KeyId,
        max_on_demand: u32,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = external_key(&self.keys, key_id)?;
        key.metadata.require_enabled()?;
        if !rotates(key.metadata.key_spec) {
            return Err(Error::rotation_unsupported());
        }
        let arn = key.metadata.arn();
        if !self.pending.contains_key(&key_id) || !self.imports.contains_key(&key_id) {
            return Err(Error::no_pending_rotation(arn));
        }
        let on_demand = self
            .key_rotation(&key_id)
            .map_or(0, |r| r.on_demand_count());
        if on_demand >= max_on_demand {
            return Err(Error::rotation_limit(arn));
        }
        let pending = self.pending.remove(&key_id).expect("checked above");
        let version = pending.material.version;
        let record = self.imports.get_mut(&key_id).expect("checked above");
        record.materials.push(ImportedVersion {
            version,
            fingerprint: pending.fingerprint,
            imported: true,
            valid_to: pending.valid_to,
            description: pending.description,
        });
        self.rotation_mut(key_id)?.rotations.push(Rotation {
            version,
            date: now,
            kind: RotationType::OnDemand,
        });
        let key = self.keys.get_mut(&key_id).expect("checked above");
        key.material.push(WrappedMaterial {
            version,
            created: now,
            blob: pending.material.blob,
        });
        touched.extend([
            RecordKey::PendingMaterial(key_id),
            RecordKey::KeyImport(key_id),
            RecordKey::KeyRotation(key_id),
            RecordKey::Key(key_id),
        ]);
        Ok(Outcome::Key(Box::new(key.metadata.clone())))
    }

    /// Deletes the key's imported material now (DeleteImportedKeyMaterial: every version,
    /// which before command set 4 is the only one), or, with `expired_by`, the versions and
    /// pending material expired by then (the leader's timed action).
    pub(crate) fn remove_imported_material(
        &mut self,
        key_id: KeyId,
        expired_by: Option<Millis>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        external_key(&self.keys, key_id)?;
        let record = self.imports.get(&key_id);
        let Some(now) = expired_by else {
            let all: Vec<u32> =
                record.map_or(vec![], |r| r.materials.iter().map(|m| m.version).collect());
            self.take_out(key_id, &all, touched);
            return Ok(Outcome::Key(self.metadata_of(key_id)));
        };
        let due = |t: Option<Millis>| t.is_some_and(|t| t <= now);
        let expired: Vec<u32> = record.map_or(vec![], |r| {
            let imported = r.materials.iter().filter(|m| m.imported);
            imported
                .filter(|m| due(m.valid_to))
                .map(|m| m.version)
                .collect()
        });
        let pending_expired = self.pending.get(&key_id).is_some_and(|p| due(p.valid_to));
        if expired.is_empty() && !pending_expired {
            return Err(Error::admin_state(format!(
                "Key '{key_id}' has no key material due to expire"
            )));
        }
        if pending_expired {
            self.pending.remove(&key_id);
            touched.push(RecordKey::PendingMaterial(key_id));
        }
        if !expired.is_empty() {
            self.take_out(key_id, &expired, touched);
        }
        Ok(Outcome::Key(self.metadata_of(key_id)))
    }

    /// Deletes one version of the key's material, or its pending material.
    pub(crate) fn delete_imported_version(
        &mut self,
        key_id: KeyId,
        version: u32,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        external_key(&self.keys, key_id)?;
        let pending = self.pending.get(&key_id);
        if pending.is_some_and(|p| p.material.version == version) {
            self.pending.remove(&key_id);
            touched.push(RecordKey::PendingMaterial(key_id));
        } else {
            let known = self.imports.get(&key_id).and_then(|r| r.version(version));
            if known.is_none() {
                return Err(Error::import_material_id(key_material_id(key_id, version)));
            }
            self.take_out(key_id, &[version], touched);
        }
        Ok(Outcome::Material(self.metadata_of(key_id), version))
    }

    /// Takes `versions`' material out of the key (its record keeps their facts); the key is
    /// `PendingImport` after, unless it is pending deletion (AWS allows deleting then).
    fn take_out(&mut self, key_id: KeyId, versions: &[u32], touched: &mut Vec<RecordKey>) {
        if let Some(record) = self.imports.get_mut(&key_id) {
            let taken = record.materials.iter_mut();
            for m in taken.filter(|m| versions.contains(&m.version)) {
                m.imported = false;
                m.valid_to = None;
            }
            touched.push(RecordKey::KeyImport(key_id));
        }
        let key = self.keys.get_mut(&key_id).expect("checked by the caller");
        key.material.retain(|m| !versions.contains(&m.version));
        if key.metadata.key_state != KeyState::PendingDeletion {
            key.metadata.key_state = KeyState::PendingImport;
        }
        touched.push(RecordKey::Key(key_id));
    }

    /// The metadata of a key the caller found, for an outcome.
    fn metadata_of(&self, key_id: KeyId) -> Box<KeyMetadata> {
        Box::new(self.keys[&key_id].metadata.clone())
    }

    /// Drops a deleted key's import record and pending material.
    pub(crate) fn forget_import(&mut self, key_id: KeyId, touched: &mut Vec<RecordKey>) {
        if self.imports.remove(&key_id).is_some() {
            touched.push(RecordKey::KeyImport(key_id));
        }
        if self.pending.remove(&key_id).is_some() {
            touched.push(RecordKey::PendingMaterial(key_id));
        }
    }

    pub(crate) fn import_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        let imports = self.imports.keys().map(|id| RecordKey::KeyImport(*id));
        imports.chain(
            self.pending
                .keys()
                .map(|id| RecordKey::PendingMaterial(*id)),
        )
    }

    /// An import record or pending material whose key the state does not hold (in a backup:
    /// a record moved).
    pub(crate) fn orphan_import(&self) -> Option<RecordKey> {
        self.import_keys().find(|k| match k {
            RecordKey::KeyImport(id) | RecordKey::PendingMaterial(id) => {
                !self.keys.contains_key(id)
            }
            _ => false,
        })
    }
}

/// The key, if it exists and is EXTERNAL. (Deleting material is allowed while the key is
/// pending deletion, AWS's rule, so the state check is the import's own.)
fn external_key(
    keys: &std::collections::BTreeMap<KeyId, KeyRecord>,
    key_id: KeyId,
) -> Result<&KeyRecord, Error> {
    let key = keys
        .get(&key_id)
        .ok_or_else(|| Error::key_not_found(key_id))?;
    if key.metadata.origin != Origin::External {
        return Err(Error::origin_not_valid(
            key.metadata.arn(),
            key.metadata.origin,
        ));
    }
    Ok(key)
}

/// Imports are refused for a key pending deletion.
fn importable_state(key: &KeyRecord) -> Result<(), Error> {
    match key.metadata.key_state {
        KeyState::PendingDeletion => Err(pending_deletion(&key.metadata)),
        _ => Ok(()),
    }
}

/// What an import of `version` answers: `Key` for the first version, as every build since
/// command set 3 does.
fn material_outcome(metadata: &KeyMetadata, version: u32) -> Outcome {
    let metadata = Box::new(metadata.clone());
    match version {
        FIRST_MATERIAL_VERSION => Outcome::Key(metadata),
        _ => Outcome::Material(metadata, version),
    }
}

/// An import token is spent once, before it expires.
fn check_token(
    record: Option<&KeyImportRecord>,
    token: &UsedToken,
    now: Millis,
) -> Result<(), Error> {
    if token.valid_to < now {
        return Err(Error::import_token_expired());
    }
    match record.is_some_and(|r| r.token_used(&token.id)) {
        true => Err(Error::import_token_used()),
        false => Ok(()),
    }
}

/// Records `token` as spent, forgetting spent tokens that have expired anyway.
fn spend_token(record: &mut KeyImportRecord, token: UsedToken, now: Millis) {
    record.used_tokens.retain(|t| t.valid_to >= now);
    record.used_tokens.push(token);
}
