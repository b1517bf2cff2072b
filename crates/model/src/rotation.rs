//! Key rotation: AWS's rules and limits, and the record of a key's schedule and rotations.
//!
//! A rotation adds a material version to the key (`KeyRecord::material`); this record says
//! when and how each version after the first was made current, and when the next automatic
//! rotation is due. It is stored beside the key's record, not inside it, so the key record's
//! stored form is the one every earlier data dir, snapshot and backup holds.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Error, KeyId, KeyRecord, KeySpec, Millis, Origin};

aws_enum!(
    /// How a material version became current.
    RotationType {
        Automatic = "AUTOMATIC",
        OnDemand = "ON_DEMAND",
    }
);

aws_enum!(
    /// Which materials ListKeyRotations lists.
    IncludeKeyMaterial {
        AllKeyMaterial = "ALL_KEY_MATERIAL",
        RotationsOnly = "ROTATIONS_ONLY",
    }
);

/// The rotation period when EnableKeyRotation names none.
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// AWS's limit of on-demand rotations per key (the developer guide's, raised from 10).
pub const ON_DEMAND_ROTATION_LIMIT: u32 = 25;
/// Milliseconds in a day, for rotation dates.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Whether keys of `spec` rotate: AWS rotates symmetric encryption keys only (not
/// asymmetric, HMAC or post-quantum keys).
pub fn rotates(spec: KeySpec) -> bool {
    spec == KeySpec::SymmetricDefault
}

/// Whether `key`'s rotation may change (its schedule, a new version): the key is enabled, of
/// a spec that rotates, and its material is trent's (imported material rotates only on
/// demand, to material imported for it: the state's `rotate_to_imported`). The errors are
/// AWS's, state first.
pub fn rotatable(key: &KeyRecord) -> Result<(), Error> {
    let m = &key.metadata;
    m.require_enabled()?;
    if !rotates(m.key_spec) {
        return Err(Error::rotation_unsupported());
    }
    match m.origin {
        Origin::AwsKms => Ok(()),
        other => Err(Error::origin_not_valid(m.arn(), other)),
    }
}

/// One completed rotation: the material version it made current, when and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub version: u32,
    pub date: Millis,
    pub kind: RotationType,
}

/// A key's rotation schedule and history (absent for a key never rotated nor scheduled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotationRecord {
    /// The key's account and id, so a backup can check the record's owner.
    pub account: AccountId,
    pub key_id: KeyId,
    /// Automatic rotation: its period and the date the next one is due, while enabled.
    pub automatic: Option<Schedule>,
    /// Every rotation, oldest first.
    pub rotations: Vec<Rotation>,
}

/// Automatic rotation of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub period_days: u32,
    /// Due when the cluster's trusted time reaches it.
    pub next: Millis,
}

impl Schedule {
    /// A schedule of `period_days` whose first rotation is a period after `from`.
    pub fn starting(from: Millis, period_days: u32) -> Schedule {
        Schedule {
            period_days,
            next: from.saturating_add(Millis::from(period_days) * DAY_MS),
        }
    }
}

impl KeyRotationRecord {
    pub fn new(account: AccountId, key_id: KeyId) -> KeyRotationRecord {
        KeyRotationRecord {
            account,
            key_id,
            automatic: None,
            rotations: vec![],
        }
    }

    /// How many on-demand rotations the key has had.
    pub fn on_demand_count(&self) -> u32 {
        let count = self
            .rotations
            .iter()
            .filter(|r| r.kind == RotationType::OnDemand);
        count.count() as u32
    }

    /// The rotation that made `version` current, if one did (not the first material).
    pub fn rotation_of(&self, version: u32) -> Option<&Rotation> {
        self.rotations.iter().find(|r| r.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_due_a_period_later() {
        let s = Schedule::starting(1_000, 90);
        assert_eq!(s.next, 1_000 + 90 * DAY_MS);
        assert_eq!(Schedule::starting(u64::MAX - 1, 90).next, u64::MAX);
    }

    #[test]
    fn only_symmetric_encryption_keys_rotate() {
        assert!(rotates(KeySpec::SymmetricDefault));
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::Hmac256,
            KeySpec::EccNistP256,
            KeySpec::MlDsa65,
        ] {
            assert!(!rotates(spec), "{spec}");
        }
    }

    #[test]
    fn on_demand_rotations_are_counted_apart_from_automatic_ones() {
        let mut r =
            KeyRotationRecord::new("111122223333".parse().unwrap(), KeyId(uuid::Uuid::nil()));
        for (version, kind) in [
            (2, RotationType::OnDemand),
            (3, RotationType::Automatic),
            (4, RotationType::OnDemand),
        ] {
            r.rotations.push(Rotation {
                version,
                date: 0,
                kind,
            });
        }
        assert_eq!(r.on_demand_count(), 2);
        assert_eq!(r.rotation_of(3).unwrap().kind, RotationType::Automatic);
        assert!(r.rotation_of(1).is_none());
    }
}
