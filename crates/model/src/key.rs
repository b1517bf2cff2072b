//! KMS keys: ids, the AWS enums that describe them, their metadata and the replicated record.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{AccountId, Arn, Error, Millis};

/// A key id: a UUID, printed in the hyphenated lower-case form AWS uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub Uuid);

impl KeyId {
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        // Only the canonical 36-character form: AWS rejects braces, URNs and simple forms.
        if s.len() != 36 {
            return Err(Error::invalid_key_id(s));
        }
        Uuid::try_parse(s)
            .map(KeyId)
            .map_err(|_| Error::invalid_key_id(s))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Declares a fieldless enum whose values travel as the AWS strings given.
macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the AWS spelling; the error names `field` and lists the allowed values.
            pub fn parse_field(s: &str, field: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::validation(
                        field,
                        Some(s),
                        format!("Member must satisfy enum value set: [{}]", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum!(
    /// The life-cycle state of a key.
    KeyState {
        Creating = "Creating",
        Enabled = "Enabled",
        Disabled = "Disabled",
        PendingDeletion = "PendingDeletion",
        PendingImport = "PendingImport",
        PendingReplicaDeletion = "PendingReplicaDeletion",
        Unavailable = "Unavailable",
        Updating = "Updating",
    }
);

aws_enum!(
    /// The type of key material.
    KeySpec {
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        Hmac224 = "HMAC_224",
        Hmac256 = "HMAC_256",
        Hmac384 = "HMAC_384",
        Hmac512 = "HMAC_512",
        Sm2 = "SM2",
        // Appended (issue 23): the stored form of a spec is its index.
        MlDsa44 = "ML_DSA_44",
        MlDsa65 = "ML_DSA_65",
        MlDsa87 = "ML_DSA_87",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        MlKem512 = "ML_KEM_512",
        MlKem768 = "ML_KEM_768",
        MlKem1024 = "ML_KEM_1024",
    }
);

aws_enum!(
    /// The cryptographic operations a key may be used for.
    KeyUsage {
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        SignVerify = "SIGN_VERIFY",
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        KeyAgreement = "KEY_AGREEMENT",
        EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    /// Where the key material came from.
    Origin {
        AwsKms = "AWS_KMS",
        External = "EXTERNAL",
        AwsCloudHsm = "AWS_CLOUDHSM",
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    /// Who manages the key.
    KeyManager {
        Aws = "AWS",
        Customer = "CUSTOMER",
    }
);

/// A resource tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The version of the material a key is created with (rotation adds 2, 3...).
pub const FIRST_MATERIAL_VERSION: u32 = 1;

/// The public id of a key's material version, as AWS names material (`KeyMaterialId`,
/// `CurrentKeyMaterialId`: 64 lowercase hex digits): the SHA-256 of a domain-separation label,
/// the key id's 16 bytes and the version (4 bytes, big-endian). It is derived from public
/// values only, never from the material, so it reveals nothing about the material, and it
/// needs nothing stored: every node, a restored backup and a later rotation compute the same
/// id for the same version.
pub fn key_material_id(key_id: KeyId, version: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(b"trent key material id\0");
    hash.update(key_id.as_bytes());
    hash.update(version.to_be_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Key material sealed under the cluster's domain key by the HSM. Opaque outside the HSM crate;
/// it is safe to replicate and store, and its `Debug` shows only its size.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedMaterial {
    /// The material version (1 for the material a key is created with; rotation adds more).
    pub version: u32,
    /// When this version was made current.
    pub created: Millis,
    pub blob: Vec<u8>,
}

impl fmt::Debug for WrappedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappedMaterial {{ version: {}, {} bytes }}",
            self.version,
            self.blob.len()
        )
    }
}

/// What KMS says about a key (the source of `DescribeKey`'s `KeyMetadata`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMetadata {
    pub key_id: KeyId,
    pub account: AccountId,
    pub region: String,
    pub creation_date: Millis,
    pub description: String,
    pub key_usage: KeyUsage,
    pub key_spec: KeySpec,
    pub origin: Origin,
    pub key_manager: KeyManager,
    pub key_state: KeyState,
    /// When a key in `PendingDeletion` will be deleted.
    pub deletion_date: Option<Millis>,
    pub pending_window_days: Option<u32>,
}

impl KeyMetadata {
    /// An enabled, customer-managed SYMMETRIC_DEFAULT encryption key made by trent.
    pub fn symmetric(
        key_id: KeyId,
        account: AccountId,
        region: impl Into<String>,
        creation_date: Millis,
        description: impl Into<String>,
    ) -> KeyMetadata {
        KeyMetadata {
            key_id,
            account,
            region: region.into(),
            creation_date,
            description: description.into(),
            key_usage: KeyUsage::EncryptDecrypt,
            key_spec: KeySpec::SymmetricDefault,
            origin: Origin::AwsKms,
            key_manager: KeyManager::Customer,
            key_state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
        }
    }

    pub fn arn(&self) -> Arn {
        Arn::kms(&self.region, &self.account, format!("key/{}", self.key_id))
    }
    pub fn enabled(&self) -> bool {
        self.key_state == KeyState::Enabled
    }

    /// `Ok` for an enabled key; AWS's error for a key in any other state (what an operation
    /// that uses the key, or changes its material, answers).
    pub fn require_enabled(&self) -> Result<(), Error> {
        match self.key_state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(Error::key_disabled(self.arn())),
            KeyState::PendingDeletion => Err(Error::key_state(self.arn(), "pending deletion")),
            KeyState::PendingImport => Err(Error::key_state(self.arn(), "pending import")),
            other => Err(Error::key_state(self.arn(), other)),
        }
    }
}

/// A key as the replicated state holds it: metadata, tags and its wrapped material versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub metadata: KeyMetadata,
    pub tags: Vec<Tag>,
    /// Material versions, oldest first; the last is current.
    pub material: Vec<WrappedMaterial>,
    /// The last successful cryptographic operation, as far as the leader has recorded it.
    pub last_usage: Option<KeyLastUsage>,
}

/// The last successful cryptographic use of a key (GetKeyLastUsage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLastUsage {
    /// The AWS operation name, e.g. `Encrypt`.
    pub operation: String,
    pub timestamp: Millis,
    /// The request id of that operation (`KmsRequestId`).
    pub request_id: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_accept_only_the_canonical_form() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(id.parse::<KeyId>().unwrap().to_string(), id);
        for bad in [
            "",
            "1234abcd12ab34cd56ef1234567890ab",
            "{1234abcd-12ab-34cd-56ef-1234567890ab}",
            "zzzzzzzz-12ab-34cd-56ef-1234567890ab",
        ] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_travel_as_aws_strings() {
        assert_eq!(
            serde_json::to_string(&KeyState::PendingDeletion).unwrap(),
            "\"PendingDeletion\""
        );
        assert_eq!(
            KeySpec::parse_field("SYMMETRIC_DEFAULT", "KeySpec").unwrap(),
            KeySpec::SymmetricDefault
        );
        let err = KeyUsage::parse_field("ENCRYPT", "KeyUsage").unwrap_err();
        assert!(
            err.message.contains("'KeyUsage'") && err.message.contains("ENCRYPT_DECRYPT"),
            "{}",
            err.message
        );
    }

    #[test]
    fn material_ids_are_64_hex_digits_per_key_and_version() {
        let a = KeyId("1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap());
        let b = KeyId("1234abcd-12ab-34cd-56ef-1234567890ac".parse().unwrap());
        let id = key_material_id(a, FIRST_MATERIAL_VERSION);
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
        // Stable across releases: clients may have stored it.
        assert_eq!(id, key_material_id(a, 1));
        assert_eq!(
            id,
            "65667d07a74cc0e8b5c162e1be03c0154a048319b50249f68b994f647459a58b"
        );
        assert_ne!(id, key_material_id(a, 2));
        assert_ne!(id, key_material_id(b, 1));
    }

    #[test]
    fn wrapped_material_debug_hides_bytes() {
        let w = WrappedMaterial {
            version: 1,
            created: 0,
            blob: vec![0xAB; 60],
        };
        let s = format!("{w:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab, "),
            "{s}"
        );
        assert!(s.contains("60 bytes"));
    }
}
