//! Imported key material in the state: each EXTERNAL key's imports (`RecordKey::KeyImport`)
//! and the commands that bring material in and take it out.
//!
//! The material itself is in the key's record like any other (`KeyRecord::material`), wrapped
//! by the leader's HSM; this record keeps what the key's record does not: a keyed
//! fingerprint per version (so a re-import must bring the same material), the expiry, the
//! description, and the import tokens already spent (so none is used twice). Deleting or
//! expiring material removes the wrapped blob from the key's record: it is gone from the
//! state, and the key is `PendingImport` until the same material is imported again.

use trent_model::{
    Error, ImportedVersion, KeyId, KeyImportRecord, KeyRecord, KeyState, Millis, Origin, UsedToken,
    WrappedMaterial,
};

use crate::apply::pending_deletion;
use crate::{Outcome, RecordKey, Response, State};

/// What an ImportKeyMaterial command brings.
pub struct Import<'a> {
    pub material: &'a WrappedMaterial,
    pub fingerprint: [u8; 32],
    pub token: UsedToken,
    pub valid_to: Option<Millis>,
    pub description: Option<&'a str>,
}

impl State {
    /// The key's imports, if it is an EXTERNAL key that had any.
    pub fn key_import(&self, key_id: &KeyId) -> Option<&KeyImportRecord> {
        self.imports.get(key_id)
    }

    /// Keys whose imported material's `ValidTo` has passed at `now`: the leader expires it.
    pub fn keys_with_expired_material(&self, now: Millis) -> Vec<KeyId> {
        self.imports
            .values()
            .filter(|r| r.valid_to().is_some_and(|t| t <= now))
            .map(|r| r.key_id)
            .collect()
    }

    pub(crate) fn import_key_material(
        &mut self,
        key_id: KeyId,
        import: Import<'_>,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = external_key(&self.keys, key_id)?;
        importable_state(key)?;
        let account = key.metadata.account.clone();
        let record = self
            .imports
            .entry(key_id)
            .or_insert_with(|| KeyImportRecord::new(account, key_id));
        if import.token.valid_to < now {
            return Err(Error::import_token_expired());
        }
        if record.token_used(&import.token.id) {
            return Err(Error::import_token_used());
        }
        let version = import.material.version;
        match record.materials.iter_mut().find(|m| m.version == version) {
            Some(existing) if existing.fingerprint != import.fingerprint => {
                return Err(Error::import_different_material())
            }
            Some(existing) => {
                existing.imported = true;
                existing.valid_to = import.valid_to;
                if let Some(d) = import.description {
                    existing.description = Some(d.to_owned());
                }
            }
            None => record.materials.push(ImportedVersion {
                version,
                fingerprint: import.fingerprint,
                imported: true,
                valid_to: import.valid_to,
                description: import.description.map(str::to_owned),
            }),
        }
        record.used_tokens.retain(|t| t.valid_to >= now);
        record.used_tokens.push(import.token);
        let key = self.keys.get_mut(&key_id).expect("checked above");
        key.material.retain(|m| m.version != version);
        key.material.push(WrappedMaterial {
            version,
            created: now,
            blob: import.material.blob.clone(),
        });
        key.material.sort_by_key(|m| m.version);
        if key.metadata.key_state == KeyState::PendingImport {
            key.metadata.key_state = KeyState::Enabled;
        }
        touched.push(RecordKey::KeyImport(key_id));
        touched.push(RecordKey::Key(key_id));
        Ok(Outcome::Key(Box::new(key.metadata.clone())))
    }

    /// Deletes the key's imported material now (DeleteImportedKeyMaterial), or, with
    /// `expired_by`, only if it has expired by then (the leader's timed action).
    pub(crate) fn remove_imported_material(
        &mut self,
        key_id: KeyId,
        expired_by: Option<Millis>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = external_key(&self.keys, key_id)?;
        let record = self.imports.get_mut(&key_id);
        if let Some(now) = expired_by {
            let due = record
                .as_ref()
                .and_then(|r| r.valid_to())
                .is_some_and(|t| t <= now);
            if !due {
                return Err(Error::admin_state(format!(
                    "Key '{key_id}' has no key material due to expire"
                )));
            }
        }
        let pending_deletion = key.metadata.key_state == KeyState::PendingDeletion;
        if let Some(record) = record {
            for m in &mut record.materials {
                m.imported = false;
                m.valid_to = None;
            }
            touched.push(RecordKey::KeyImport(key_id));
        }
        let key = self.keys.get_mut(&key_id).expect("checked above");
        key.material.clear();
        if !pending_deletion {
            key.metadata.key_state = KeyState::PendingImport;
        }
        touched.push(RecordKey::Key(key_id));
        Ok(Outcome::Key(Box::new(key.metadata.clone())))
    }

    /// Drops a deleted key's import record.
    pub(crate) fn forget_import(&mut self, key_id: KeyId, touched: &mut Vec<RecordKey>) {
        if self.imports.remove(&key_id).is_some() {
            touched.push(RecordKey::KeyImport(key_id));
        }
    }

    pub(crate) fn import_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        self.imports.keys().map(|id| RecordKey::KeyImport(*id))
    }

    /// An import record whose key the state does not hold (in a backup: a record moved).
    pub(crate) fn orphan_import(&self) -> Option<RecordKey> {
        self.imports
            .keys()
            .find(|id| !self.keys.contains_key(id))
            .map(|id| RecordKey::KeyImport(*id))
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
