//! trent's domain types: identifiers, ARNs, key metadata, aliases, tags and the one error
//! enum every layer reports through.
//!
//! This crate does no I/O and holds no key material. Everything here is plain data that can be
//! replicated, stored and printed; the HSM crate is the only place plaintext keys exist.

mod arn;
mod ciphertext;
mod cluster;
mod error;
mod grant;
#[macro_use]
mod key;
mod alias;
mod import;
mod key_spec;
mod principal;
mod rotation;

pub use alias::{AliasName, AliasRecord};
pub use arn::{AccountId, Arn};
pub use ciphertext::{
    CiphertextBlob, EncryptionContext, Salt, BLOB_FORMAT, BLOB_FORMAT_1, CIPHERTEXT_SALT_LEN,
    MAX_CIPHERTEXT_BLOB, MAX_ENCRYPTION_CONTEXT,
};
pub use cluster::{ClusterStatus, MemberStatus, UNREACHABLE_AFTER_MS};
pub use error::{constraint_detail, Entry, Error, ErrorKind, Shown, CATALOG, NOT_NULL};
pub use grant::{
    grant_token, parse_grant_token, GrantConstraints, GrantOperation, GrantRecord,
    MAX_GRANTS_PER_KEY,
};
pub use import::{
    hmac_import_lengths, importable, ExpirationModel, ImportType, ImportedVersion, KeyImportRecord,
    PendingMaterial, UsedToken, WrappingAlgorithm, WrappingKeySpec, IMPORT_PARAMETERS_VALID_MS,
    MAX_VALID_TO_MS,
};
pub use key::{
    key_material_id, KeyId, KeyLastUsage, KeyManager, KeyMetadata, KeyRecord, KeySpec, KeyState,
    KeyUsage, Origin, Tag, WrappedMaterial, FIRST_MATERIAL_VERSION,
};
pub use key_spec::{
    DataKeyPairSpec, EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm,
    MacAlgorithm, MessageType, SigningAlgorithm, MAX_MESSAGE, MU_LEN,
};
pub use principal::{
    validate_access_key_id, AccessKeyRecord, Principal, UserName, UserRecord, ADMINISTRATOR_POLICY,
    ADMINISTRATOR_POLICY_NAME,
};
pub use rotation::{
    rotatable, rotates, IncludeKeyMaterial, KeyRotationRecord, Rotation, RotationType, Schedule,
    DAY_MS, DEFAULT_ROTATION_PERIOD_DAYS, ON_DEMAND_ROTATION_LIMIT,
};

/// Milliseconds since the Unix epoch. Stamped by the Raft leader into every command, so that
/// `apply()` never reads a clock.
pub type Millis = u64;
