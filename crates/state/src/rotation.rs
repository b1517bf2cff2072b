//! Key rotation in the state: each key's schedule and rotation history (one record per key
//! that was ever scheduled or rotated, `RecordKey::KeyRotation`), and the commands that
//! change them.
//!
//! A rotation appends a material version to the key, wrapped by the leader's HSM before
//! proposal under the version it will have; `apply` takes it only if that version is the
//! next one, so two rotations racing on one key cannot both land (the later answers
//! `ConflictException`). An automatic rotation is applied only if the key's schedule is due
//! by the request's stamp, which the leader bounds by the cluster's trusted time: a stale or
//! early proposal changes nothing.

use trent_model::{
    rotatable, Error, KeyId, KeyRecord, KeyRotationRecord, Millis, Rotation, RotationType,
    Schedule, WrappedMaterial,
};

use crate::{Outcome, RecordKey, Response, State};

impl State {
    /// The key's rotation schedule and history, if it has any.
    pub fn key_rotation(&self, key_id: &KeyId) -> Option<&KeyRotationRecord> {
        self.rotations.get(key_id)
    }

    /// Enabled keys whose automatic rotation is due at `now`: the leader rotates them. A
    /// disabled key waits, and rotates once enabled again if its date passed meanwhile (as
    /// AWS does).
    pub fn keys_due_for_rotation(&self, now: Millis) -> Vec<KeyId> {
        self.rotations
            .values()
            .filter(|r| r.automatic.is_some_and(|s| s.next <= now))
            .filter(|r| {
                self.keys
                    .get(&r.key_id)
                    .is_some_and(|k| k.metadata.enabled())
            })
            .map(|r| r.key_id)
            .collect()
    }

    /// Enables automatic rotation every `period_days` (the first a period from `now`), or
    /// with `None` disables it.
    pub(crate) fn set_key_rotation(
        &mut self,
        key_id: KeyId,
        period_days: Option<u32>,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        rotatable(self.existing_key(key_id)?)?;
        let record = self.rotation_mut(key_id)?;
        record.automatic = period_days.map(|days| Schedule::starting(now, days));
        touched.push(RecordKey::KeyRotation(key_id));
        Ok(Outcome::Done)
    }

    /// Makes `material` the key's current version, if it is the next version, the key may
    /// rotate, and (automatic) its schedule is due or (on demand) it is under `max_on_demand`.
    pub(crate) fn rotate_key(
        &mut self,
        key_id: KeyId,
        material: &WrappedMaterial,
        kind: RotationType,
        max_on_demand: Option<u32>,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = self.existing_key(key_id)?;
        rotatable(key)?;
        let next = key.material.last().map_or(1, |m| m.version + 1);
        if material.version != next {
            return Err(Error::rotation_conflict(key.metadata.arn()));
        }
        let arn = key.metadata.arn();
        let record = self.rotation_mut(key_id)?;
        match kind {
            RotationType::Automatic if record.automatic.is_none_or(|s| s.next > now) => {
                return Err(Error::admin_state(format!(
                    "Key '{key_id}' is not due for automatic rotation"
                )));
            }
            RotationType::OnDemand
                if max_on_demand.is_some_and(|max| record.on_demand_count() >= max) =>
            {
                return Err(Error::rotation_limit(arn));
            }
            _ => {}
        }
        if kind == RotationType::Automatic {
            // The next one a period from now: a key that was disabled past its date rotates
            // once when enabled again, not once per period missed.
            record.automatic = record
                .automatic
                .map(|s| Schedule::starting(now, s.period_days));
        }
        record.rotations.push(Rotation {
            version: material.version,
            date: now,
            kind,
        });
        let key = self.keys.get_mut(&key_id).expect("checked above");
        key.material.push(WrappedMaterial {
            version: material.version,
            created: now,
            blob: material.blob.clone(),
        });
        touched.push(RecordKey::KeyRotation(key_id));
        touched.push(RecordKey::Key(key_id));
        Ok(Outcome::Key(Box::new(key.metadata.clone())))
    }

    /// Drops a deleted key's rotation record.
    pub(crate) fn forget_rotation(&mut self, key_id: KeyId, touched: &mut Vec<RecordKey>) {
        if self.rotations.remove(&key_id).is_some() {
            touched.push(RecordKey::KeyRotation(key_id));
        }
    }

    pub(crate) fn rotation_keys(&self) -> impl Iterator<Item = RecordKey> + '_ {
        self.rotations.keys().map(|id| RecordKey::KeyRotation(*id))
    }

    /// A rotation record whose key the state does not hold (in a backup: a record moved).
    pub(crate) fn orphan_rotation(&self) -> Option<RecordKey> {
        self.rotations
            .keys()
            .find(|id| !self.keys.contains_key(id))
            .map(|id| RecordKey::KeyRotation(*id))
    }

    fn existing_key(&self, key_id: KeyId) -> Result<&KeyRecord, Error> {
        self.keys
            .get(&key_id)
            .ok_or_else(|| Error::key_not_found(key_id))
    }

    pub(crate) fn rotation_mut(&mut self, key_id: KeyId) -> Result<&mut KeyRotationRecord, Error> {
        let key = self.existing_key(key_id)?;
        let account = key.metadata.account.clone();
        Ok(self
            .rotations
            .entry(key_id)
            .or_insert_with(|| KeyRotationRecord::new(account, key_id)))
    }
}
