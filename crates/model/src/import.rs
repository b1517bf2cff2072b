//! Imported key material (BYOK): AWS's enums and limits, and the record of a key's imports.
//!
//! A key created with `Origin=EXTERNAL` has no material until one is imported. What the
//! imports were (their expiry, description, whether the material is there now) lives in a
//! record beside the key's, as rotation's does, so the key record's stored form is unchanged.
//! New material imported for a rotation (`ImportType=NEW_KEY_MATERIAL` into a key that has
//! material) waits in a record of its own, [`PendingMaterial`], until RotateKeyOnDemand makes
//! it current: until then it is not the key's, and can be deleted and replaced.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Error, KeyId, KeySpec, Millis, WrappedMaterial};

aws_enum!(
    /// How key material is wrapped for import (`WrappingAlgorithm`, AWS's `AlgorithmSpec`).
    WrappingAlgorithm {
        RsaesPkcs1V15 = "RSAES_PKCS1_V1_5",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256",
        Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// The wrapping (public) key GetParametersForImport answers.
    WrappingKeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        Sm2 = "SM2",
    }
);

aws_enum!(
    /// Whether imported material expires.
    ExpirationModel {
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

aws_enum!(
    /// Whether an import brings the key's existing material back or new material.
    ImportType {
        NewKeyMaterial = "NEW_KEY_MATERIAL",
        ExistingKeyMaterial = "EXISTING_KEY_MATERIAL",
    }
);

/// How long the parameters of GetParametersForImport (the wrapping key, the token) are valid.
pub const IMPORT_PARAMETERS_VALID_MS: Millis = 24 * 60 * 60 * 1000;
/// How far ahead an imported material's `ValidTo` may be.
pub const MAX_VALID_TO_MS: Millis = 365 * 24 * 60 * 60 * 1000;

/// Whether material of `spec` can be imported: every spec AWS imports (symmetric, HMAC, RSA,
/// the ECC curves), not ML-DSA (AWS: "Importing ML-DSA keys is not supported") nor the specs
/// AWS's importing guide does not list (Ed25519, ML-KEM), nor SM2.
pub fn importable(spec: KeySpec) -> bool {
    use KeySpec::*;
    matches!(
        spec,
        SymmetricDefault
            | Hmac224
            | Hmac256
            | Hmac384
            | Hmac512
            | Rsa2048
            | Rsa3072
            | Rsa4096
            | EccNistP256
            | EccNistP384
            | EccNistP521
            | EccSecgP256k1
    )
}

/// The lengths (bytes) HMAC material of `spec` may have when imported: at least the spec's
/// size, at most 1024 bits (AWS's "Requirements for imported key material").
pub fn hmac_import_lengths(spec: KeySpec) -> Option<std::ops::RangeInclusive<usize>> {
    let min = match spec {
        KeySpec::Hmac224 => 28,
        KeySpec::Hmac256 => 32,
        KeySpec::Hmac384 => 48,
        KeySpec::Hmac512 => 64,
        _ => return None,
    };
    Some(min..=128)
}

/// A key's imported material (EXTERNAL keys): what was imported into each version, and the
/// import tokens already spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyImportRecord {
    /// The key's account and id, so a backup can check the record's owner.
    pub account: AccountId,
    pub key_id: KeyId,
    /// One entry per material version ever imported, oldest first.
    pub materials: Vec<ImportedVersion>,
    /// Tokens already used, kept until they expire so that none is used twice.
    pub used_tokens: Vec<UsedToken>,
}

/// One imported material version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedVersion {
    pub version: u32,
    /// The HSM's keyed fingerprint of the material (a MAC under a key derived from the domain
    /// key): a re-import must bring the same material. It reveals nothing of the material.
    pub fingerprint: [u8; 32],
    /// The material is in the key now (not deleted, not expired).
    pub imported: bool,
    /// When it expires (`KEY_MATERIAL_EXPIRES`); `None` for `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub valid_to: Option<Millis>,
    pub description: Option<String>,
}

/// Material imported for a rotation and not yet current (AWS's `PENDING_ROTATION`): wrapped
/// under the version it will have, with what its import said. At most one per key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMaterial {
    /// The key's account and id, so a backup can check the record's owner.
    pub account: AccountId,
    pub key_id: KeyId,
    pub material: WrappedMaterial,
    pub fingerprint: [u8; 32],
    pub valid_to: Option<Millis>,
    pub description: Option<String>,
}

/// An import token already spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedToken {
    pub id: [u8; 16],
    pub valid_to: Millis,
}

impl KeyImportRecord {
    pub fn new(account: AccountId, key_id: KeyId) -> KeyImportRecord {
        KeyImportRecord {
            account,
            key_id,
            materials: vec![],
            used_tokens: vec![],
        }
    }

    pub fn version(&self, version: u32) -> Option<&ImportedVersion> {
        self.materials.iter().find(|m| m.version == version)
    }

    /// The version whose material has `fingerprint`, if the key has it.
    pub fn version_of(&self, fingerprint: &[u8; 32]) -> Option<u32> {
        let mut found = self
            .materials
            .iter()
            .filter(|m| &m.fingerprint == fingerprint);
        found.next().map(|m| m.version)
    }

    /// The current version: the latest associated with the key, imported now or not.
    pub fn current(&self) -> Option<u32> {
        self.materials.iter().map(|m| m.version).max()
    }

    /// Whether every version associated with the key is imported now: only then is the key
    /// usable (AWS: deleting or expiring any of them makes it `PendingImport`).
    pub fn complete(&self) -> bool {
        !self.materials.is_empty() && self.materials.iter().all(|m| m.imported)
    }

    /// The earliest expiry of the material imported now, if any expires.
    pub fn valid_to(&self) -> Option<Millis> {
        let imported = self.materials.iter().filter(|m| m.imported);
        imported.filter_map(|m| m.valid_to).min()
    }

    /// Whether material is imported now.
    pub fn imported(&self) -> bool {
        self.materials.iter().any(|m| m.imported)
    }

    pub fn token_used(&self, id: &[u8; 16]) -> bool {
        self.used_tokens.iter().any(|t| &t.id == id)
    }
}
